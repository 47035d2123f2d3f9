"""The machinery of a graded check: a question made of parts, learner code reached through
probes, plain-number comparisons. See ``course/grading/__init__.py`` for how checks grade."""
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
from course.grading import hidden as hidden_tests
from course.grading import wire
from course.grading.probes import PROBES

__all__ = ["Question", "graded", "plain", "compare", "loss_list", "shape_of", "shapes", "invoke", "TIMEOUT"]

#: Seconds one call of learner code may take before it counts as an endless loop. Correct
#: answers take milliseconds on the checks' small data; ``$COURSE_GRADING_TIMEOUT`` overrides it.
TIMEOUT = float(os.environ.get("COURSE_GRADING_TIMEOUT", "5"))

_TIMED_OUT: "weakref.WeakSet[Any]" = weakref.WeakSet()  # learner objects (here) that timed out once



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
        why = why.replace(f" ({check.describe(g)})", f" ({check.describe(got)})")
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
            if getattr(sys.modules.get(check_fn.__module__), "WARM_UP_TORCH", True):
                _warm_up()
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


@functools.lru_cache(maxsize=None)
def _warm_up() -> None:
    """Pay PyTorch's one-time costs before the first check (the first optimizer imports
    ``torch._dynamo``, seconds on a busy machine), so that they never count against the time
    limit of a learner's code. A checks module that never builds an optimizer, nor lets the
    learner's code use PyTorch, says ``WARM_UP_TORCH = False`` (A1) and skips it."""
    import torch

    with _one_thread():
        p = torch.zeros(1, requires_grad=True)
        torch.optim.SGD([p], lr=0.1)
        (p * 2).sum().backward()


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
        self.missing: list[str] = []  # why hidden tests could not run
        self._timed_out: set = set()

    # -- cases ---------------------------------------------------------------------------
    def cases(self, visible: Iterable, hidden: str | None = None) -> Iterator[tuple[str, Any]]:
        """Yield ``(label, case)``: the visible cases, then (with ``hidden=True``) the hidden ones,
        ``hidden`` naming them in the instructor's hidden tests (e.g. ``"a1.AFFINE"``)."""
        for i, case in enumerate(visible, start=1):
            self.counts[0] += 1
            yield f"case {i}", case
        if self.hidden and hidden:
            for i, case in enumerate(self.hidden_value(hidden) or (), start=1):
                self.counts[1] += 1
                yield f"hidden case {i}", case

    def hidden_value(self, name: str) -> Any:
        """A hidden case list or reference (``"a2.reference_fit"``), or None, with a note, when
        the hidden tests are not here or this is not a hidden run."""
        if not self.hidden:
            return None
        try:
            return hidden_tests.value(name)
        except hidden_tests.HiddenTestsMissing as err:
            if str(err) not in self.missing:
                self.missing.append(str(err))
            return None

    # -- running learner code --------------------------------------------------------------
    def run(self, probe: str, target: Any, *args, label: str, parts: Iterable[str] | None = None,
            timeout: float | None = None, **kwargs) -> tuple[bool, Any]:
        """Run the probe ``probe`` on the learner's object ``target`` with these inputs.

        Returns ``(True, plain data)`` or ``(False, None)``; on failure the given parts (default:
        all) fail with the reason. A learner object that ran into the time limit once is not run
        again in this question.
        """
        parts = list(parts) if parts is not None else list(self.parts)
        key = _key(target)
        if key in self._timed_out or _timed_out_before(target):
            self.fail(parts, f"{label}: not run, because this code ran into the time limit before "
                             f"(an endless loop?); fix it and re-run the cell that defines it")
            return False, None
        outcome = invoke(target, probe, args, kwargs, timeout or TIMEOUT)
        self.notes += outcome.warnings
        if outcome.kind == "ok":
            return True, outcome.value
        if outcome.kind == "timeout":
            self._timed_out.add(key)
            with contextlib.suppress(TypeError):
                if getattr(type(target), "__course_key__", None) is None:
                    _TIMED_OUT.add(target)
        error = outcome.error or "failed"
        if outcome.kind == "not_implemented":
            error = "is not implemented yet (it raises NotImplementedError)"
        error = error.split(" Hint: ")[0]  # PyTorch's long hints add nothing here
        if len(error) > 300:
            error = error[:297] + "..."
        self.fail(parts, f"{label}: your code {error}")
        return False, None

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

    def trajectory(self, losses: Any, n: int, start: float, expected: Any, label: str) -> None:
        """Parts ``returns`` (``n`` numbers) and ``trajectory`` of a training question: equal to
        ``expected`` (the hidden reference loop's losses) when given, else the first loss is the
        model's starting loss ``start`` and the last is lower."""
        values, problem = loss_list(losses, n)
        if not self.record("returns", problem is None, f"{label}: {problem}"):
            self.fail(["trajectory"], f"{label}: {problem}")
        elif expected is not None:
            self.compare("trajectory", values, expected, label, 1e-5, 1e-3, "losses")
        elif self.compare("trajectory", values[0], start, label, 1e-5, 1e-4,
                          "the first loss (the model's loss before any update)"):
            self.record("trajectory", values[-1] < values[0],
                        f"{label}: the losses did not fall ({values[0]:.4g} -> {values[-1]:.4g})")

    def unpack(self, value: Any, names: list[str], label: str) -> list[Any] | None:
        """Split a returned tuple like ``(dx, dw, db)``; on the wrong structure all parts fail."""
        if isinstance(value, (tuple, list)) and len(value) == len(names):
            return list(value)
        self.fail(self.parts, f"{label}: expected a tuple of {len(names)} results "
                              f"({', '.join(names)}), got {check.describe(value)}")
        return None

    def loss_and_grads(self, value: Any, keys: tuple[str, ...], label: str,
                       part_of: dict[str, str] | None = None) -> dict[str, Any] | None:
        """Split a returned ``(loss, grads)`` into ``{"loss": loss, key: grads[key], ...}``; a key
        missing from ``grads`` fails its part (``part_of[key]``, else the key) and is left out."""
        got = self.unpack(value, ["loss", "grads"], label)
        if got is None:
            return None
        answers, grads = {"loss": got[0]}, got[1]
        for k in keys:
            try:
                answers[k] = grads[k]
            except Exception:  # noqa: BLE001 - not a dict, or the key is missing
                names = sorted(map(str, grads)) if isinstance(grads, dict) else "?"
                self.record((part_of or {}).get(k, k), False, f"{label}: grads[{k!r}] is missing (grads "
                                                              f"is a {type(grads).__name__} with keys {names})")
        return answers

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
        for why in self.missing:
            print(f"  note: hidden tests not run: {why}")
        if self.notes:
            note = self.notes[0]
            more = f" (and {len(self.notes) - 1} more)" if len(self.notes) > 1 else ""
            print(f"  note: your code emitted a warning or stderr output{more}; that costs nothing: {note}")
        return float(earned)




