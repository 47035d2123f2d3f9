"""A3's graded training run and A1's numpy-only rule, in-process (no nbgrader).

* **The graded run** (``course.grading.a3.mnist_training``): a fresh ``MnistMLP`` trained by the
  learner's ``train_mnist`` on the stand-in MNIST (``course.standin``: 600 training, 200 held-out
  images of learnable class patterns) and scored on the held-out images. Right code earns 6 of
  6; a function that trains on labels of its own (MNIST's real ones, not the grader's
  relabelling) earns nothing for accuracy; the CPU budget stops a long training, the wall-clock
  backstop one that waits.
* **Held-out labels stay out of the kernel**: the sandbox's data view leaves the held-out files
  out (``hidden_data`` in A3's ``assignment.json``); ``course.data.mnist_arrays`` reads one split
  without needing the other. A lookup-table forger scores when it can read the labels (here, in
  the student's own notebook) and 0 under the sandbox (``tests/test_grading_workflow.py``).
* **Another learner object as a probe input**: ``probes.serve`` puts the kernel's object of the
  name that ``learners`` gives in its place (the model class a training function trains).
* **PyTorch out of reach** (A1): ``probes.torch_out_of_reach`` blocks torch inside the learner's
  call and puts everything back afterwards.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from course import data, grading
from course.autograde import sandbox
from course.grading import probes, wire
from course.paths import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from gradingkit import LABEL_LOOKUP  # noqa: E402 - the forger that tests/test_grading_workflow.py grades sandboxed
from test_grading_checks import one_torch_thread  # noqa: E402,F401 - autouse fixture: one torch thread


class MnistMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                                 nn.Linear(128, 10))

    def forward(self, x):
        return self.net(x)


def train_mnist(model, train_set, num_epochs, device):
    loader = DataLoader(train_set, batch_size=128, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = []
    for _ in range(num_epochs):
        model.train()
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        history.append(loss.item())
    return history


def trains_on_real_labels(model, train_set, num_epochs, device):
    """Ignores the labels it was given and trains on MNIST's own (read from the data folder)."""
    X, _ = train_set.tensors
    _, y = data.mnist_arrays(train=True)
    return train_mnist(model, torch.utils.data.TensorDataset(X, y), num_epochs, device)


def test_right_code_gets_full_marks_in_both_runs(patched_checksums, capsys):
    assert grading.a3.mnist_training(MnistMLP, train_mnist) == 6.0
    assert grading.a3.mnist_training(MnistMLP, train_mnist, hidden=True) == 6.0
    out = capsys.readouterr().out
    assert "accuracy 100.00% on 200 held-out images" in out and "5.00 epochs of 600" in out


def test_labels_of_its_own_earn_no_accuracy_points(patched_checksums, capsys):
    """The grader relabels the classes: a model not trained on the labels it was given fails."""
    assert grading.a3.mnist_training(MnistMLP, trains_on_real_labels) == 1.0   # train_mode only
    assert "below 50%" in capsys.readouterr().out


def test_relabelling_has_no_fixed_point_and_depends_on_the_seed():
    perms = [grading.a3.relabelling(seed) for seed in range(20)]
    assert all(sorted(p) == list(range(10)) and (p != np.arange(10)).all() for p in perms)
    assert len({tuple(p) for p in perms}) == 20


def test_cpu_budget_stops_a_long_training(patched_checksums, monkeypatch, capsys):
    monkeypatch.setattr(grading.a3, "TRAINING_CPU_SECONDS", 1.0)

    def endless(model, train_set, num_epochs, device):
        while True:
            try:
                train_mnist(model, train_set, 1, device)
            except Exception:  # noqa: BLE001 - cannot swallow the budget
                pass

    assert grading.a3.mnist_training(MnistMLP, endless) == 1.0   # train_mode only
    out = capsys.readouterr().out
    assert "used more than 1 s of CPU time and was stopped" in out


def test_wall_clock_backstop_stops_code_that_waits(patched_checksums, monkeypatch, capsys):
    import time

    monkeypatch.setattr(grading.a3, "TRAINING_TIMEOUT", 1.0)
    assert grading.a3.mnist_training(MnistMLP, lambda *args: time.sleep(30)) == 0.0
    assert "took longer than 1 s" in capsys.readouterr().out


def test_lookup_forger_scores_where_the_labels_are_readable(patched_checksums):
    """The forger of the workflow test works when it can read the held-out labels (a student's
    own machine): so its 0 under the sandbox is the sandbox's doing."""
    namespace = {}
    exec(LABEL_LOOKUP, namespace)
    assert grading.a3.mnist_training(MnistMLP, namespace["train_mnist"]) == 5.0   # it never trains


def a3_hidden_data() -> list[str]:
    from course.autograde import staging

    return staging.assignment_spec(ROOT, "A3_data_classifiers")["hidden_data"]


