"""Checks for lesson 11 (training deep nets well).

Exercises:
    1. ``kaiming_normal(fn)``: He (Kaiming) initialisation by hand: ``fn(fan_in, fan_out)`` -> a
       random (fan_out, fan_in) weight with mean 0 and variance 2 / fan_in, which keeps the
       activations of a deep ReLU stack at the same size layer after layer.
    2. ``early_stopping(cls)``: an ``EarlyStopping(patience)`` class whose ``step(val_loss)``
       says when to stop and remembers the best epoch (``best_epoch``, ``best_loss``).
    3. ``dropout(fn)``: inverted dropout ``fn(x, p, training)``: about a share p of zeros, the
       kept units scaled by 1 / (1 - p) so the mean stays, and ``x`` unchanged in eval mode.

PyTorch is the oracle where it has one: the variance an initialisation must give comes from
``torch.nn.init.calculate_gain("relu")`` (the rule ``nn.init.kaiming_normal_`` follows), and
dropout is held to the statistics of ``torch.nn.functional.dropout``. Early stopping has no
PyTorch counterpart: ``EarlyStopping`` below is the reference, and the lesson uses it until the
learner's class passes. Random draws run under a fixed seed inside ``torch.random.fork_rng``, so a
check gives the same verdict every time and leaves the learner's random state alone. Each check
prints one line (expected vs got on failure) and returns the points earned; it never raises.
"""
from __future__ import annotations

import math

import torch

from course import check

__all__ = ["kaiming_normal", "early_stopping", "dropout", "EarlyStopping"]


def _seeded(seed: int, fn, *args, **kwargs) -> check.Outcome:
    """``check.run_safely(fn, ...)`` under ``torch.manual_seed(seed)``; the global RNG is restored."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return check.run_safely(fn, *args, **kwargs)


def _tensor_problem(value, shape: tuple[int, ...], what: str) -> str | None:
    """Why ``value`` is not a finite floating-point tensor of ``shape`` (None when it is)."""
    if not isinstance(value, torch.Tensor):
        return f"{what} should return a float tensor of shape {shape}, got {check.describe(value)}"
    if tuple(value.shape) != shape:
        return f"{what}: expected shape {shape}, got {tuple(value.shape)}"
    if not value.is_floating_point():
        return f"{what}: expected a floating-point tensor, got {check.describe(value)}"
    if not torch.isfinite(value).all():
        return f"{what}: the result contains inf or nan"
    return None


# --------------------------------------------------------------------------------------------
# Exercise 1: He (Kaiming) initialisation
# --------------------------------------------------------------------------------------------
HE_SHAPES = [(784, 256), (256, 256), (64, 512), (1000, 100)]  # (fan_in, fan_out); (64, 512) catches fan_out
HE_RTOL = 0.1       # the sample variance of >= 32,768 draws is within about 1% of the truth
HE_DEPTH = 10       # layers of the ReLU stack in the last case
HE_WIDTH = 256


def _he_variance(fan_in: int) -> float:
    """The variance of He's initialisation, from PyTorch: gain("relu")^2 / fan_in = 2 / fan_in."""
    return torch.nn.init.calculate_gain("relu") ** 2 / fan_in


def _he_hint(got: float, fan_in: int, fan_out: int) -> str:
    """A guess at the mistake behind a wrong variance ``got``."""
    guesses = [(2 / fan_out, "2 / fan_out: use the number of inputs, fan_in"),
               (2 / (fan_in + fan_out), "2 / (fan_in + fan_out), Xavier's: ReLU needs twice the variance, 2 / fan_in"),
               (1 / fan_in, "1 / fan_in: ReLU zeroes half the units, so He doubles it to 2 / fan_in"),
               ((2 / fan_in) ** 2, "(2 / fan_in)^2: the standard deviation is the square root of the variance"),
               (math.sqrt(2 / fan_in), "sqrt(2 / fan_in): that is the standard deviation, the variance is its square")]
    for value, text in guesses:
        if abs(got - value) <= HE_RTOL * value and abs(value - 2 / fan_in) > 2 * HE_RTOL * (2 / fan_in):
            return f" (looks like {text})"
    return ""


