"""Every lesson and every assignment solution runs top to bottom in smoke mode on a fresh kernel.

New notebooks join automatically. The kernels read the stand-in data of tests/fakedata.py.
"""
from __future__ import annotations

import re

import nbformat
import pytest

from course import notebooks
from course.paths import ROOT

LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = sorted(p for p in (ROOT / "solutions").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
ALL = notebooks.all_notebooks(ROOT)


@pytest.mark.notebook
@pytest.mark.xdist_group("smoke")   # on the worker that also runs tests/test_site.py (same smoke run)
@pytest.mark.parametrize("path", LESSONS + SOLUTIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_runs_in_smoke_mode(path, smoke_runs):
    """Each notebook's row of the one shared smoke run (``smoke_runs`` in conftest.py)."""
    result = smoke_runs["results"].get(path.name)
    assert result is not None, f"{path.name} is missing from the smoke run in {smoke_runs['folder']}"
    assert result["status"] == "ok", result["error"]


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_follows_conventions(path):
    assert notebooks.problems(path) == []


def test_there_are_lessons():
    assert LESSONS, "notebooks/ holds no lessons"


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_control_characters_in_cell_sources(path):
    """A Python string like "\\beta" written into a notebook becomes backspace + "eta"."""
    nb = nbformat.read(path, as_version=4)
    found = [f"cell {i}: {ch!r} in ...{cell.source[max(0, m.start() - 20):m.end() + 20]!r}..."
             for i, cell in enumerate(nb.cells)
             for m in [_CONTROL.search(cell.source)] if m for ch in [m.group()]]
    assert found == [], "control characters (only newline and tab are allowed):\n" + "\n".join(found)


_UNBACKED_CLAIM = re.compile(r"in our runs?|measured:", re.IGNORECASE)


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_numbers_from_past_runs_in_markdown(path):
    """Prose must not quote results of somebody's earlier run ("in our runs", "measured: ...");
    a number the reader should trust comes from a cell that computes it."""
    nb = nbformat.read(path, as_version=4)
    found = [f"cell {i}: ...{cell.source[max(0, m.start() - 40):m.end() + 40]!r}..."
             for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"
             for m in _UNBACKED_CLAIM.finditer(cell.source)]
    assert found == [], "claims that no cell computes:\n" + "\n".join(found)


def _lesson_text(number: str) -> str:
    path = next((ROOT / "notebooks").glob(f"{number}_*.ipynb"))
    return "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)


@pytest.mark.parametrize("lesson, snippet", [
    # PyTorch's 60-minute blitz, autograd part (lesson 04)
    ("04", "torch.ones(2, 2, requires_grad=True)"),
    ("04", "4.5"),
    ("04", ".data.norm() < 1000"),
    ("04", ".backward(v_double)"),
    ("04", ".requires_grad_(True)"),
    # Liu Er's y = x * w loop, the old idiom and the modern one, and his quadratic model
    ("04", ".grad.data.zero_()"),
    ("04", "w_liu -= 0.01 * w_liu.grad"),
    ("04", "l04.check_fit_quadratic(fit_quadratic)"),
    # CS231n's TensorFlow 1 gotchas (lesson 05)
    ("05", "Weights fed through placeholders are copied on every step"),
    ("05", "An update that is not fetched does not happen"),
    ("05", "tf.group"),
    # the blitz's "widen the network" exercise (lesson 12)
    ("12", "l12.check_wider_network(time_forward_backward, LeNet(), wide, device"),
])
def test_source_course_examples_are_in_the_lessons(lesson, snippet):
    """Examples of the source courses (issue 10) that had gone missing stay in."""
    assert snippet in _lesson_text(lesson)


def test_lesson_12_names_cross_correlation_right_and_times_the_chosen_device():
    """Deep learning's "convolution" is a cross-correlation; the convolution of mathematics
    flips the kernel. The GPU timing cell follows DEVICE instead of building cuda itself."""
    path = next((ROOT / "notebooks").glob("12_*.ipynb"))
    cells = nbformat.read(path, as_version=4).cells
    prose = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert "Mathematicians would flip the kernel and call this cross-correlation" not in prose
    assert "this formula is a **cross-correlation**" in prose and "flips the kernel first" in prose
    timing = next(c.source for c in cells if "def seconds_for_batches" in c.source)
    assert 'torch.device("cuda")' not in timing and "torch.cuda.is_available()" not in timing
    assert 'if device.type == "cpu":' in timing and "seconds_for_batches(LeNet(), device," in timing


def _lesson_cells(number: str):
    path = next((ROOT / "notebooks").glob(f"{number}_*.ipynb"))
    return nbformat.read(path, as_version=4).cells


LESSON_14_VARIANTS = ("plain, default init", "plain, He init", "plain, He init + BN", "residual, default init")
LESSON_14_METRICS = ("grad_ratio_plain", "grad_ratio_plain_he", "grad_ratio_plain_he_bn", "grad_ratio_residual",
                     "degrade_loss_shallow_plain", "degrade_loss_deep_plain", "degrade_loss_deep_residual")


def test_lesson_14_separates_initialisation_normalisation_and_degradation():
    """Issue "Lessons, second pass": the vanishing-gradient demo compares four nets of the same
    depth (default init, He init, He init + BN, residual), so that the plain net's vanishing
    gradient is not blamed on the missing shortcuts; a short training run shows the degradation
    problem (shallow plain + BN, deep plain + BN, deep residual + BN) and records the training
    losses; the checkpoint carries the lesson's new number."""
    cells = _lesson_cells("14")
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    variants = next(c.source for c in cells if "VARIANTS = {" in c.source)
    for name in LESSON_14_VARIANTS:
        assert f'"{name}"' in variants
    assert 'nn.init.kaiming_normal_(module.weight, nonlinearity="relu")' in code
    assert "he_init(PlainNet(depth, batchnorm=True))" in variants
    assert "plot.grad_norms(norms" in code and "for name, build in VARIANTS.items()" in code
    degrade = next(c.source for c in cells if "DEGRADE_NETS = {" in c.source)
    for net in ("he_init(PlainNet(SHALLOW_DEPTH, batchnorm=True))", "he_init(PlainNet(DEPTH, batchnorm=True))",
                "he_init(ResidualNet(DEPTH, batchnorm=True))"):
        assert net in degrade
    assert 'data.in_memory_loader("mnist", train=True' in degrade and "subset_size=DEGRADE_SIZE" in degrade
    assert "plot.curves(" in degrade and "deep_plain_loss > shallow_loss" in degrade
    parameters = next(c.source for c in cells if "parameters" in c.metadata.get("tags", []))
    assert "SHALLOW_DEPTH" in parameters and "DEGRADE_SIZE" in parameters
    smoke = next(c.source for c in cells if c.source.startswith("if SMOKE:"))
    assert "SHALLOW_DEPTH, DEGRADE_SIZE = " in smoke                      # tiny sizes in smoke mode
    record = next(c.source for c in cells if "course.record(" in c.source)
    for key in LESSON_14_METRICS:
        assert f'"{key}"' in record
    assert 'f"l14_resnet_w{WIDTH}' in code and "l13_" not in code
    assert "degradation problem" in cells[0].source.lower()


def test_lesson_16_has_the_blitz_dataparallel_demo():
    """The 60-minute blitz's DataParallel demo: a model that prints the size of the slice it
    sees, wrapped in nn.DataParallel only with 2+ GPUs, next to the DataParallel section."""
    cells = _lesson_cells("16")
    index = next(i for i, c in enumerate(cells) if '"\\tIn Model: input size"' in c.source)
    demo = cells[index].source
    assert '"Outside: input size"' in demo and '"output_size"' in demo
    assert "nn.DataParallel(blitz_model)" in demo and "num_gpus >= 2" in demo
    assert ".chunk(gpus)" in demo                                        # the sizes 2 GPUs would see
    nearby = "\n".join(c.source for c in cells[index - 3:index + 2])
    assert "nn.DataParallel(resnet9" in nearby and "DistributedDataParallel" in nearby


def check_lesson_14_16_smoke_outputs(results: dict, folder) -> None:
    """The executed smoke copies: lesson 14 recorded its gradient ratios and degradation losses
    (finite numbers), lesson 16 printed the blitz's lines and the 2-GPU slice sizes."""
    import math
    from pathlib import Path

    metrics = results["14_resnet.ipynb"]["metrics"]
    for key in LESSON_14_METRICS:
        assert isinstance(metrics.get(key), float) and math.isfinite(metrics[key]), (key, metrics)
    nb = nbformat.read(Path(folder) / "16_fast_training_multi_gpu.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "\tIn Model: input size torch.Size([30, 5]) output size torch.Size([30, 2])" in printed
    assert "Outside: input size torch.Size([10, 5]) output_size torch.Size([10, 2])" in printed
    assert "a batch of 30 -> In Model: input sizes [15, 15]" in printed      # (CPU: no DataParallel)


@pytest.mark.notebook
def test_lesson_14_and_16_demos_in_the_smoke_run(smoke_runs):
    check_lesson_14_16_smoke_outputs(smoke_runs["results"], smoke_runs["folder"])
