"""The hidden tests: more cases and the reference implementations, kept by the instructor.

They are not part of this package (students install it). They live beside the assignments'
source, in ``hidden_tests/aN.py`` of the course folder, and only the hidden-test lines of a test
cell ask for them (``hidden=True``). The trusted grader points here with ``use(folder)``; an
instructor running a source notebook from ``solutions/<A>/`` is found by looking upward from the
current folder; ``$COURSE_HIDDEN_TESTS`` names the folder explicitly.

Used by: ``course.grading.core.Question.cases`` and the checks' hidden references.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any

ENV = "COURSE_HIDDEN_TESTS"
FOLDER = "hidden_tests"
_folder: Path | None = None
_loaded: dict[str, ModuleType] = {}


class HiddenTestsMissing(LookupError):
    """The hidden tests are not on this machine (they are the instructor's)."""


def use(folder: str | os.PathLike | None) -> None:
    """Take the hidden tests from ``folder`` from now on (``None``: search again)."""
    global _folder
    _folder = Path(folder) if folder else None
    _loaded.clear()


def folder() -> Path:
    """Where the hidden tests are; raises ``HiddenTestsMissing`` with what to do."""
    if _folder is not None:
        return _folder
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    here = Path.cwd().resolve()
    for candidate in [here, *here.parents][:4]:
        if (candidate / FOLDER).is_dir():
            return candidate / FOLDER
    raise HiddenTestsMissing("the hidden tests run only when your instructor grades the assignment "
                             f"(they are not installed with the course package); set ${ENV} to "
                             f"the course's {FOLDER}/ folder to run them yourself")


def module(assignment: str) -> ModuleType:
    """The hidden tests of ``assignment`` (``"a1"``): ``<folder>/a1.py``, loaded once."""
    if assignment not in _loaded:
        path = folder() / f"{assignment}.py"
        if not path.exists():
            raise HiddenTestsMissing(f"no hidden tests at {path}")
        spec = importlib.util.spec_from_file_location(f"course_hidden_tests_{assignment}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _loaded[assignment] = mod
    return _loaded[assignment]


def value(name: str) -> Any:
    """``value("a1.AFFINE")``: the object ``AFFINE`` of the hidden tests of A1."""
    assignment, attr = name.split(".", 1)
    return getattr(module(assignment), attr)