# --------------------------------------------------------------------------------------------
# Reaching learner code: in this process, or through the trusted grader's proxy
# --------------------------------------------------------------------------------------------
def _timed_out_before(target: Any) -> bool:
    try:
        return target in _TIMED_OUT
    except TypeError:
        return False


def _key(target: Any) -> Any:
    remote = getattr(type(target), "__course_key__", None)
    return target.__course_key__() if remote else id(target)


def invoke(target: Any, probe: str, args: tuple, kwargs: dict, timeout: float) -> check.Outcome:
    """Run ``probes.PROBES[probe](target, *args, **kwargs)`` and return its ``check.Outcome``,
    whose value is plain data (``wire``).

    ``target`` is the learner's object itself (the student's notebook: the probe runs here,
    under ``check.run_safely``, and its value makes the same round trip through ``wire`` that
    the grader's data makes), or a proxy of the trusted grader (``course.autograde.remote``)
    that runs the probe in the student's kernel.
    """
    if getattr(type(target), "__course_invoke__", None) is not None:
        return target.__course_invoke__(probe, args, kwargs, timeout)
    try:
        args, kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
    except Exception:  # noqa: BLE001 - inputs are the check's own; this should not happen
        pass
    outcome = check.run_safely(PROBES[probe], target, *args, timeout=timeout, **kwargs)
    if outcome.kind == "ok":
        try:
            outcome.value = wire.roundtrip(outcome.value)
        except Exception as err:  # noqa: BLE001
            outcome.value = wire.Unreadable(f"a value that could not be read ({type(err).__name__})")
    return outcome
