"""Probes: the small harnesses that run learner code on a check's inputs and return plain data.

A check never touches a learner's object itself. It names a probe and passes inputs; the probe
runs beside the learner's code (in the student's own kernel) and returns plain data (arrays,
numbers, state dicts), which ``course.grading.wire`` carries back. The check then computes what
the answer should be with its own operations. So the same check works in the student's notebook
(instant feedback: ``course.grading.reach`` calls the probe in-process) and under the
autograder, where the trusted grader asks the kernel to run the probe (``serve``) and nothing
the kernel does can change how the returned data is scored.

A probe gets one learner object first (the "target"); a probe that needs a second one (a layer's
forward pass and its backward pass, which share a cache that never leaves the learner's kernel)
gets it among its inputs: the check passes the learner's object there too, and under the
autograder ``serve`` looks it up in the kernel by name (``course.autograde.remote``).

Nothing here is secret: the probes only build inputs and models that the check documents.

Used by: ``course.grading.a1`` ... ``a6`` (A4's graded training run: ``weights_info``,
``weights_logits``); ``course.autograde.remote`` (through ``serve``).
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import time
import types
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

PROBES: dict[str, Callable] = {}



def probe(fn: Callable) -> Callable:
    """Register ``fn`` as a probe: ``fn(learner_object, *inputs) -> plain data``."""
    PROBES[fn.__name__] = fn
    return fn


def _torch():
    import torch

    return torch


# --------------------------------------------------------------------------------------------
# Functions
# --------------------------------------------------------------------------------------------
@probe
def call(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``."""
    return fn(*args, **kwargs)


