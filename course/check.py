"""Instant feedback for exercises, and numeric gradient checks.

A check compares what a learner computed (a value, or a function run on inputs the check
generates) with a reference, prints one clean line and returns the points earned. It never
raises: a wrong answer, a crash, an endless loop or ``sys.exit`` in the learner's code all come
back as a message and 0 points, and warnings or stderr output of correct code cost nothing. That
is what lets the same checks grade assignments under nbgrader (``course.grading``), where a cell's
returned number is its partial credit and any stderr output would zero it.

Values are compared as plain numbers: a learner's result is converted to a float64 numpy array
(or refused) before comparison, so an object whose ``==`` always says True earns nothing.

Used by: the exercises of every lesson, and the assignments' test cells.
"""
from __future__ import annotations

import contextlib
import io
import math
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

PASS, FAIL = "\u2714", "\u2718"  # ✔ ✘


class CheckTimeout(Exception):
    """The learner's code ran longer than the check allows."""


class NotANumber(TypeError):
    """The learner's value cannot be read as numbers."""


# --------------------------------------------------------------------------------------------
# Turning values into plain numbers
# --------------------------------------------------------------------------------------------
def to_numbers(value: Any) -> np.ndarray:
    """``value`` as a float64 numpy array (0-d for scalars).

    Accepts torch tensors, numpy arrays and scalars, Python numbers and (nested) lists or
    tuples of them. Anything else raises ``NotANumber`` with a message that names the type.
    """
    module = type(value).__module__
    if module.startswith("torch") and hasattr(value, "detach"):
        value = value.detach().cpu()
        if value.is_complex():
            raise NotANumber("got a complex tensor; expected real numbers")
        return value.to(dtype=_torch_float64()).numpy().copy()
    if isinstance(value, np.ndarray):
        if value.dtype == object or not (np.issubdtype(value.dtype, np.number)
                                         or value.dtype == bool):
            raise NotANumber(f"got a numpy array of dtype {value.dtype}; expected numbers")
        if np.iscomplexobj(value):
            raise NotANumber("got a complex array; expected real numbers")
        return np.array(value, dtype=np.float64)  # a plain ndarray, never a subclass
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        return np.asarray(float(value), dtype=np.float64)
    if isinstance(value, (list, tuple)):
        if len(value) == 0:
            return np.zeros(0)
        parts = [to_numbers(v) for v in value]
        shapes = {p.shape for p in parts}
        if len(shapes) != 1:
            raise NotANumber(f"got a ragged {type(value).__name__} (element shapes {sorted(shapes)})")
        return np.stack(parts)
    raise NotANumber(f"got {describe(value)}; expected a number, array or tensor")


def _torch_float64():
    import torch

    return torch.float64


def describe(value: Any) -> str:
    """A short description: type, dtype and shape, e.g. ``float32 tensor of shape (3, 4)``."""
    if value is None:
        return "None"
    if type(value).__name__ == "Unreadable":  # course.grading.wire: what the grader could not read
        return str(value.what)
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    kind = {"Tensor": "tensor", "ndarray": "array"}.get(type(value).__name__, type(value).__name__)
    if shape is not None and dtype is not None:
        dtype = str(dtype).replace("torch.", "")
        return f"{dtype} {kind} of shape {tuple(shape)}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of length {len(value)}"
    if isinstance(value, (int, float, bool)):
        return f"{type(value).__name__} {value!r}"
    return f"an object of type {type(value).__name__}"


def compare(got: Any, expected: Any, atol: float = 1e-6, rtol: float = 1e-5) -> str | None:
    """``None`` when ``got`` matches ``expected`` within ``atol + rtol*|expected|``, else why not."""
    try:
        g = to_numbers(got)
    except NotANumber as err:
        return str(err)
    e = to_numbers(expected)
    if g.shape != e.shape:
        if g.size == e.size == 1:
            g = g.reshape(e.shape)
        else:
            return f"expected shape {e.shape}, got shape {g.shape} ({describe(got)})"
    if g.size == 0:
        return None
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(g - e)
        bad = ~(err <= atol + rtol * np.abs(e))  # NaN anywhere counts as wrong...
    bad &= ~(np.isnan(g) & np.isnan(e))          # ...unless both are NaN
    bad &= ~((g == e) & np.isinf(e))             # equal infinities are fine
    if not bad.any():
        return None
    err = np.nan_to_num(err, nan=np.inf, posinf=np.inf)
    idx = np.unravel_index(np.argmax(np.where(bad, err, -1)), bad.shape)
    where = f" at index {tuple(int(i) for i in idx)}" if g.ndim else ""
    count = f" ({int(bad.sum())} of {bad.size} entries differ)" if g.ndim else ""
    return (f"expected {_fmt(e[idx])}, got {_fmt(g[idx])}{where}; "
            f"largest error {_fmt(float(err.max()))}{count}")