def _he_case(fn, fan_in: int, fan_out: int, seed: int) -> str | None:
    out = _seeded(seed, fn, fan_in, fan_out)
    if out.error:
        return f"kaiming_normal({fan_in}, {fan_out}) {out.error}"
    w = out.value
    shape = (fan_out, fan_in)
    why = _tensor_problem(w, shape, f"kaiming_normal({fan_in}, {fan_out})")
    if why:
        if isinstance(w, torch.Tensor) and tuple(w.shape) == (fan_in, fan_out):
            why += " (nn.Linear stores its weight as (out_features, in_features))"
        return why
    w = w.detach().double()
    expected = _he_variance(fan_in)
    got = float(w.var())
    if not abs(got - expected) <= HE_RTOL * expected:
        return (f"kaiming_normal({fan_in}, {fan_out}): expected variance 2 / fan_in = {expected:.6g}, "
                f"got {got:.6g}{_he_hint(got, fan_in, fan_out)}")
    mean, limit = float(w.mean()), 6 * math.sqrt(expected / w.numel())
    if abs(mean) > limit:
        return (f"kaiming_normal({fan_in}, {fan_out}): expected mean 0 (within {limit:.2g}), "
                f"got {mean:.4g}")
    return None


def _he_random_case(fn) -> str | None:
    first, second = _seeded(1, fn, 256, 256), _seeded(2, fn, 256, 256)
    if first.error or second.error or not all(isinstance(o.value, torch.Tensor) for o in (first, second)):
        return "kaiming_normal(256, 256) did not return a tensor twice"
    if first.value.shape == second.value.shape and torch.equal(first.value, second.value):
        return ("kaiming_normal(256, 256) returned the same weights under two different seeds: "
                "draw them at random (torch.randn)")
    return None


def _he_depth_case(fn) -> str | None:
    """A HE_DEPTH-layer ReLU stack built from the learner's weights keeps E[h^2] near 1."""
    g = torch.Generator().manual_seed(7)
    h = torch.randn(512, 784, generator=g, dtype=torch.float64)    # (N, 784), E[x^2] = 1
    fan_in, sizes = 784, []
    for layer in range(1, HE_DEPTH + 1):
        out = _seeded(100 + layer, fn, fan_in, HE_WIDTH)
        if out.error or _tensor_problem(out.value, (HE_WIDTH, fan_in), "kaiming_normal"):
            return "the deep-stack case needs kaiming_normal to work first"
        h = torch.relu(h @ out.value.detach().double().T)        # (N, fan_in) -> (N, HE_WIDTH)
        sizes.append(float((h ** 2).mean()))
        fan_in = HE_WIDTH
    if not 0.5 <= sizes[-1] <= 2.0:
        trail = ", ".join(f"{s:.3g}" for s in sizes)
        return (f"in a {HE_DEPTH}-layer ReLU stack built with your weights, the mean square of the "
                f"activations should stay near 1 (the input's); layer by layer it was {trail}")
    return None


def kaiming_normal(fn) -> float:
    """Check ``fn(fan_in, fan_out)`` -> a random (fan_out, fan_in) weight for ``nn.Linear``.

    Each of the four shapes in ``HE_SHAPES`` must give a floating-point tensor of shape
    (fan_out, fan_in) with sample variance within 10% of ``calculate_gain("relu")**2 / fan_in``
    (= 2 / fan_in) and a mean near 0. Then: two seeds must give different weights, and a
    10-layer ReLU stack of width 256 built with ``fn`` must keep the mean square of its
    activations between 0.5 and 2 (it starts at 1). Points: the share of the 6 cases passed.
    """
    if not callable(fn):
        return check.report("kaiming_normal", 0, 1, 1.0, f"expected a function, got {check.describe(fn)}")
    problems = [_he_case(fn, fan_in, fan_out, seed) for seed, (fan_in, fan_out) in enumerate(HE_SHAPES)]
    problems += [_he_random_case(fn), _he_depth_case(fn)]
    failed = [p for p in problems if p]
    return check.report("kaiming_normal", len(problems) - len(failed), len(problems), 1.0,
                        failed[0] if failed else None)


# --------------------------------------------------------------------------------------------
# Exercise 2: early stopping
# --------------------------------------------------------------------------------------------
class EarlyStopping:
    """Early stopping on a validation loss (lower is better), the lesson's reference version.

    ``step(val_loss)`` records one epoch (epochs count from 1) and returns True once ``patience``
    epochs in a row have not beaten the best loss so far (a tie is no improvement): time to stop.
    ``best_epoch`` and ``best_loss`` say which epoch's weights to keep (0 and inf before any step).
    """

    def __init__(self, patience: int):
        if patience < 1:
            raise ValueError(f"patience must be at least 1, got {patience}")
        self.patience = patience
        self.best_loss = math.inf
        self.best_epoch = 0
        self.epoch = 0
        self.bad_epochs = 0          # epochs in a row without a new best

    def step(self, val_loss: float) -> bool:
        self.epoch += 1
        if val_loss < self.best_loss:
            self.best_loss, self.best_epoch, self.bad_epochs = float(val_loss), self.epoch, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience


