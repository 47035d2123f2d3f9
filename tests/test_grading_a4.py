"""A4's graded training run: the weights file travels with the submission, and nothing else.

* **Staging** copies the files ``assignment.json`` declares (``a4_cifar_cnn.pt``) up to its size
  limit, never a symbolic link, and notes an oversized file.
* **nbgrader's own copying**: ``nbgrader submit``/``collect`` (the exchange's ``do_copy``) keep a
  student's weights file, while ``generate_assignment`` never releases the instructor's copy that
  running the solution leaves in the source folder (``CourseDirectory.ignore`` in
  ``nbgrader_config.py``).
* **The sandbox's view of the data** leaves out the held-out split's labels
  (``hidden_data``): a model that looks the labels up from disk gets nothing from it. The
  attack is graded through ``python -m course autograde`` with an honest student beside it.

The scores of the wrong submissions (untrained, weaker, missing, oversized weights; no projection
shortcut) are checked with the others in ``tests/test_grading_workflow.py``.
"""
from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import nbformat
import pytest

from course.autograde import sandbox, staging
from course.autograde.commands import config_of
from course.autograde.notes import grade_id
from course.autograde.report import scores
from course.paths import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import gradingkit  # noqa: E402

A4 = "A4_cnns"
WEIGHTS = "a4_cifar_cnn.pt"


def test_assignment_declares_the_weights_file_and_hides_the_test_labels():
    spec = staging.assignment_spec(ROOT, A4)
    assert staging.declared_files(ROOT, A4) == [WEIGHTS] == list(gradingkit.SUBMISSION_FILES[A4])
    assert staging.max_file_bytes(ROOT, A4) == 20 * 2**20
    assert "cifar-10-batches-py/test_batch" in spec["hidden_data"]
    from course.grading import a4

    assert a4.MAX_WEIGHTS_MB == spec["max_file_mb"]


def test_data_view_leaves_out_hidden_files(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "cifar-10-batches-py").mkdir(parents=True)
    for name in ("data_batch_1", "test_batch", "batches.meta"):
        (data / "cifar-10-batches-py" / name).write_bytes(b"x")
    monkeypatch.setenv("COURSE_DATA_DIR", str(data))
    for name in ("COURSE_DATA_CHECKSUMS", "COURSE_TEST_CHECKSUMS"):
        monkeypatch.delenv(name, raising=False)
    env = sandbox._data_view(tmp_path / "view", ["cifar-10-batches-py/test_batch"])
    view = Path(env["COURSE_DATA_DIR"])
    assert sorted(p.name for p in (view / "cifar-10-batches-py").iterdir()) == ["batches.meta", "data_batch_1"]
    env = sandbox._data_view(tmp_path / "view2")
    assert (Path(env["COURSE_DATA_DIR"]) / "cifar-10-batches-py" / "test_batch").exists()


def test_staging_copies_the_weights_file_within_its_limit_and_never_a_link(tmp_path):
    course = gradingkit.scratch_course(tmp_path / "course", [], ROOT, gradebook=False)
    (course / "solutions" / A4).mkdir(parents=True)
    (course / "solutions" / A4 / "assignment.json").write_text('{"files": ["a4_cifar_cnn.pt"], "max_file_mb": 1}')
    folders = {}
    for student in ("ok", "big", "link", "none"):
        folders[student] = course / "submitted" / student / A4
        folders[student].mkdir(parents=True)
        nbformat.write(nbformat.v4.new_notebook(), folders[student] / f"{A4}.ipynb")
        (folders[student] / "other.pt").write_bytes(b"not declared")
    (folders["ok"] / WEIGHTS).write_bytes(b"w" * 1000)
    (folders["big"] / WEIGHTS).write_bytes(b"w" * (2**20 + 1))
    (tmp_path / "secret.pt").write_bytes(b"the instructor's")
    (folders["link"] / WEIGHTS).symlink_to(tmp_path / "secret.pt")
    notes = staging.stage(A4, list(folders), course, tmp_path / "staged")
    staged = {s: sorted(p.name for p in (tmp_path / "staged" / s / A4).iterdir()) for s in folders}
    assert staged["ok"] == [f"{A4}.ipynb", WEIGHTS]
    assert staged["big"] == staged["link"] == staged["none"] == [f"{A4}.ipynb"]
    assert (tmp_path / "staged" / "ok" / A4 / WEIGHTS).read_bytes() == b"w" * 1000
    assert any("1.0 MiB" in n and "not graded" in n for n in notes["big"]), notes
    assert not any(n for n in notes["ok"] if "a4_cifar_cnn" in n)


def test_written_answers_get_their_rubric_for_the_grader_and_never_in_feedback():
    from course.autograde.preprocessors import RUBRIC_CELL, HideHiddenTests, ShowRubrics

    nb = gradingkit.answered(A4)
    resources = {"nbgrader": {"assignment": A4, "notebook": A4, "student": "s"}}
    show = ShowRubrics(source_directory=str(ROOT / "solutions"))
    for _ in range(2):   # graded twice (a regrade): still one rubric per answer
        nb, _ = show.preprocess(nb, resources)
    labels = [grade_id(c) or ("rubric" if c.metadata.get(RUBRIC_CELL) else None) for c in nb.cells]
    written = ["w1_one_by_one", "w2_residual", "w3_per_class"]
    assert labels.count("rubric") == len(written)
    for gid in written:
        rubric = nb.cells[labels.index(gid) + 1]
        assert rubric.metadata.get(RUBRIC_CELL) and "**Rubric (2 points).**" in rubric.source
        assert "nbgrader" not in rubric.metadata and "BEGIN SOLUTION" not in rubric.source
    feedback, _ = HideHiddenTests().preprocess(nb, {})
    assert not any(c.metadata.get(RUBRIC_CELL) for c in feedback.cells)
    assert not any("Rubric (2 points)" in c.source for c in feedback.cells if not grade_id(c))