def test_sandbox_view_leaves_the_held_out_split_out(fake_data, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(fake_data))
    env = sandbox._data_view(tmp_path / "view", a3_hidden_data())
    view = env["COURSE_DATA_DIR"]
    files = {p.name for p in (tmp_path / "view").rglob("*") if p.is_file()}
    assert {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"} <= files
    assert not any(name.startswith("t10k") for name in files), files
    X, y = data.mnist_arrays(train=True, root=view, download=False)
    assert X.shape == (600, 1, 28, 28) and X.dtype == torch.uint8 and y.shape == (600,)
    with pytest.raises(data.DataUnavailableError):
        data.mnist_arrays(train=False, root=view, download=False)
    assert sandbox.is_hidden("MNIST/raw/t10k-labels-idx1-ubyte.gz", a3_hidden_data())
    assert not sandbox.is_hidden("MNIST/raw/train-labels-idx1-ubyte.gz", a3_hidden_data())
    assert sandbox.is_hidden("cifar-10-batches-py/test_batch", ["/cifar-10-batches-py/test_batch"])
    full = sandbox._data_view(tmp_path / "all")          # an assignment without hidden data: everything
    assert {p.name for p in (tmp_path / "all").rglob("t10k-*")} == {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}
    assert full["COURSE_DATA_DIR"].startswith(str(tmp_path / "all"))


def test_mnist_arrays_reads_gzip_and_single_parts(fake_data, tmp_path):
    import gzip
    import shutil

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / f"{name}.gz").write_bytes(gzip.compress((fake_data / "MNIST" / "raw" / name).read_bytes()))
    X, y = data.mnist_arrays(train=False, root=tmp_path, download=False)
    X0, y0 = data.mnist_arrays(train=False, root=fake_data, download=False)
    assert torch.equal(X, X0) and torch.equal(y, y0) and X.shape == (200, 1, 28, 28)
    assert data.mnist_arrays(train=False, root=tmp_path, labels=False)[1] is None
    assert data.mnist_arrays(train=False, root=tmp_path, images=False)[0] is None
    shutil.copy(raw / "t10k-labels-idx1-ubyte.gz", raw / "t10k-images-idx3-ubyte.gz")  # wrong file
    with pytest.raises(data.DataUnavailableError, match="not an MNIST idx file"):
        data.mnist_arrays(train=False, root=tmp_path, download=False)


def test_serve_swaps_learner_references_for_the_kernels_objects(tmp_path):
    def double(fn, other, x):
        return fn(other(x))

    probes.PROBES.setdefault("_test_double", double)
    namespace = {"outer": lambda v: v * 2, "inner": lambda v: v + 1}
    request, response = tmp_path / "request.npz", tmp_path / "response.npz"
    for name, expected in (("inner", {"value": 8, "kind": "ok"}), ("missing", {"kind": "error"})):
        request.write_bytes(wire.pack({"probe": "_test_double", "target": "outer", "args": [None, 3],
                                       "learners": [[0, name]], "kwargs": {}, "timeout": 5.0}))
        probes.serve(namespace, str(request), str(response))
        answer = wire.unpack(response.read_bytes())
        assert {k: answer[k] for k in expected} == expected, answer
    assert "run the cell that defines missing" in answer["error"]
    del probes.PROBES["_test_double"]


def test_torch_out_of_reach_blocks_and_restores():
    namespace = {"torch": torch, "F": F, "np": np, "t": torch.ones(2)}

    def uses(name):
        return eval(f"lambda: {name}", namespace)

    for code in ("torch.ones(1)", "F.relu", "t.sum()", "__import__('torch').ones(1)"):
        fn = uses(code)
        with probes.torch_out_of_reach(fn):
            with pytest.raises(RuntimeError, match="out of reach"):
                fn()
    with probes.torch_out_of_reach(uses("np.ones(2)")):
        assert namespace["np"].ones(2).sum() == 2     # numpy is untouched
    assert namespace["torch"] is torch and namespace["F"] is F and sys.modules["torch"] is torch
    assert torch.equal(namespace["t"], torch.ones(2))


@pytest.mark.parametrize("assignment", ["A1_backprop", "A2_autograd_modules", "A3_data_classifiers"])
def test_header_table_and_written_answers(assignment):
    """The header table lists every graded cell's points in order, with a time, and the total;
    each assignment has two written answers with a model answer and a rubric in the source (and
    only "YOUR ANSWER HERE" in the release)."""
    import re

    import nbformat

    source = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    released = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in
                nbformat.read(ROOT / "assignments" / assignment / f"{assignment}.ipynb", as_version=4).cells}
    graded = [c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")]
    rows = re.findall(r"^\| (?!question|\*\*total)(.+?) \| (\d+) \| (\d+ min) \|$", source.cells[0].source, re.M)
    assert [float(points) for _, points, _ in rows] == [float(c.metadata.nbgrader["points"]) for c in graded]
    total = re.search(r"^\| \*\*total\*\* \| \*\*(\d+)\*\* \|", source.cells[0].source, re.M)
    assert total and int(total.group(1)) == sum(c.metadata.nbgrader["points"] for c in graded)
    written = [c for c in graded if c.cell_type == "markdown"]
    assert len(written) == 2 and all(c.metadata.nbgrader["solution"] for c in written)
    for cell in written:
        gid = cell.metadata.nbgrader["grade_id"]
        inside = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
        assert "**Model answer.**" in inside and "**Rubric (2 points).**" in inside, gid
        assert released[gid].source.strip() == "YOUR ANSWER HERE", gid
