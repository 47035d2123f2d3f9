"""``course kernel launch -f CONNECTION_FILE``: start IPython under the grading limits.

``course kernel launch --zygote FD``: start instead, under the same limits and in the same
sandbox, a zygote that forks kernels (``course.kernels.zygote``; the parallel autograder's warm
slots) listening on the inherited socket ``FD``.

``course kernel install [--user | --sys-prefix]``: install the kernel spec.
See ``course/kernels/__init__.py`` for what the limits are and why. The kernel spec runs
``python -I -m course kernel launch``: keep the imports of this path (``course.cli``, this module,
``course.kernels``) to the standard library, since every grading kernel start pays for them.
"""
from __future__ import annotations

import os
import resource
import sys

from course.kernels import KERNEL_CLASS, MAX_FILE_BYTES, SANDBOX_ENV, install, limits_from_env


def _cap(kind: int, value: int) -> None:
    """Lower a resource limit to ``value`` (never above the hard limit we were given)."""
    soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))


def launch(argv: list[str], program: list[str] | None = None) -> None:
    """Apply the limits, then replace this process with ``ipykernel_launcher argv...`` (or
    ``program``, a ``python -I -m course kernel ...`` command), inside the sandbox that
    ``$COURSE_SANDBOX`` describes (``course.autograde.sandbox``) when set."""
    import json

    limits = limits_from_env()
    settings = json.loads(open(os.environ[SANDBOX_ENV]).read()) if os.environ.get(SANDBOX_ENV) else None
    extra = (settings or {}).get("limits", {})
    if limits["memory_mb"] > 0:
        _cap(resource.RLIMIT_AS, int(limits["memory_mb"] * 2**20))
    _cap(resource.RLIMIT_FSIZE, int(extra.get("file_mb", MAX_FILE_BYTES >> 20)) << 20)
    _cap(resource.RLIMIT_CORE, 0)
    if extra.get("cpu_seconds"):
        _cap(resource.RLIMIT_CPU, int(extra["cpu_seconds"]))
    threads = str(max(1, limits["threads"]))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = threads
    os.environ["MALLOC_ARENA_MAX"] = "2"       # fewer malloc arenas: less address space per thread
    os.environ.setdefault("MPLBACKEND", "Agg")
    kernel = program or [sys.executable, "-I", "-m", "ipykernel_launcher", "--HistoryManager.hist_file=:memory:",
                         f"--IPKernelApp.kernel_class={KERNEL_CLASS}", *argv]
    if settings is None:
        os.execv(sys.executable, kernel)
    os.chdir(settings["scratch"])
    os.environ.pop(SANDBOX_ENV, None)
    if settings["mode"] != "bwrap":
        os.execv(sys.executable, kernel)
    from course.autograde.sandbox import command

    # the kernel reads its connection file inside the sandbox: give it a copy in its folder
    if program is None and "-f" in kernel:
        i = kernel.index("-f") + 1
        copy = os.path.join(settings["exchange"], "connection.json")
        with open(kernel[i]) as src, open(copy, "w") as dst:
            dst.write(src.read())
        if os.geteuid() == 0:
            os.chown(copy, settings["uid"], settings["uid"])
        kernel[i] = copy
    if os.geteuid() == 0:   # root is exempt from RLIMIT_NPROC: it binds the kernel's own user id
        _cap(resource.RLIMIT_NPROC, int(extra.get("processes", 512)))
    cmd = command(settings, kernel)
    os.execvp(cmd[0], cmd)


def _launch(args) -> int:
    if args.zygote is not None:
        launch([], program=[sys.executable, "-I", "-m", "course", "kernel", "zygote", "--fd", str(args.zygote),
                            "--preload", args.preload, "--kernel-class", KERNEL_CLASS])
    launch(["-f", args.connection_file])
    return 0


def _zygote(args) -> int:
    from course.kernels import zygote

    return zygote.main(args)


def _install(args) -> int:
    where = install(user=args.user, prefix=sys.prefix if args.sys_prefix else None)
    print(f"installed the grading kernel spec in {where}")
    return 0


def add_parser(sub) -> None:
    """Add ``kernel launch`` and ``kernel install`` to ``course``'s subparsers."""
    p = sub.add_parser("kernel", help="the limited grading kernel: launch (kernel.json runs it), install")
    actions = p.add_subparsers(dest="action", required=True)
    q = actions.add_parser("launch", help="start IPython under the grading limits (Jupyter runs this)")
    how = q.add_mutually_exclusive_group(required=True)
    how.add_argument("-f", dest="connection_file", help="the kernel's connection file")
    how.add_argument("--zygote", type=int, metavar="FD", help="start a zygote on the listening socket FD instead")
    q.add_argument("--preload", default="", help="with --zygote: modules it imports before forking kernels")
    q.set_defaults(func=_launch)
    q = actions.add_parser("zygote", help="fork kernels from a warm process (run by launch --zygote, in the sandbox)")
    from course.kernels.zygote import add_arguments

    add_arguments(q)
    q.set_defaults(func=_zygote)
    q = actions.add_parser("install", help="install the kernel spec for Jupyter (optional: grading finds it)")
    where = q.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="into the user's Jupyter folder")
    where.add_argument("--sys-prefix", action="store_true", help="into this environment (sys.prefix)")
    q.set_defaults(func=_install)
