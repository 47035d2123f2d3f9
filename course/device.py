"""Devices: pick one from a toggle, describe it, and time code on it honestly.

Every lesson has ``DEVICE = "auto"`` in its parameters cell and calls ``pick(DEVICE)`` once.
``course run --device cpu`` (``make run DEVICE=cpu``) injects that parameter; it is the runner's
only device channel.

``COURSE_DEVICE`` is the user's override: set in the environment of JupyterLab or of a shell
(``COURSE_DEVICE=cpu make lab``), it replaces ``"auto"`` in every lesson, so a whole course can
be moved to the CPU or a GPU without editing notebooks. An explicit ``DEVICE`` (anything but
``"auto"``) wins over it. The runner neither sets nor clears it.

Used by: every lesson; lesson 00 (``describe``, ``benchmark``) teaches the timing rules.
"""
from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

ENV_VAR = "COURSE_DEVICE"
_VALID = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

COLAB_GPU_HINT = (
    "You are on a CPU-only Colab runtime. For a GPU: Runtime > Change runtime type > "
    "Hardware accelerator: GPU (T4), then Runtime > Restart and run all."
)


class DeviceError(RuntimeError):
    """Raised when the requested device does not exist on this machine."""


def _in_colab() -> bool:
    return "google.colab" in sys.modules


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def available() -> list[str]:
    """Names of the devices this machine has, e.g. ``['cpu', 'cuda:0']``."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        names.append("mps")
    return names


def pick(choice: str | torch.device | None = "auto", verbose: bool = True) -> torch.device:
    """Return the ``torch.device`` for a lesson's ``DEVICE`` toggle.

    Args:
        choice: ``"auto" | "cpu" | "cuda" | "cuda:N" | "mps"`` (or a ``torch.device``).
            ``"auto"`` (and ``None``) uses ``$COURSE_DEVICE`` when it is set, else prefers
            cuda, then mps, then cpu.
        verbose: print one line saying what was picked (and, on a CPU-only Colab runtime,
            how to switch a GPU on).

    Raises:
        DeviceError: the name is not a device name, or that device does not exist here.
            The message says what was asked, what exists and how to fix it.
    """
    if isinstance(choice, torch.device):
        choice = str(choice)
    choice = (choice or "auto").strip().lower()
    source = "DEVICE"
    if choice == "auto" and os.environ.get(ENV_VAR, "").strip():
        choice, source = os.environ[ENV_VAR].strip().lower(), f"${ENV_VAR}"
    if not _VALID.match(choice):
        raise DeviceError(
            f"{source}={choice!r} is not a device name. Use one of 'auto', 'cpu', 'cuda', "
            f"'cuda:N' or 'mps' (this machine has: {', '.join(available())})."
        )

    if choice == "auto":
        if torch.cuda.is_available():
            device = torch.device("cuda", torch.cuda.current_device())
        elif _mps_available():
            device = torch.device("mps")
        else:
            device = torch.device("cpu")
    else:
        device = torch.device(choice)
        _require(device, source, choice)

    if verbose:
        print(f"Using device: {_label(device)}" + ("" if source == "DEVICE" else f" (from {source})"))
        if device.type == "cpu" and _in_colab():
            print(COLAB_GPU_HINT)
    return device


def _require(device: torch.device, source: str, choice: str) -> None:
    fix = "Set DEVICE = 'auto' (or 'cpu') in the parameters cell"
    if _in_colab():
        fix += ", or " + COLAB_GPU_HINT[0].lower() + COLAB_GPU_HINT[1:]
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "torch was built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise DeviceError(
                f"{source}={choice!r} asks for a CUDA GPU, but {why} "
                f"(this machine has: {', '.join(available())}). {fix}."
            )
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise DeviceError(
                f"{source}={choice!r} asks for GPU {index}, but only {torch.cuda.device_count()} "
                f"GPU(s) exist (this machine has: {', '.join(available())}). Use 'cuda:0' or 'auto'."
            )
    elif device.type == "mps" and not _mps_available():
        raise DeviceError(
            f"{source}={choice!r} asks for Apple's MPS backend, which is not available here "
            f"(this machine has: {', '.join(available())}). {fix}."
        )


def _label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return "cpu"


def describe(device: torch.device | str | None = None) -> dict:
    """Print and return torch version, device name and memory (lesson 00's environment check)."""
    import platform

    device = pick(device or "auto", verbose=False)
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda (build)": torch.version.cuda or "none",
        "device": _label(device),
        "cpu threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        free, total = torch.cuda.mem_get_info(device)
        info["gpu memory"] = f"{free / 2**30:.1f} GiB free of {total / 2**30:.1f} GiB"
        info["compute capability"] = f"{props.major}.{props.minor}"
    else:
        try:
            pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
            info["ram"] = f"{pages * size / 2**30:.1f} GiB"
        except (ValueError, OSError, AttributeError):
            pass
    width = max(map(len, info))
    for key, value in info.items():
        print(f"{key:>{width}} : {value}")
    return info


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait until all queued work on ``device`` has finished (a no-op on the CPU).

    GPU calls return before the GPU is done; time only after synchronising.
    """
    device = torch.device(device) if device is not None else None
    if device is None or device.type == "cuda":
        if torch.cuda.is_available():
            torch.cuda.synchronize(device)
    elif device.type == "mps" and _mps_available():
        torch.mps.synchronize()


@dataclass
class Timer:
    """Record elapsed wall-clock times, synchronising the device around each measurement.

    >>> timer = Timer(device)
    >>> with timer:
    ...     y = x @ x
    >>> timer.times[-1]  # seconds
    """

    device: torch.device | str | None = None
    times: list[float] = field(default_factory=list)

    def __enter__(self) -> "Timer":
        synchronize(self.device)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        synchronize(self.device)
        self.times.append(time.perf_counter() - self._start)

    def avg(self) -> float:
        return sum(self.times) / len(self.times)

    def sum(self) -> float:
        return sum(self.times)


def benchmark(fn: Callable[[], object], device: torch.device | str | None = None,
              warmup: int = 2, repeat: int = 5) -> float:
    """Median seconds per call of ``fn()`` on ``device``, after ``warmup`` untimed calls.

    The warm-up pays one-off costs (CUDA context, kernel selection, caches); synchronising
    makes sure the GPU really finished. Lesson 00 uses this for CPU-vs-GPU matmul timings.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    for _ in range(warmup):
        fn()
    timer = Timer(device)
    for _ in range(repeat):
        with timer:
            fn()
    times = sorted(timer.times)
    return times[len(times) // 2]
