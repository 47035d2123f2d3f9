"""Reading a test cell: which check it calls, on which of the learner's objects.

The trusted grader never runs a test cell in the student's kernel. It reads the cell's source
(nbgrader has already put back the course's own version, hidden lines included) and finds the
check calls, e.g.::

    score = grading.a1.affine_backward(affine_backward, points=3)
    ### BEGIN HIDDEN TESTS
    score = grading.a1.affine_backward(affine_backward, points=3, hidden=True)
    ### END HIDDEN TESTS
    score

The last call wins (the hidden one, when present). Its positional arguments must be names (the
learner's objects) or constants, its keywords constants.

Used by: ``course.autograde.execute``.
"""
from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class CheckCall:
    """``grading.<module>.<name>(*args, **kwargs)``: ``args`` are ``("name", str)`` (a learner's
    object) or ``("value", constant)``."""

    module: str
    name: str
    args: list[tuple[str, Any]] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)

    def check(self) -> Callable[..., float]:
        """The check function itself, from the trusted ``course.grading`` package."""
        module = importlib.import_module(f"course.grading.{self.module}")
        if self.name not in getattr(module, "__all__", ()):
            raise ValueError(f"grading.{self.module} has no check named {self.name!r}")
        return getattr(module, self.name)


def _chain(node: ast.AST) -> list[str]:
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        names.append(node.id)
    return names[::-1]


def parse(source: str) -> CheckCall:
    """The last check call in ``source``; raises ``ValueError`` saying why there is none."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ValueError(f"the test cell does not parse ({err.msg})") from None
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            chain = _chain(node.func)
            if len(chain) >= 3 and chain[-3] == "grading" and chain[-2][:1] == "a" and chain[-2][1:].isdigit():
                calls.append(node)
    if not calls:
        raise ValueError("the test cell calls no check of course.grading")
    node = max(calls, key=lambda n: (n.lineno, n.col_offset))
    chain = _chain(node.func)
    call = CheckCall(chain[-2], chain[-1])
    for arg in node.args:
        if isinstance(arg, ast.Name):
            call.args.append(("name", arg.id))
        elif isinstance(arg, ast.Constant):
            call.args.append(("value", arg.value))
        else:
            raise ValueError(f"unexpected argument {ast.unparse(arg)!r} in the check call")
    for kw in node.keywords:
        if kw.arg is None or not isinstance(kw.value, ast.Constant):
            raise ValueError("the check call's keywords must be constants")
        call.kwargs[kw.arg] = kw.value.value
    return call
