"""Graded checks for the assignments A1-A4: one function per nbgrader test cell.

Each assignment's test cell calls one check with the learner's object and shows the points it
returns as the cell's last expression, which nbgrader reads as partial credit::

    score = grading.a1.affine_backward(affine_backward, points=3)
    ### BEGIN HIDDEN TESTS
    score = grading.a1.affine_backward(affine_backward, points=3, hidden=True)
    ### END HIDDEN TESTS
    score

The visible call gives learners instant feedback while they work (in Colab too); the hidden call
(only in the instructor's copy) runs the visible cases plus hidden ones (other seeds and sizes).

How a check grades
------------------
* A question is split into named **parts** (``dx``, ``dw``, ``db`` ...), each worth a share of
  ``points``. A part earns its share when it is right in *every* case it was tested on.
* The learner's code runs through ``course.check.run_safely``: errors, ``sys.exit``, warnings,
  printing and endless loops (a time limit of ``TIMEOUT`` seconds per call; a function that timed
  out once is not run again) become a message and 0 points for the parts it affects.
* Results are compared as plain numbers: everything is converted to a float64 numpy array (or
  refused) before comparison, so an object whose ``==`` always says True earns nothing.
* References come from PyTorch (autograd, ``F.cross_entropy``, ``F.conv2d`` ...), not from
  hand-written solutions, so the package does not ship the answers.
* A check never raises and never writes to stderr (Python-level or C-level), because nbgrader
  gives 0 points to a test cell with an error or any stderr output. It prints a short report
  (one line per part) and returns a plain ``float``.
* Each check runs on small generated data, needs no download and takes well under a second.

Wrong submissions and the scores they must get
----------------------------------------------
The self-tests (``tests/test_grading_checks.py`` in-process, ``tests/test_grading_workflow.py``
through nbgrader's command line) build these by editing the solution notebooks;
``WRONG_SUBMISSIONS`` in ``tests/test_grading_checks.py`` holds the exact edits (answer cell,
old text, new text). Full marks: A1 20, A2 12, A3 14, A4 14. Questions not listed keep full marks.

===========================  ==================================================  =====================  =====
variant                      the edit (answer cell)                              questions hit          total
===========================  ==================================================  =====================  =====
A1 sign_error                ``relu``: ``dx = -dout * (x > 0)``                  relu 1/3,              16/20
                                                                                 two_layer_loss 3/5
A1 missing_bias_gradient     ``affine_backward``: ``db = np.zeros_like(b)``      affine_backward 2/3,   17/20
                                                                                 two_layer_loss 3/5
A1 wrong_reduction           ``softmax_loss``: the loss uses ``.sum()``,         softmax_loss 2/4,      17/20
                             not ``.mean()`` (the gradient is right)             two_layer_loss 4/5
A1 eq_trick                  ``numeric_gradient`` returns an object whose        numeric_gradient 0/3   17/20
                             ``__eq__`` always says True
A1 infinite_loop             ``numeric_gradient`` never calls                    numeric_gradient 0/3   17/20
                             ``it.iternext()``
A1 warnings                  ``affine_forward`` warns (User-, Deprecation-       none                   20/20
                             Warning) and writes to stderr (sys.stderr
                             and file descriptor 2); otherwise correct
A2 sign_error                ``silu``: backward returns ``-grad_output * ...``   silu 1/3               10/12
A2 inplace_breaks_autograd   ``gated_linear``: ``gate *= value`` changes         gated_linear 3/5       10/12
                             sigmoid's saved output; backward raises             (forward is right)
A2 inplace_leaf_update       ``fit``: ``p -= lr * p.grad`` on leaf               fit 0/4                8/12
                             parameters outside ``torch.no_grad()``
A2 warnings                  ``fit``: ``X = torch.tensor(X)`` each epoch         none                   12/12
                             (a UserWarning); otherwise correct
A3 missing_ages_not_filled   ``titanic_dataset``: no ``fillna(median)``          titanic_dataset 3/5    12/14
A3 softmax_in_forward        ``mnist_mlp`` returns probabilities                 mnist_mlp 2/3          13/14
A4 wrong_padding             ``inception_block``: the 5x5 conv has no            inception_block 2/5    11/14
                             ``padding=2`` (concatenation fails)
A4 missing_skip_connection   ``residual_block``: ``relu(out)``, no ``x +``       residual_block 2/5     11/14
===========================  ==================================================  =====================  =====

The released notebooks (stubs that raise ``NotImplementedError``) score 0 everywhere, with a
"not implemented yet" message and no error output.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import io
import os
import sys
import tempfile
import warnings
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from course import check

__all__ = ["a1", "a2", "a3", "a4", "Question", "graded", "plain", "TIMEOUT"]

#: Seconds one call of learner code may take before it counts as an endless loop. Correct
#: answers take milliseconds on the checks' small data; ``$COURSE_GRADING_TIMEOUT`` overrides it.
TIMEOUT = float(os.environ.get("COURSE_GRADING_TIMEOUT", "5"))

_TIMED_OUT: "weakref.WeakSet[Any]" = weakref.WeakSet()  # learner objects that timed out once


# --------------------------------------------------------------------------------------------
# Plain numbers
# --------------------------------------------------------------------------------------------
def plain(value: Any) -> np.ndarray:
    """``value`` as a plain float64 ``numpy.ndarray`` (never a subclass); raises ``NotANumber``.

    ``check.to_numbers`` does the reading; the extra copy into a base-class array means that an
    ndarray subclass with its own ``==`` or ``<=`` cannot take part in the comparison.
    """
    return np.array(check.to_numbers(value), dtype=np.float64, subok=False)



def loss_list(losses: Any, n: int) -> tuple[np.ndarray | None, str | None]:
    """Read a training question's returned losses: ``(values, None)`` for ``n`` numbers, else ``(None, why)``."""
    try:
        values = plain(losses)
    except Exception as err:  # noqa: BLE001 - the learner's return value is the message
        return None, f"expected a list of {n} numbers: {err}"
    if values.shape != (n,):
        return None, f"expected {n} losses, got an array of shape {values.shape}"
    return values, None