@pytest.mark.slow
def test_nbgrader_collects_the_weights_file_but_never_releases_the_instructors(tmp_path):
    """The real code paths: ``generate_assignment`` (releasing; the same file listing feeds
    autograde's "overwrite with the source version") and the exchange's ``do_copy`` (what
    ``nbgrader submit`` and ``collect`` copy with)."""
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default.exchange import Exchange

    from course.autograde.commands import release

    course = gradingkit.scratch_course(tmp_path / "course", [A4], ROOT, gradebook=False)
    (course / "solutions" / A4 / WEIGHTS).write_bytes(b"the instructor's trained weights")
    (course / "solutions" / A4 / "notes.txt").write_text("an ordinary extra file")
    release([A4], course)
    released = sorted(p.name for p in (course / "assignments" / A4).iterdir())
    assert WEIGHTS not in released and "assignment.json" not in released
    assert "notes.txt" in released                      # other files are released as before

    config = config_of(course)
    student = tmp_path / "student" / A4
    student.mkdir(parents=True)
    (student / f"{A4}.ipynb").write_text("{}")
    (student / WEIGHTS).write_bytes(b"the student's weights")
    exchange = Exchange(coursedir=CourseDirectory(config=config), config=config)
    exchange.do_copy(str(student), str(tmp_path / "collected"))
    assert (tmp_path / "collected" / WEIGHTS).read_bytes() == b"the student's weights"


LOOKUP = '''
import os as _os
_root = _os.path.join(_os.environ.get("COURSE_DATA_DIR", ""), "cifar-10-batches-py")
print("ATTACK sees", {_n: _os.path.exists(_os.path.join(_root, _n)) for _n in ("data_batch_1", "test_batch")})


class CifarCNN(CifarCNN):
    """Looks the labels up in the CIFAR-10 test batch, if it can read it (nearest image)."""

    def forward(self, x):
        import os, pickle
        import numpy as np

        path = os.path.join(os.environ.get("COURSE_DATA_DIR", ""), "cifar-10-batches-py", "test_batch")
        try:
            with open(path, "rb") as f:
                batch = pickle.load(f, encoding="latin1")
        except OSError:
            return super().forward(x)
        mean = torch.tensor(course.data.CIFAR10_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(course.data.CIFAR10_STD).view(1, 3, 1, 1)
        images = torch.as_tensor(np.asarray(batch["data"], dtype=np.float32)).view(-1, 3, 32, 32)
        pixels = (x * std + mean) * 255
        nearest = torch.cdist(pixels.flatten(1), images.flatten(1)).argmin(dim=1)
        return torch.nn.functional.one_hot(torch.as_tensor(batch["labels"])[nearest], 10).float() * 10
'''


@pytest.mark.slow
def test_a_model_cannot_look_up_the_held_out_labels(tmp_path, kernel_env, monkeypatch):
    """An answer that reads the test labels from the data folder scores what its own (untrained)
    weights earn, 0; an honest student beside it gets full marks on Q3. Graded with ``python -m
    course autograde`` (nbgrader's real command line, in the sandbox)."""
    if sandbox.available() is not None:
        pytest.skip(f"no sandbox here: {sandbox.available()}")
    from course.data import CIFAR10_MEAN, CIFAR10_STD
    from course.grading import a4, probes

    course = gradingkit.scratch_course(tmp_path / "course", [A4], ROOT, gradebook=False)
    with mock.patch.dict(os.environ, kernel_env):
        good = gradingkit.answered(A4, course)
        cheat = copy.deepcopy(good)
        for cell in cheat.cells:
            if grade_id(cell) == "train_cifar":
                cell.source += "\n" + LOOKUP
        gradingkit.submit(A4, "honest", good, course)
        gradingkit.submit(A4, "lookup", cheat, course, files={WEIGHTS: "untrained"})
        # outside the sandbox the lookup works: the attack is real
        ns = gradingkit.solution_objects(A4, course)
        exec(LOOKUP, ns)
        (tmp_path / "probe").mkdir()
        (tmp_path / "probe" / WEIGHTS).write_bytes(gradingkit.weights_file("untrained", course))
        images, labels = a4.held_out(seed=3, per_class=5, jitter=1)
        with monkeypatch.context() as m:
            m.chdir(tmp_path / "probe")
            logits = probes.weights_logits(ns["CifarCNN"], (), WEIGHTS, 2**25, images, list(CIFAR10_MEAN),
                                           list(CIFAR10_STD))
        assert (logits.argmax(1) == labels).float().mean().item() == 1.0
    env = {**os.environ, **kernel_env}
    proc = subprocess.run([sys.executable, "-m", "course", "autograde", "--root", str(course), A4, "--jobs", "2",
                           "--timeout", "60"], env=env, capture_output=True, text=True, timeout=1500, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = scores(A4, course)
    q3 = table[table.question == "test_cifar_accuracy"]
    assert dict(zip(q3.student, q3.auto_score)) == {"honest": 6.0, "lookup": 0.0}, proc.stdout[-3000:]
    graded = nbformat.read(course / "autograded" / "lookup" / A4 / f"{A4}.ipynb", as_version=4)
    seen = [o.get("text", "") for c in graded.cells if grade_id(c) == "train_cifar" for o in c.get("outputs", [])]
    assert "ATTACK sees {'data_batch_1': True, 'test_batch': False}" in "".join(seen), seen   # the view, less the labels