@probe
def numpy_call(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with PyTorch out of reach (``torch_out_of_reach``): for the
    numpy-only assignment A1, whose point is writing the gradients by hand."""
    with torch_out_of_reach(fn):
        return fn(*args, **kwargs)


_NO_TORCH = "used {} while PyTorch is out of reach: this assignment is numpy only"


class _OutOfReach:
    """What a name bound to a PyTorch object becomes while ``torch_out_of_reach`` is on."""

    def __init__(self, name: str):
        object.__setattr__(self, "_name", name)

    def __getattr__(self, attr: str):
        if attr.startswith("__") and attr.endswith("__"):  # what the import system asks for
            raise AttributeError(attr)
        raise RuntimeError(_NO_TORCH.format(f"{object.__getattribute__(self, '_name')}.{attr}"))

    def __call__(self, *args, **kwargs):
        raise RuntimeError(_NO_TORCH.format(f"{object.__getattribute__(self, '_name')}(...)"))


def _is_torch(value: Any) -> bool:
    """True for the torch package, its modules, functions and classes, and tensors (or any
    other instance of a torch class)."""
    try:
        if isinstance(value, types.ModuleType):
            return value.__name__.split(".")[0] == "torch"
        owners = [type(value).__module__]
        if isinstance(value, type) or callable(value):
            owners.append(getattr(value, "__module__", None))
        return any(isinstance(o, str) and o.split(".")[0] == "torch" for o in owners)
    except Exception:  # noqa: BLE001 - an object that cannot say where it comes from
        return False


@contextlib.contextmanager
def torch_out_of_reach(fn: Any) -> Iterator[None]:
    """While the block runs, PyTorch is out of reach: ``import torch`` (or of any ``torch.*``
    module) gives a stand-in, and so does every name of ``fn``'s global namespace (the
    notebook's, for a function defined in a notebook: helpers defined there share it) that is
    bound to a PyTorch object; using a stand-in raises ``RuntimeError("used torch.xyz while
    PyTorch is out of reach: ...")``. Everything is put back afterwards, also after an error or
    the time limit."""
    names = {"torch", *(n for n in list(sys.modules) if n.startswith("torch."))}
    saved_modules = {n: sys.modules[n] for n in names if n in sys.modules}
    namespace = getattr(fn, "__globals__", None)
    namespace = namespace if isinstance(namespace, dict) else {}
    saved_names = {k: v for k, v in list(namespace.items()) if _is_torch(v)}
    try:
        for name in names:
            sys.modules[name] = _OutOfReach(name)  # type: ignore[assignment] - what "import torch" gets
        for key in saved_names:
            namespace[key] = _OutOfReach(key)
        yield
    finally:
        for name in names - set(saved_modules):
            sys.modules.pop(name, None)  # torch was not imported before: it is not now
        sys.modules.update(saved_modules)
        for key, value in saved_names.items():
            if isinstance(namespace.get(key), _OutOfReach):
                namespace[key] = value


def scalar_function(c: np.ndarray, d: np.ndarray) -> Callable[[np.ndarray], float]:
    """``f(x) = sum(sin(x) * c) + 0.5 * sum(x * x * d) + tanh(sum(x))``: smooth, any shape."""
    def f(x) -> float:
        x = np.asarray(x, dtype=np.float64)
        return float(np.sum(np.sin(x) * c) + 0.5 * np.sum(x * x * d) + np.tanh(np.sum(x)))

    return f


@probe
def call_with_args(fn, *args):
    """``fn(*args)``: ``{"value": its return value, "args": the arguments as they are afterwards}``,
    so that a check sees what ``fn`` changed in place (e.g. the running statistics a layer
    writes into its parameter dict)."""
    value = fn(*args)
    return {"value": value, "args": list(args)}


def scalar_gradient(c: np.ndarray, d: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The gradient of ``scalar_function(c, d)``: ``c cos(x) + d x + 1 - tanh(sum(x))**2``."""
    def grad(x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return c * np.cos(x) + d * x + (1.0 - np.tanh(np.sum(x)) ** 2)

    return grad


@probe
def optimizer_steps(fn, c, d, w, config, steps):
    """``steps`` updates ``w, config = fn(w, dw, config)`` on ``scalar_function(c, d)``, ``dw``
    its gradient at the current ``w`` (an optimizer in the style of CS231n's ``optim.py``).

    Returns ``{"ws": array (steps + 1, *w.shape) of w before the first update, after the first,
    ..., "config": the config after the last update}``.
    """
    grad = scalar_gradient(np.asarray(c, dtype=np.float64), np.asarray(d, dtype=np.float64))
    w = np.array(w, dtype=np.float64)
    ws = [w.copy()]
    for step in range(1, int(steps) + 1):
        result = fn(w, grad(w), config)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise TypeError(f"expected (next_w, config) to be returned, got {type(result).__name__}")
        w, config = result
        w = np.array(w, dtype=np.float64, copy=True)
        if w.shape != ws[0].shape:
            raise ValueError(f"next_w has shape {w.shape} after step {step}; expected {ws[0].shape}, "
                             f"the shape of w")
        ws.append(w)
    return {"ws": np.stack(ws), "config": config}


@probe
def numeric_gradient(fn, c, d, x, h, numpy_only=False):
    """``fn(f, x, h)`` for ``f = scalar_function(c, d)``: the gradient and ``x`` afterwards
    (with ``numpy_only``, PyTorch is out of reach meanwhile, as in ``numpy_call``)."""
    x = np.array(x, dtype=np.float64)
    with torch_out_of_reach(fn) if numpy_only else contextlib.nullcontext():
        grad = fn(scalar_function(c, d), x, h)
    return grad, x


# --------------------------------------------------------------------------------------------
# Layers written CS231n-style: ``out, cache = forward(...)``; ``grads = backward(dout, cache)``
# --------------------------------------------------------------------------------------------
def _forward(forward, args):
    """``forward(*args)``, which must return ``(out, cache)``."""
    result = forward(*args)
    if not isinstance(result, tuple) or len(result) != 2:
        from course.check import describe

        raise TypeError(f"the forward pass must return a tuple (out, cache), got {describe(result)}")
    return result


@probe
def layer_pass(forward, backward, args, dout=None):
    """``out, cache = forward(*args)``, then with ``dout``: ``grads = backward(dout, cache)``.

    The cache stays here, beside the learner's code (it need not be plain data). Returns
    ``{"out"}``, ``{"out", "grads"}``, or ``{"out", "backward_error"}`` when only the backward
    pass fails (the forward pass keeps its points). ``backward`` is a second learner object.
    """
    from course.check import CheckTimeout

    out, cache = _forward(forward, args)
    if dout is None:
        return {"out": out}
    try:
        grads = backward(dout, cache)
    except CheckTimeout:
        raise
    except NotImplementedError:
        return {"out": out, "backward_error": "is not implemented yet (it raises NotImplementedError)"}
    except Exception as err:  # noqa: BLE001 - the forward pass keeps its points
        return {"out": out, "backward_error": f"raised {type(err).__name__}: {err}"[:300]}
    return {"out": out, "grads": grads}


@probe
def layer_pass_timed(forward, backward, seed, shapes, params, dout_shape, repeats):
    """Run a layer pair on ``repeats`` random cases made here; return a digest of each result.

    For the grader to time it from outside: the round trip is then nearly all computation, and
    nothing large crosses the line. With ``rng = np.random.default_rng(seed)`` and
    ``u(shape) = rng.uniform(-1, 1, shape)``, each case is: ``arrays = [u(s) for s in shapes]``;
    ``out, cache = forward(*arrays, *params)``; ``grads = backward(u(dout_shape), cache)`` (a
    tuple, or one array); then for ``out`` and each gradient ``g`` in turn: ``[shape of g,
    sum(g * weights)]``, where the weights for the k-th result are ``u(g.shape)``, drawn when
    the k-th result first has that shape (so: right after the first case). Returns one such list
    per case (``[]`` for 0 repeats: the round trip of an empty call).
    """
    rng = np.random.default_rng(seed)
    weights: dict = {}
    digests = []
    for _ in range(int(repeats)):
        arrays = [rng.uniform(-1.0, 1.0, tuple(s)) for s in shapes]
        out, cache = _forward(forward, [*arrays, *params])
        grads = backward(rng.uniform(-1.0, 1.0, tuple(dout_shape)), cache)
        row = []
        for k, value in enumerate([out, *grads] if isinstance(grads, (tuple, list)) else [out, grads]):
            value = np.asarray(value, dtype=np.float64)
            key = (k, value.shape)
            if key not in weights:
                weights[key] = rng.uniform(-1.0, 1.0, value.shape)
            row.append([list(value.shape), float(np.sum(value * weights[key]))])
        digests.append(row)
    return digests


# --------------------------------------------------------------------------------------------
# autograd Functions and modules
# --------------------------------------------------------------------------------------------
def _is_function_class(cls) -> bool:
    return isinstance(cls, type) and issubclass(cls, _torch().autograd.Function)


@probe
def function_forward(cls, x):
    """``cls.apply(x)`` for a ``torch.autograd.Function`` subclass."""
    if not _is_function_class(cls):
        raise TypeError("expected a subclass of torch.autograd.Function")
    return cls.apply(x.clone())


@probe
def function_backward(cls, x, g):
    """The gradient of ``sum(cls.apply(x) * g)`` with respect to ``x``."""
    torch = _torch()
    if not _is_function_class(cls):
        raise TypeError("expected a subclass of torch.autograd.Function")
    x = x.detach().clone().requires_grad_(True)
    y = cls.apply(x)
    if not isinstance(y, torch.Tensor):
        raise TypeError("forward did not return a tensor")
    if y.grad_fn is None:
        raise RuntimeError("the output has no grad_fn: apply the Function with .apply(x)")
    (y * g).sum().backward()
    return x.grad


def build(cls, args: tuple, seed: int):
    """``cls(*args)`` with torch seeded by ``seed`` (the caller's random state is kept)."""
    torch = _torch()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(*args)


_LAYER_FIELDS = ("in_features", "out_features", "in_channels", "out_channels", "kernel_size",
                 "stride", "padding", "dilation", "groups", "p", "num_features", "eps", "momentum")


def _layers(model) -> dict:
    out = {}
    for name, module in model.named_modules():
        info = {"type": type(module).__name__}
        for field in _LAYER_FIELDS:
            value = getattr(module, field, None)
            if isinstance(value, (int, float, tuple)) and not isinstance(value, bool):
                info[field] = list(value) if isinstance(value, tuple) else value
        if hasattr(module, "bias") and type(module).__name__ in ("Linear", "Conv2d", "Conv1d"):
            info["bias"] = module.bias is not None
        out[name or "."] = info
    return out


@probe
def module_parameters(cls, args, seed):
    """Build ``cls(*args)``: its parameters (name -> tensor) and layers (name -> type, sizes)."""
    torch = _torch()
    model = build(cls, tuple(args), seed)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{getattr(cls, '__name__', 'it')}(...) is not an nn.Module")
    return {"params": {n: p.detach().clone() for n, p in model.named_parameters()},
            "buffers": {n: b.detach().clone() for n, b in model.named_buffers()},
            "layers": _layers(model)}


@probe
def module_run(cls, args, seed, x, g=None, state=None, train=None):
    """Build ``cls(*args)``, load ``state`` (parameter or buffer name -> tensor, e.g. a
    BatchNorm's ``running_mean``; every name must exist), set train/eval mode when ``train`` is given, run ``out = model(x)`` and, with ``g``, backpropagate
    ``sum(out * g)``. Returns ``{"out", "x_grad", "grads": {name: grad or None}}``, or
    ``{"out", "backward_error"}`` when only the backward pass fails."""
    torch = _torch()
    model = build(cls, tuple(args), seed)
    if state is not None:
        own = {**dict(model.named_buffers()), **dict(model.named_parameters())}
        with torch.no_grad():
            for name, value in state.items():
                own[name].copy_(value)
    if train is not None:
        model.train(bool(train))
    x = x.detach().clone().requires_grad_(g is not None)
    model.zero_grad(set_to_none=True)
    out = model(x)
    result = {"out": out.detach() if isinstance(out, torch.Tensor) else out}
    if g is not None and isinstance(out, torch.Tensor):
        try:
            (out * g).sum().backward()
        except Exception as err:  # noqa: BLE001 - the forward pass keeps its points
            result["backward_error"] = f"raised {type(err).__name__}: {err}".split(" Hint: ")[0][:300]
            return result
        result["x_grad"] = x.grad
        result["grads"] = {n: p.grad for n, p in model.named_parameters()}
    return result


# --------------------------------------------------------------------------------------------
# Training: models the checks define, trained by the learner's function
# --------------------------------------------------------------------------------------------
def architecture(name: str, *args):
    """The small models the training checks hand to learner code (public, documented there)."""
    nn = _torch().nn
    if name == "linear":              # (D,): nn.Linear(D, 1)
        return nn.Linear(args[0], 1)
    if name == "small_cnn":           # (N, 1, 12, 12) -> 3 classes
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    if name == "small_cnn_dropout":   # the same with dropout: train() vs eval() matters
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Dropout(0.5), nn.Linear(4 * 6 * 6, 3))
    if name == "proba":               # dropout: only eval() gives deterministic probabilities
        return nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(784, 10))
    raise ValueError(f"unknown architecture {name!r}")


def make_model(arch: tuple, state: dict | None = None, train: bool = True):
    """``architecture(*arch)`` with ``state`` loaded, in train or eval mode (the caller's random
    state is left as it was)."""
    torch = _torch()
    with torch.random.fork_rng(devices=[]):
        model = architecture(*arch)
    if state is not None:
        model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
    return model.train(train)


def initial_state(arch: tuple, seed: int) -> dict:
    """The state ``architecture(*arch)`` gets from PyTorch's default initialisation under
    ``seed`` (the caller's random state is left as it was)."""
    torch = _torch()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _state(architecture(*arch))


def _state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@probe
def train_function(fn, arch, state, *args, train=True):
    """``fn(model, *args)`` on ``make_model(arch, state, train)``: its value and the final state."""
    model = make_model(tuple(arch), state, train)
    value = fn(model, *args)
    return {"value": value, "state": _state(model)}


@probe
def predict_function(fn, arch, state, X):
    """``fn(model, X)`` on a model handed over in training mode; also records, for each forward
    call, whether the model was in training mode and autograd was on."""
    torch = _torch()
    model = make_model(tuple(arch), state, train=True)
    calls = []
    model.register_forward_pre_hook(lambda m, inp: calls.append([bool(m.training), torch.is_grad_enabled()]))
    value = fn(model, X)
    return {"value": value, "calls": calls}


# --------------------------------------------------------------------------------------------
# Graded training runs: the learner's training function trains the learner's model
# --------------------------------------------------------------------------------------------
def mnist_normalise(X):
    """uint8 MNIST images -> float32, standardised with MNIST's mean and std (lesson 10)."""
    from course.data import MNIST_MEAN, MNIST_STD

    return (X.float() / 255 - MNIST_MEAN[0]) / MNIST_STD[0]


class OverBudget(BaseException):
    """Raised in learner code when it runs past a CPU budget (a ``BaseException``, so that an
    ``except Exception`` in the learner's loop does not swallow it)."""


@contextlib.contextmanager
def cpu_budget(seconds: float | None) -> Iterator[None]:
    """Raise ``OverBudget`` in the block once this process has used ``seconds`` of CPU time
    (user + system, all threads: ``ITIMER_PROF``), where a timer can be set (Unix, main thread).
    Elsewhere nothing interrupts the block; the caller compares the CPU time afterwards."""
    import signal
    import threading

    usable = bool(seconds) and hasattr(signal, "ITIMER_PROF") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_prof(signum, frame):
        raise OverBudget(f"used more than {seconds:g} s of CPU time")

    previous = signal.signal(signal.SIGPROF, on_prof)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


@probe
def fit_and_predict(fn, cls, seed, labels, num_epochs, images, cpu_seconds=None, chunk=1000):
    """A graded training run on MNIST (A3): train a fresh model with the learner's function, then
    predict images the check holds.

    1. ``model = cls()``, torch seeded with ``seed``, handed over in eval mode;
    2. ``fn(model, train_set, num_epochs, "cpu")``, where ``train_set`` is a ``TensorDataset`` of
       the MNIST training images, read here from the course's data (``course.data.mnist_arrays``:
       the grading kernel's data view holds the training split only) and normalised (float32
       (N, 1, 28, 28)), with the check's ``labels`` (int64 (N,)), and torch on one thread. With
       ``cpu_seconds``, the call is stopped once it has used that much CPU time (``cpu_budget``);
    3. unless it was over the budget, ``model.eval()`` and, without autograd, the predicted class
       (the argmax of the logits) of each of ``images`` (uint8 (M, 1, 28, 28), normalised the
       same way), in chunks.

    Returns ``{"predictions": int64 (M,) (empty when over the budget), "over_cpu", "train_calls",
    "eval_calls", "samples", "seconds", "cpu_seconds"}``: whether ``fn`` used more than
    ``cpu_seconds``, the forward calls with autograd on in training mode and in eval mode, the
    images they saw, and the wall and CPU seconds ``fn`` took. The caller's random state is
    left as it was.
    """
    torch = _torch()
    from course import data

    X, _ = data.mnist_arrays(train=True, labels=False, download=False)
    labels = torch.as_tensor(labels, dtype=torch.int64)
    if labels.shape != (len(X),):
        raise ValueError(f"expected {len(X)} labels, got a tensor of shape {tuple(labels.shape)}")
    train_set = torch.utils.data.TensorDataset(mnist_normalise(X), labels)
    seen = {"train_calls": 0, "eval_calls": 0, "samples": 0}

    def record(module, inputs):
        if torch.is_grad_enabled():
            seen["train_calls" if module.training else "eval_calls"] += 1
            first = inputs[0] if isinstance(inputs, tuple) and inputs else None
            seen["samples"] += int(first.shape[0]) if isinstance(first, torch.Tensor) and first.dim() else 0

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the budget is stated for one thread, whatever the machine gives the kernel
    with torch.random.fork_rng(devices=[]), contextlib.ExitStack() as stack:
        stack.callback(torch.set_num_threads, threads)
        torch.manual_seed(seed)
        model = cls()
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"{getattr(cls, '__name__', 'it')}() is not an nn.Module")
        model.eval()
        handle = model.register_forward_pre_hook(record)
        start, cpu = time.perf_counter(), time.process_time()
        over = False
        try:
            with cpu_budget(cpu_seconds):
                fn(model, train_set, num_epochs, "cpu")
        except OverBudget:
            over = True
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        over = over or bool(cpu_seconds and cpu > cpu_seconds)
        handle.remove()
    predictions = []
    if not over:
        model.eval()
        with torch.no_grad():
            for i in range(0, len(images), chunk):
                xb = mnist_normalise(torch.as_tensor(images[i:i + chunk]))
                out = model(xb)
                if not isinstance(out, torch.Tensor) or tuple(out.shape) != (len(xb), 10):
                    raise ValueError(f"the trained model's output for images of shape {tuple(xb.shape)} "
                                     f"should be logits of shape ({len(xb)}, 10), got "
                                     f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}")
                predictions.append(out.argmax(dim=1))
    return {"predictions": torch.cat(predictions) if predictions else torch.zeros(0, dtype=torch.int64),
            "over_cpu": over, **seen, "seconds": seconds, "cpu_seconds": cpu}