def _fmt(x) -> str:
    x = float(x)
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))  # counts stay exact: 12443648, not 1.24436e+07
    return f"{x:.6g}"


def rel_error(a: Any, b: Any) -> float:
    """Largest relative error ``|a - b| / max(1e-8, |a| + |b|)`` (CS231n's definition)."""
    a, b = to_numbers(a), to_numbers(b)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


# --------------------------------------------------------------------------------------------
# Running learner code safely
# --------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What happened when learner code ran: its value, or the error, plus captured warnings.

    ``kind`` says how it ended, for code that acts on it (never parse ``error``'s text):
    ``"ok"``, ``"error"``, ``"not_implemented"``, ``"timeout"``, ``"exit"`` or ``"interrupted"``.
    """

    value: Any = None
    error: str | None = None
    kind: str = "ok"
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _alarm_ok() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def run_safely(fn: Callable, *args, timeout: float | None = 10.0, **kwargs) -> Outcome:
    """Call ``fn(*args, **kwargs)`` and never raise: errors, ``sys.exit``, warnings, stderr
    output and (on Unix, in the main thread) running past ``timeout`` seconds are captured."""
    out = Outcome()
    previous = None
    use_alarm = bool(timeout) and _alarm_ok()

    def on_alarm(signum, frame):
        raise CheckTimeout(f"took longer than {timeout:g} s (an endless loop?)")

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught, \
            contextlib.redirect_stderr(io.StringIO()) as stderr, \
            contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("always")
        try:
            if use_alarm:
                previous = signal.signal(signal.SIGALRM, on_alarm)
                signal.setitimer(signal.ITIMER_REAL, timeout)
            out.value = fn(*args, **kwargs)
        except CheckTimeout as err:
            out.error, out.kind = str(err), "timeout"
        except SystemExit as err:
            out.error, out.kind = f"called sys.exit({err.code!r}); a function should return its result", "exit"
        except KeyboardInterrupt:
            out.error, out.kind = "was interrupted", "interrupted"
        except NotImplementedError as err:
            out.error = f"raised NotImplementedError: {err}".rstrip(": ")
            out.kind = "not_implemented"
        except BaseException as err:  # noqa: BLE001 - the learner's error is the message
            out.error, out.kind = f"raised {type(err).__name__}: {err}".rstrip(": "), "error"
        finally:
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
    out.seconds = time.perf_counter() - start
    out.warnings = [f"{w.category.__name__}: {w.message}" for w in caught]
    if stderr.getvalue().strip():
        out.warnings.append("printed to stderr: " + stderr.getvalue().strip().splitlines()[-1])
    return out


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------
def report(name: str, passed: int, total: int, points: float, problem: str | None = None,
           notes: Sequence[str] = (), quiet: bool = False) -> float:
    """Print one result line (plus notes) and return the points earned: ``points*passed/total``."""
    earned = round(points * passed / total, 4) if total else 0.0
    if not quiet:
        mark = PASS if passed == total else FAIL
        score = f" [{earned:g}/{points:g} pts]" if points != 1 or passed != total else ""
        cases = f" {passed}/{total} cases" if total > 1 else ""
        line = f"{mark} {name}:{cases}{score}"
        line += " correct" if passed == total else f" {problem}"
        print(line)
        for note in dict.fromkeys(notes):
            print(f"  note: {note}")
    return earned


def value(name: str, got: Any, expected: Any, *, atol: float = 1e-6, rtol: float = 1e-5,
          points: float = 1.0, quiet: bool = False) -> float:
    """Check one value against the expected one; prints the result, returns the points earned.

    >>> check.value("slope w", w_best, 2.0, atol=0.05)
    ✔ slope w: correct
    """
    try:
        problem = compare(got, expected, atol, rtol)
    except Exception as err:  # noqa: BLE001 - e.g. a learner's object whose conversion raises
        problem = f"could not read your value ({type(err).__name__}: {err})"
    return report(name, problem is None, 1, points, problem, quiet=quiet)


def function(name: str, fn: Callable, reference: Callable, cases: Iterable[Sequence | dict], *,
             atol: float = 1e-6, rtol: float = 1e-5, points: float = 1.0,
             timeout: float | None = 10.0, quiet: bool = False) -> float:
    """Run the learner's ``fn`` and ``reference`` on each case and compare the results.

    Args:
        cases: argument tuples (or dicts of keyword arguments), typically generated by the
            caller from seeds and sizes. Each case gets fresh copies, so a function that
            changes its inputs in place cannot spoil the reference.
        points: the points for all cases together; partial credit is proportional.

    Returns the points earned. Prints one line; for the first failing case, what the inputs
    were, what was expected and what came out.
    """
    import copy

    if not callable(fn):
        return report(name, 0, 1, points, f"expected a function, got {describe(fn)}", quiet=quiet)
    cases = list(cases)
    passed, problem, notes = 0, None, []
    for i, case in enumerate(cases):
        args, kwargs = ((), dict(case)) if isinstance(case, dict) else (tuple(case), {})
        expected = reference(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        outcome = run_safely(fn, *copy.deepcopy(args), timeout=timeout, **copy.deepcopy(kwargs))
        notes += outcome.warnings
        why = outcome.error or _compare_structured(outcome.value, expected, atol, rtol)
        if why is None:
            passed += 1
        elif problem is None:
            inputs = ", ".join([describe(a) for a in args] +
                               [f"{k}={describe(v)}" for k, v in kwargs.items()])
            label = f"case {i + 1} ({inputs})" if len(cases) > 1 else f"on input ({inputs})"
            problem = f"{label}: {why}"
    if notes and passed == len(cases):
        notes = ["your code emitted warnings (they cost nothing): " + notes[0]]
    elif notes:
        notes = notes[:1]
    return report(name, passed, len(cases), points, problem, notes, quiet=quiet)


def _compare_structured(got, expected, atol, rtol) -> str | None:
    """Compare tuples element by element (e.g. the ``(dx, dw, db)`` of a backward pass)."""
    if isinstance(expected, tuple):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"expected a tuple of {len(expected)} results, got {describe(got)}"
        for k, (g, e) in enumerate(zip(got, expected)):
            why = compare(g, e, atol, rtol)
            if why:
                return f"result {k} ({_names_hint(k)}): {why}"
        return None
    return compare(got, expected, atol, rtol)


def _names_hint(k: int) -> str:
    return ["first", "second", "third", "fourth", "fifth"][k] if k < 5 else f"#{k}"


def condition(name: str, ok: bool, problem: str, points: float = 1.0, quiet: bool = False) -> float:
    """Report a yes/no check (e.g. "the loss fell"); ``problem`` is printed when ``ok`` is False."""
    return report(name, int(bool(ok)), 1, points, problem, quiet=quiet)


def total(*scores: float) -> float:
    """Add up the points of several checks (the value a graded test cell shows)."""
    return round(sum(scores), 4)


# --------------------------------------------------------------------------------------------
# Numeric gradients (lesson 03, assignment A1)
# --------------------------------------------------------------------------------------------
def numeric_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of the scalar function ``f`` at ``x`` (changed and restored in place).

    ``df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2h)``; use float64 and h around 1e-5.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = float(f(x))
        x[i] = old - h
        minus = float(f(x))
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def numeric_gradient_array(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray,
                           h: float = 1e-5) -> np.ndarray:
    """Numeric gradient of ``sum(f(x) * dout)`` for an array-valued ``f``: the backward of a layer."""
    return numeric_gradient(lambda z: float(np.sum(f(z) * dout)), x, h)


def gradient(name: str, analytic: Any, numeric: Any, tol: float = 1e-6, points: float = 1.0,
             quiet: bool = False) -> float:
    """Pass when the relative error between an analytic and a numeric gradient is below ``tol``."""
    try:
        a, n = to_numbers(analytic), to_numbers(numeric)
    except NotANumber as err:
        return report(name, 0, 1, points, str(err), quiet=quiet)
    if a.shape != n.shape:
        return report(name, 0, 1, points, f"gradient shape {a.shape} but expected {n.shape}",
                      quiet=quiet)
    err = rel_error(a, n)
    ok = err < tol and math.isfinite(err)
    if not quiet:
        print(f"{PASS if ok else FAIL} {name}: relative error {err:.2e} "
              f"({'below' if ok else 'above'} {tol:.0e})")
    return points if ok else 0.0
