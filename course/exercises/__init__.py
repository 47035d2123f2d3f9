"""The checks behind the lessons' exercises: one module per lesson (``course.exercises.l03``).

Each function takes what the learner wrote (a value or a function), compares it with a reference
(PyTorch serves as the oracle wherever it can) through ``course.check`` and prints one line of
feedback; it returns the points earned and never raises.
"""

import importlib as _importlib


def __getattr__(name: str):
    """``course.exercises.l03`` works after a plain ``import course``."""
    if len(name) == 3 and name[0] == "l" and name[1:].isdigit():
        module = _importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