# --------------------------------------------------------------------------------------------
# Submitted weights: a state-dict file loaded into the learner's own module
# --------------------------------------------------------------------------------------------
class WeightsProblem(ValueError):
    """What is wrong with a weights file (not with the learner's code): the message says it."""


def load_weights(cls, args, path, max_bytes):
    """``cls(*args)`` in eval mode with the state dict of the file ``path`` loaded (strictly).

    ``path`` is a bare file name in the working folder (the notebook's folder; under the
    autograder the kernel's scratch folder, where the grader put the submitted file). The file
    is read with ``torch.load(..., weights_only=True)``, which refuses anything but tensors and
    plain containers, so loading it cannot run code. Raises ``WeightsProblem`` saying what is
    wrong with the file (missing, larger than ``max_bytes``, unreadable, not a state dict, names
    or shapes that do not fit the module); errors of the learner's class propagate.
    """
    torch = _torch()
    if not isinstance(path, str) or not path or os.path.basename(path) != path or path.startswith("."):
        raise WeightsProblem(f"expected the bare name of a file next to the notebook, got {path!r}")
    model = build(cls, tuple(args), 0)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{getattr(cls, '__name__', 'it')}(...) is not an nn.Module")
    if not os.path.isfile(path):
        raise WeightsProblem(f"found no weights file {path} next to the notebook: save it with "
                             f"torch.save(model.state_dict(), {path!r}) and hand it in with the notebook")
    size = os.path.getsize(path)
    if size > max_bytes:
        raise WeightsProblem(f"the weights file {path} is {size / 2**20:.1f} MiB, more than the "
                             f"{max_bytes / 2**20:g} MiB allowed")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - a corrupt file, or one that holds objects
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
        if "Weights only load failed" in text or "Unsupported global" in text:
            found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
            why = (f"it holds pickled Python objects{' (' + found.group(1) + ')' if found else ''}, which "
                   f"weights_only loading refuses: did you save the whole model?")
        else:
            why = (text.strip().split(". ")[0][:160] or type(err).__name__) + ": not a complete file written by torch.save"
        raise WeightsProblem(f"the weights file {path} could not be read with torch.load(weights_only=True): "
                             f"{why}; save model.state_dict() with torch.save") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsProblem(f"the weights file {path} holds {type(state).__name__}, not a state dict of "
                             f"tensors: save model.state_dict()")
    try:
        model.load_state_dict(state)   # strict: every name and shape must fit the module
    except RuntimeError as err:
        why = " ".join(str(err).split())[:300]
        raise WeightsProblem(f"the weights in {path} do not fit {getattr(cls, '__name__', 'the model')}(): "
                             f"{why}") from None
    return model.eval()