ES_CASES = [  # (patience, validation losses, one per epoch)
    (2, [1.0, 0.8, 0.7, 0.75, 0.72, 0.9, 0.6]),            # stop after epoch 5; 0.6 comes too late
    (3, [1.0, 0.9, 0.95, 0.96, 0.85, 0.9, 0.91, 0.92, 0.5]),  # a new best resets the count
    (2, [0.5, 0.5, 0.5, 0.4]),                             # ties are no improvement
    (1, [0.9, 0.8, 0.85, 0.1]),                            # patience 1 stops at the first miss
    (3, [0.9, 0.8, 0.7, 0.6, 0.5]),                        # improves every epoch: never stops
]


def _run_stopper(make, patience: int, losses: list[float]):
    """Feed ``losses`` to ``make(patience)`` until ``step`` says stop.

    Returns ``(stop_epoch or None, stopper, error)``.
    """
    out = check.run_safely(make, patience)
    if out.error:
        return None, None, f"EarlyStopping({patience}) {out.error}"
    stopper = out.value
    if not callable(getattr(stopper, "step", None)):
        return None, None, f"EarlyStopping({patience}) has no step(val_loss) method"
    for epoch, loss in enumerate(losses, start=1):
        out = check.run_safely(stopper.step, loss)
        if out.error:
            return None, stopper, f"step({loss}) at epoch {epoch} {out.error}"
        try:
            stop = bool(out.value)
        except Exception as err:  # noqa: BLE001 - e.g. a tensor with several numbers
            return None, stopper, f"step should return True or False, got {check.describe(out.value)} ({err})"
        if stop:
            return epoch, stopper, None
    return None, stopper, None


def _es_case(cls, patience: int, losses: list[float]) -> str | None:
    expected_stop, reference, _ = _run_stopper(EarlyStopping, patience, losses)
    stop, stopper, error = _run_stopper(cls, patience, losses)
    seen = f"with patience {patience} and validation losses {losses}"
    if error:
        return f"{seen}: {error}"
    if stop != expected_stop:
        if expected_stop is None:
            return (f"{seen}, step returned True after epoch {stop}, but every epoch beat the "
                    f"best so far: it should never say stop")
        want = (f"expected True after epoch {expected_stop}, when {patience} epoch"
                f"{'s' if patience > 1 else ''} in a row had not beaten the best (a tie is no improvement)")
        if stop is None:
            return f"{seen}, step never returned True (it never stops); {want}"
        return f"{seen}, step returned True after epoch {stop}, too {'early' if stop < expected_stop else 'late'}; {want}"
    for name, atol, rtol in (("best_epoch", 0, 0), ("best_loss", 1e-12, 1e-9)):
        got, expected = getattr(stopper, name, None), getattr(reference, name)
        why = f"there is no {name} attribute" if got is None else check.compare(got, expected, atol, rtol)
        if why:
            hint = " (epochs count from 1)" if name == "best_epoch" and got == expected - 1 else ""
            return f"{seen}, {name} after the last step: {why}{hint}"
    return None


def early_stopping(cls) -> float:
    """Check an ``EarlyStopping`` class: ``cls(patience)``, ``.step(val_loss) -> bool``,
    ``.best_epoch`` (counted from 1) and ``.best_loss``.

    Each case of ``ES_CASES`` feeds validation losses one epoch at a time until ``step`` returns
    True, then compares the epoch it stopped at (or that it never stopped) and ``best_epoch`` /
    ``best_loss`` with the reference ``EarlyStopping``. Points: the share of cases passed.
    """
    if not callable(cls):
        return check.report("EarlyStopping", 0, 1, 1.0, f"expected a class, got {check.describe(cls)}")
    problems = [_es_case(cls, patience, losses) for patience, losses in ES_CASES]
    failed = [p for p in problems if p]
    return check.report("EarlyStopping", len(problems) - len(failed), len(problems), 1.0,
                        failed[0] if failed else None)


# --------------------------------------------------------------------------------------------
# Exercise 3: inverted dropout
# --------------------------------------------------------------------------------------------
DROPOUT_PS = (0.2, 0.5, 0.8)
ZERO_TOL = 0.01     # the share of zeros of 200,000 draws is within 0.002 of p (2 standard errors)
MEAN_RTOL = 0.03


