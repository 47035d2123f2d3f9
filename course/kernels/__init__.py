"""The grading kernel: IPython with resource limits, for running submitted notebooks.

nbgrader executes every submission in this kernel (``SafeExecute.kernel_name`` in the top-level
``nbgrader_config.py``), so that one runaway notebook cannot starve the others:

==================  ======================================================================
memory              the kernel's address space is capped (``RLIMIT_AS``, default 6144 MiB,
                    ``$COURSE_GRADING_MEMORY_MB``; 0 turns it off). Filling memory raises
                    ``MemoryError`` in the learner's cell instead of swapping the machine.
                    (PyTorch alone reserves about 3.5 GB of address space, so keep it > 5000.)
files               each file the kernel writes is capped at 1 GiB (``RLIMIT_FSIZE``); no core
                    dumps.
threads             BLAS/OpenMP threads = ``$COURSE_GRADING_THREADS`` (default 1), so that
                    parallel grading jobs do not fight over the cores.
history             IPython's history stays in memory: parallel kernels share no SQLite file.
probes              the kernel is IPython's plus one message, ``course_probe_request``, by which
                    the grader runs a check's probe without a cell (``course.kernels.grading``).
time                per cell: nbgrader's ``Execute.timeout``. A kernel that dies or stops
                    answering is restarted by ``course.autograde.execute.SafeExecute``.
==================  ======================================================================

The spec is the folder ``course/kernels/dlcourse-grading`` (its ``kernel.json`` runs
``python -I -m course kernel launch -f {connection_file}``, ``course.kernels.launcher``). The
autograder finds it without any install step (``spec_manager()``). To make it visible to Jupyter
itself (e.g. to try a notebook in it from JupyterLab)::

    python -m course kernel install [--user | --sys-prefix]
"""
from __future__ import annotations

from pathlib import Path

KERNEL_NAME = "dlcourse-grading"
SPEC_DIR = Path(__file__).resolve().parent / KERNEL_NAME
MEMORY_ENV = "COURSE_GRADING_MEMORY_MB"
THREADS_ENV = "COURSE_GRADING_THREADS"
SANDBOX_ENV = "COURSE_SANDBOX"    # set by the autograder for each notebook (course.autograde.sandbox)
DEFAULT_MEMORY_MB = 6144
MAX_FILE_BYTES = 1 << 30
KERNEL_CLASS = "course.kernels.grading.GradingKernel"   # IPython's kernel + PROBE_MSG
PROBE_MSG = "course_probe_request"


def spec_manager(**kwargs):
    """A ``jupyter_client`` KernelSpecManager that also sees the grading kernel (no install needed)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_core.paths import jupyter_path

    dirs = [str(SPEC_DIR.parent)] + jupyter_path("kernels")
    return KernelSpecManager(kernel_dirs=dirs, **kwargs)


def install(user: bool = False, prefix: str | None = None) -> str:
    """Install the grading kernel spec into Jupyter's kernel folders; returns where it went."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KernelSpecManager().install_kernel_spec(str(SPEC_DIR), KERNEL_NAME, user=user, prefix=prefix)


def limits_from_env(env=None) -> dict:
    """The limits a kernel started now would get: ``{"memory_mb": ..., "threads": ...}``."""
    import os

    env = os.environ if env is None else env
    return {"memory_mb": float(env.get(MEMORY_ENV) or DEFAULT_MEMORY_MB),
            "threads": int(env.get(THREADS_ENV) or 1)}