@probe
def weights_info(cls, args, path, max_bytes):
    """Load the weights file into ``cls(*args)`` (``load_weights``): ``{"bytes", "parameters"}``,
    or ``{"problem": why}`` when the file is missing or does not fit (the learner's class
    raising is an error of the probe, as usual)."""
    try:
        model = load_weights(cls, args, path, max_bytes)
    except WeightsProblem as err:
        return {"problem": str(err)}
    return {"bytes": os.path.getsize(path), "parameters": sum(int(p.numel()) for p in model.parameters())}


@probe
def weights_logits(cls, args, path, max_bytes, images, mean, std, batch_size=250):
    """The logits of ``cls(*args)`` with the weights file loaded (eval mode, no autograd) for
    uint8 images (N, C, H, W), scaled to [0, 1] and normalised per channel with ``mean`` and
    ``std``, ``batch_size`` images at a time: (N, classes), float32."""
    torch = _torch()
    model = load_weights(cls, args, path, max_bytes)
    mean = torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
    out = []
    with torch.no_grad():
        for start in range(0, len(images), int(batch_size)):
            x = (torch.as_tensor(images[start:start + int(batch_size)]).float() / 255 - mean) / std
            logits = model(x)
            if not isinstance(logits, torch.Tensor):
                raise TypeError(f"forward returned {type(logits).__name__}, not a tensor of logits")
            out.append(logits.detach().float())
    return torch.cat(out)


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------
def _frame(csv_text: str):
    import pandas as pd

    return pd.read_csv(io.StringIO(csv_text))