def _dropout_input(seed: int = 3) -> torch.Tensor:
    """(400, 500) values in [0.5, 1.5): never 0, so every zero in the output was dropped."""
    return 0.5 + torch.rand(400, 500, generator=torch.Generator().manual_seed(seed))


def _dropout_call(fn, seed: int, x, p: float, training: bool):
    """``fn(x, p, training)`` under ``seed``: ``(its output, the call as text, a problem or None)``."""
    out = _seeded(seed, fn, x, p, training)
    call = f"dropout(x, p={p}, training={training})"
    if out.error:
        return out, call, f"{call} {out.error}"
    return out, call, _tensor_problem(out.value, tuple(x.shape), call)


def _dropout_train_case(fn, p: float, seed: int) -> str | None:
    x = _dropout_input()
    x_before = x.clone()
    out, call, why = _dropout_call(fn, seed, x, p, True)
    if why:
        return why
    if not torch.equal(x, x_before):
        return f"{call} changed x in place: return a new tensor"
    y = out.value.detach().double()
    xd = x.double()
    zeros = float((y == 0).double().mean())
    if abs(zeros - p) > ZERO_TOL:
        swapped = " (you kept a unit with probability p: p is the share to drop)" if abs(zeros - (1 - p)) <= ZERO_TOL else ""
        return f"{call}: expected a share of about {p} zeros, got {zeros:.4f}{swapped}"
    ratio = float(y.mean() / xd.mean())
    if abs(ratio - 1) > MEAN_RTOL:
        hint = (" (the kept units were not scaled: inverted dropout divides them by 1 - p)"
                if abs(ratio - (1 - p)) <= MEAN_RTOL else "")
        return (f"{call}: expected the mean to stay {float(xd.mean()):.4f} (as F.dropout keeps it), got "
                f"{float(y.mean()):.4f}, {ratio:.3f} times the input's{hint}")
    kept = y != 0
    why = check.compare(y[kept], xd[kept] / (1 - p), atol=1e-6, rtol=1e-5)
    if why:
        return f"{call}: every kept unit should be x / (1 - p): {why}"
    again = _seeded(seed + 100, fn, x, p, True)
    if isinstance(again.value, torch.Tensor) and again.value.shape == x.shape and \
            torch.equal(again.value == 0, y == 0):
        return (f"{call} dropped the same units under two different seeds: draw a new random "
                f"mask on every call (torch.rand_like)")
    return None


def _dropout_identity_problem(fn, seed: int, size: int, p: float, training: bool, why_same: str) -> str | None:
    """``fn(x, p, training)`` must return ``x`` itself (p = 0, or eval mode); ``why_same`` says why."""
    x = _dropout_input(size)
    out, call, why = _dropout_call(fn, seed, x, p, training)
    if why:
        return why
    why = check.compare(out.value.detach().double(), x.double(), atol=0 if not training else 1e-7,
                        rtol=0 if not training else 1e-6)
    return f"{call} must return x unchanged ({why_same}): {why}" if why else None


def _dropout_zero_p_problem(fn) -> str | None:
    return _dropout_identity_problem(fn, 21, 5, 0.0, True, "nothing is dropped")


def _dropout_eval_case(fn) -> str | None:
    return _dropout_identity_problem(fn, 20, 4, 0.5, False, "dropout is off in eval mode, as after model.eval()")


def dropout(fn) -> float:
    """Check inverted dropout ``fn(x, p, training)`` -> a tensor of ``x``'s shape.

    Statistics of ``torch.nn.functional.dropout``: on a (400, 500) input with entries in
    [0.5, 1.5), for p = 0.2, 0.5 and 0.8 in training mode the share of zeros must be within 0.01
    of p, the mean within 3% of the input's, every kept entry equal to x / (1 - p), ``x``
    untouched, and a call under another seed must drop other units; the p = 0.2 case also wants
    ``x`` back for p = 0. In eval mode (``training=False``) the output must equal ``x``.
    Points: the share of the 4 cases (3 in training mode, 1 in eval mode) passed.
    """
    if not callable(fn):
        return check.report("dropout", 0, 1, 1.0, f"expected a function, got {check.describe(fn)}")
    problems = [_dropout_train_case(fn, p, seed=10 + k) for k, p in enumerate(DROPOUT_PS)]
    problems[0] = problems[0] or _dropout_zero_p_problem(fn)       # p = 0 belongs with p = 0.2
    problems.append(_dropout_eval_case(fn))
    failed = [p for p in problems if p]
    return check.report("dropout", len(problems) - len(failed), len(problems), 1.0,
                        failed[0] if failed else None)