def compare(got: Any, expected: Any, atol: float = 1e-6, rtol: float = 1e-5) -> str | None:
    """``None`` when ``got`` equals ``expected`` as numbers (within tolerances), else why not."""
    try:
        g = plain(got)
    except check.NotANumber as err:
        return str(err)
    except Exception as err:  # noqa: BLE001 - a learner object whose conversion raises
        return f"could not read your value as numbers ({type(err).__name__}: {err})"
    why = check.compare(g, plain(expected), atol, rtol)
    if why and "expected shape" in why:  # name the learner's type, not the converted copy
        why = why.split(" (")[0] + f" ({check.describe(got)})"
    return why


def shape_of(value: Any) -> tuple[int, ...] | None:
    """The shape of a tensor or array as a tuple of Python ints, or ``None``."""
    try:
        return tuple(int(s) for s in value.shape)
    except Exception:  # noqa: BLE001
        return None


def shapes(**named: Any) -> str:
    """``"x (4, 5), w (5, 3), reg=0.1"``: what a case was made of, for messages."""
    parts = []
    for key, val in named.items():
        shp = shape_of(val)
        if shp is not None and not isinstance(val, (int, float)):
            parts.append(f"{key} {shp}")
        elif isinstance(val, (int, float, str)):
            parts.append(f"{key}={val!r}")
        else:
            parts.append(f"{key} {check.describe(val)}")
    return ", ".join(parts)