@probe
def dataset_len(cls, csv_text):
    """``len(cls(df))`` for the DataFrame in ``csv_text``."""
    return len(cls(_frame(csv_text)))


@probe
def dataset_items(cls, csv_text):
    """``[ds[i] for i in range(len(df))]`` for ``ds = cls(df)``."""
    df = _frame(csv_text)
    ds = cls(df.copy())
    return [ds[i] for i in range(len(df))]


@probe
def dataset_batch(cls, csv_text, batch_size):
    """The first batch a ``DataLoader(cls(df), batch_size)`` gives."""
    torch = _torch()
    ds = cls(_frame(csv_text))
    return next(iter(torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False)))


# --------------------------------------------------------------------------------------------
# Serving the grader (runs inside the student's kernel)
# --------------------------------------------------------------------------------------------
def serve(namespace: dict, request: str, response: str) -> None:
    """Answer one request of the trusted grader: run a probe on the object the request names.

    ``request`` holds (packed) ``{"probe", "target", "args", "kwargs", "timeout", "learners"}``;
    ``learners`` (optional) lists ``[index, name]``: the input at ``index`` is the learner's
    object ``name`` (a second learner object, e.g. a backward pass). The answer, ``{"value",
    "error", "kind", "warnings"}``, is written to ``response`` (atomically).
    """
    from course import check
    from course.grading import wire

    req = wire.unpack(Path(request).read_bytes())
    args = list(req["args"])
    missing = None
    for name, index in [(req["target"], None), *[(n, i) for i, n in req.get("learners") or []]]:
        obj = namespace.get(name, serve) if isinstance(name, str) else serve
        if obj is serve:
            missing = name
            break
        if index is None:
            target = obj
        elif isinstance(index, int) and 0 <= index < len(args):
            args[index] = obj
    if missing is not None:
        outcome = check.Outcome(error=f"is not defined (run the cell that defines {missing})", kind="error")
    else:
        outcome = check.run_safely(PROBES[req["probe"]], target, *args,
                                   timeout=req["timeout"], **req["kwargs"])
    answer = {"value": outcome.value, "error": outcome.error, "kind": outcome.kind,
              "warnings": list(outcome.warnings)[:5]}
    tmp = f"{response}.part"
    with open(tmp, "wb") as f:
        f.write(wire.pack(answer))
    os.replace(tmp, response)

