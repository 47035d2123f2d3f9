"""``python -m course.kernels launch -f CONNECTION_FILE``: start IPython under the grading limits.

``python -m course.kernels install [--user | --sys-prefix]``: install the kernel spec.
See ``course/kernels/__init__.py`` for what the limits are and why.
"""
from __future__ import annotations

import os
import resource
import sys

from course.kernels import MAX_FILE_BYTES, install, limits_from_env


def _cap(kind: int, value: int) -> None:
    """Lower a resource limit to ``value`` (never above the hard limit we were given)."""
    soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))


def launch(argv: list[str]) -> None:
    """Apply the limits, then replace this process with ``ipykernel_launcher argv...``."""
    limits = limits_from_env()
    if limits["memory_mb"] > 0:
        _cap(resource.RLIMIT_AS, int(limits["memory_mb"] * 2**20))
    _cap(resource.RLIMIT_FSIZE, MAX_FILE_BYTES)
    _cap(resource.RLIMIT_CORE, 0)
    env = dict(os.environ)
    threads = str(max(1, limits["threads"]))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = threads
    env["MALLOC_ARENA_MAX"] = "2"       # fewer malloc arenas: less address space per thread
    env.setdefault("MPLBACKEND", "Agg")
    args = [sys.executable, "-m", "ipykernel_launcher", "--HistoryManager.hist_file=:memory:", *argv]
    os.execve(sys.executable, args, env)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["launch"]:
        launch(argv[1:])
    if argv[:1] == ["install"]:
        where = install(user="--user" in argv, prefix=sys.prefix if "--sys-prefix" in argv else None)
        print(f"installed the grading kernel spec in {where}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