# --------------------------------------------------------------------------------------------
# Never raise, never write to stderr
# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _no_stderr() -> Iterator[io.StringIO]:
    """Send Python-level and C-level (file descriptor 2) stderr output to a buffer.

    Jupyter kernels forward what C code writes to fd 2 (e.g. a library's warning) into the
    notebook as stderr output, which would cost the whole test cell its points.
    """
    buffer = io.StringIO()
    saved = tmp = None
    try:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        try:
            saved = os.dup(2)
            tmp = tempfile.TemporaryFile(mode="w+b")
            os.dup2(tmp.fileno(), 2)
        except OSError:
            saved = None
        with contextlib.redirect_stderr(buffer):
            yield buffer
    finally:
        if saved is not None:
            with contextlib.suppress(OSError):
                os.dup2(saved, 2)
                os.close(saved)
        if tmp is not None:
            with contextlib.suppress(Exception):
                tmp.seek(0)
                buffer.write(tmp.read().decode("utf-8", "replace"))
                tmp.close()


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one thread: on tiny inputs that is as fast, and on a busy machine (a grading
    server running several kernels) thread contention can make a 0.1 s loop take seconds."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def graded(check_fn: Callable[..., float]) -> Callable[..., float]:
    """Decorator for a check: it returns a float, never raises and never writes to stderr.

    A failure inside the check itself (a bug, or a learner object that breaks it in an
    unforeseen way) prints a one-line message and scores 0. Torch runs on one thread meanwhile.
    """
    @functools.wraps(check_fn)
    def wrapper(*args, **kwargs) -> float:
        try:
            with _no_stderr(), warnings.catch_warnings(), _one_thread():
                warnings.simplefilter("ignore")
                score = check_fn(*args, **kwargs)
            return float(round(float(score), 4))
        except BaseException as err:  # noqa: BLE001 - the check must never raise
            name = check_fn.__name__
            print(f"{check.FAIL} {name}: the check could not finish ({type(err).__name__}: {err}); "
                  f"0 points. If your code looks right, tell your instructor.")
            return 0.0

    return wrapper


# --------------------------------------------------------------------------------------------
# A question made of parts
# --------------------------------------------------------------------------------------------
@dataclass
class _Part:
    name: str
    points: float
    passed: int = 0
    failed: int = 0
    problem: str | None = None


