"""The course's helper package: one namespace of short helpers the lessons share.

Submodules (imported on first use, so ``import course`` stays fast):

===========  ==============================================================
``device``   pick the device from a toggle, describe it, time code honestly
``data``     datasets (MNIST, CIFAR-10, CSVs), cached downloads, in-memory batches
``plot``     live training curves, image grids, confusion matrices, surfaces
``train``    ``fit`` loop with progress bar, evaluation, checkpoints, seeds
``check``    instant feedback for exercises, numeric gradient checks
``grading``  the graded checks of assignments A1-A5 (built on ``check``)
``runner``   execute notebooks headless and tabulate their key metrics
``standin``  small stand-in datasets in the real formats (tests, offline smoke runs)
``exercises`` the checks behind each lesson's exercises (``exercises.lNN``)
``paths``    the repository root (``ROOT``, ``checkout()``) and its GitHub address
===========  ==============================================================

Typical lesson header::

    import course
    device = course.device.pick(DEVICE)
"""
from __future__ import annotations

import importlib

__version__ = "0.2.0"

_SUBMODULES = ("device", "data", "plot", "train", "check", "grading", "runner", "notebooks", "exercises",
               "standin", "paths")
__all__ = [*_SUBMODULES, "record", "__version__"]


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f"course.{name}")
        globals()[name] = module
        return module
    if name == "record":
        from course.runner import record

        return record
    raise AttributeError(f"module 'course' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