class Question:
    """Collects the results of one graded question, part by part, and reports them.

    Args:
        name: shown in the report, e.g. ``"affine_backward"``.
        parts: part name -> weight; ``points`` is split in proportion to the weights.
        points: the question's points (the nbgrader cell's points).
        hidden: also run the hidden cases.

    Usage::

        q = Question("affine_forward", {"out": 1}, points, hidden)
        for label, (seed, N) in q.cases(VISIBLE, HIDDEN):
            ok, out = q.call(fn, x, w, b, label=label)
            if ok:
                q.compare("out", out, expected, label)
        return q.result()
    """

    def __init__(self, name: str, parts: dict[str, float], points: float, hidden: bool = False):
        total = float(sum(parts.values()))
        self.name = name
        self.points = float(points)
        self.hidden = bool(hidden)
        self.parts = {p: _Part(p, self.points * w / total) for p, w in parts.items()}
        self.notes: list[str] = []
        self.counts = [0, 0]  # visible, hidden cases run
        self._timed_out: set[int] = set()

    # -- cases ---------------------------------------------------------------------------
    def cases(self, visible: Iterable, hidden: Iterable = ()) -> Iterator[tuple[str, Any]]:
        """Yield ``(label, case)``: the visible cases, then (with ``hidden=True``) the hidden ones."""
        for i, case in enumerate(visible, start=1):
            self.counts[0] += 1
            yield f"case {i}", case
        if self.hidden:
            for i, case in enumerate(hidden, start=1):
                self.counts[1] += 1
                yield f"hidden case {i}", case

    # -- running learner code --------------------------------------------------------------
    def call(self, fn: Callable, *args, label: str, parts: Iterable[str] | None = None,
             timeout: float | None = None, copy_args: bool = True, key: Any = None,
             **kwargs) -> tuple[bool, Any]:
        """Run learner code safely. On failure, the given parts (default: all) fail with the reason.

        Returns ``(True, value)`` or ``(False, None)``. Arguments are deep-copied first (unless
        ``copy_args=False``), so code that changes its inputs in place cannot spoil a reference.
        ``key`` is the learner's object the call stands for (default ``fn``; pass the class when
        ``fn`` is a lambda that builds an instance): once it timed out, it is not run again.
        """
        parts = list(parts) if parts is not None else list(self.parts)
        key = fn if key is None else key
        if not callable(fn):
            self.fail(parts, f"{label}: expected a function or class, got {check.describe(fn)}")
            return False, None
        if self._hung(key):
            self.fail(parts, f"{label}: not run, because this code ran into the time limit before "
                             f"(an endless loop?); fix it and re-run the cell that defines it")
            return False, None
        if copy_args:
            try:
                args, kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
            except Exception:  # noqa: BLE001 - e.g. a learner object that cannot be copied
                pass
        outcome = check.run_safely(fn, *args, timeout=timeout or TIMEOUT, **kwargs)
        self.notes += outcome.warnings
        if outcome.error is None:
            return True, outcome.value
        error = outcome.error
        if error.startswith("took longer"):
            self._timed_out.add(id(key))
            with contextlib.suppress(TypeError):
                _TIMED_OUT.add(key)
        elif error.startswith("raised NotImplementedError"):
            error = "is not implemented yet (it raises NotImplementedError)"
        error = error.split(" Hint: ")[0]  # PyTorch's long hints add nothing here
        if len(error) > 300:
            error = error[:297] + "..."
        self.fail(parts, f"{label}: your code {error}")
        return False, None

    def _hung(self, key: Any) -> bool:
        if id(key) in self._timed_out:
            return True
        try:
            return key in _TIMED_OUT
        except TypeError:
            return False

    # -- recording results --------------------------------------------------------------------
    def record(self, part: str, ok: bool, problem: str = "") -> bool:
        """Count one case of ``part`` as passed or failed (the first problem is kept)."""
        p = self.parts[part]
        if ok:
            p.passed += 1
        else:
            p.failed += 1
            if p.problem is None:
                p.problem = problem
        return bool(ok)

    def fail(self, parts: Iterable[str], problem: str) -> None:
        for part in parts:
            self.record(part, False, problem)

    def compare(self, part: str, got: Any, expected: Any, label: str, atol: float = 1e-6,
                rtol: float = 1e-5, what: str = "") -> bool:
        """Compare numbers; record the result for ``part``."""
        why = compare(got, expected, atol, rtol)
        prefix = f"{label}: {what + ': ' if what else ''}"
        return self.record(part, why is None, prefix + (why or ""))

    def unpack(self, value: Any, names: list[str], label: str) -> list[Any] | None:
        """Split a returned tuple like ``(dx, dw, db)``; on the wrong structure all parts fail."""
        if isinstance(value, (tuple, list)) and len(value) == len(names):
            return list(value)
        self.fail(self.parts, f"{label}: expected a tuple of {len(names)} results "
                              f"({', '.join(names)}), got {check.describe(value)}")
        return None

    # -- the report --------------------------------------------------------------------------
    def earned(self) -> float:
        return sum(p.points for p in self.parts.values() if p.failed == 0 and p.passed > 0)

    def result(self) -> float:
        """Print the report and return the points earned (a float, rounded to 4 decimals)."""
        earned = round(self.earned(), 4)
        visible, hidden = self.counts
        cases = f"{visible} case{'s' if visible != 1 else ''}"
        if self.hidden:
            cases = f"{visible} visible + {hidden} hidden cases"
        title = f"{self.name}{' (with hidden tests)' if self.hidden else ''}"
        print(f"{title}: {earned:g}/{self.points:g} points ({cases})")
        groups: dict[str | None, list[_Part]] = {}  # parts failing for the same reason: one line
        for p in self.parts.values():
            ok = p.failed == 0 and p.passed > 0
            groups.setdefault(None if ok else (p.problem or "not tested (an earlier step failed)"),
                              []).append(p)
        for problem, group in groups.items():
            names = ", ".join(p.name for p in group)
            pts = sum(p.points for p in group)
            label = "" if len(self.parts) == 1 else f" [{pts:g} pt{'s' if pts != 1 else ''}]"
            if problem is None:
                print(f"  {check.PASS} {names}{label}: correct")
            else:
                print(f"  {check.FAIL} {names}{label}: {problem}")
        if self.notes:
            note = self.notes[0]
            more = f" (and {len(self.notes) - 1} more)" if len(self.notes) > 1 else ""
            print(f"  note: your code emitted a warning or stderr output{more}; that costs nothing: {note}")
        return float(earned)


def _warm_up() -> None:
    """Pay PyTorch's one-time costs now (the first optimizer imports ``torch._dynamo``, seconds on
    a busy machine), so that they never count against the time limit of a learner's code."""
    import torch

    with _one_thread():
        p = torch.zeros(1, requires_grad=True)
        torch.optim.SGD([p], lr=0.1)
        (p * 2).sum().backward()


_warm_up()

from course.grading import a1, a2, a3, a4  # noqa: E402 - the checks, after the helpers they use
