"""The ``course`` command (also ``python -m course``).

    course doctor                      versions, device, data cache state
    course data path                   where datasets are cached
    course data download [NAME ...]    fetch datasets now (default: all)
    course data download --from DIR    copy verified files from a local folder (offline machines)
    course run [NOTEBOOK ...]          execute lessons headless (--jobs N at a time), print a table
    course new-lesson NN slug "Title"  a new lesson with the conventional first cells
    course colab-links --repo O/N      point every badge and install cell at github.com/O/N
    course strip [NOTEBOOK ...]        remove outputs and execution counts
    course lint                        check every notebook against the conventions

Instructors (``course.autograde.cli``; each takes ``--root DIR``, the folder of nbgrader_config.py):

    course release [A ...]             solutions/ -> assignments/
    course autograde [A ...] -j N      grade submitted/ (sandboxed, N students at a time)
    course feedback [A ...]            feedback HTML, without hidden tests
    course grades                      build/grades/*.csv and the score plot
    course roster FILE.csv             the class list
    course due A "DATE"                an assignment's due date
    course kernel launch -f FILE       the grading kernel (``course.kernels.launcher``; Jupyter runs it)
    course kernel install [--user | --sys-prefix]

Commands that work on the lessons or solutions need a checkout of the repository
(``course.paths.checkout``); an installed package (Colab) has only the helpers.
"""
from __future__ import annotations

import argparse
import sys


def _doctor(args) -> int:
    import importlib.metadata as md

    print("== versions")
    for pkg in ("dlcourse", "torch", "torchvision", "numpy", "matplotlib", "pandas", "jupyterlab",
                "papermill", "nbgrader"):
        try:
            version = md.version(pkg)
        except md.PackageNotFoundError:
            version = "not installed"
        print(f"  {pkg:<12} {version}")
    print("== device")
    from course import device

    device.describe(args.device)
    print("== data")
    from course import data

    print(f"  cache: {data.data_dir()}  (set ${data.ENV_VAR} or pass --data-dir to change)")
    for name, state in data.cache_status().items():
        print(f"  {name:<9} {state}")
    return 0


def _data(args) -> int:
    from course import data

    if args.data_dir:
        import os

        os.environ[data.ENV_VAR] = args.data_dir
    if args.action == "path":
        print(data.data_dir())
        return 0
    if args.source:
        result = data.import_from(args.source)
        names = args.names or list(result)
        result = {k: result[k] for k in names if k in result}
    else:
        result = data.download(args.names or None)
    failed = False
    for name, state in result.items():
        print(f"{name:<9} {state}")
        failed |= state.startswith(("FAILED", "skipped"))
    print(f"data directory: {data.data_dir()}")
    return 1 if failed else 0


def _run(args) -> int:
    from course import runner

    if args.out is None:
        args.out = runner.DEFAULT_OUT
    notebooks = runner.find_notebooks(args.notebooks)
    if not notebooks:
        print("No notebooks to run.", file=sys.stderr)
        return 1
    extra = {}
    for item in args.param or []:
        key, _, value = item.partition("=")
        extra[key] = _literal(value)
    table = runner.run(notebooks, out_dir=args.out, smoke=args.smoke, device=args.device,
                       data_dir=args.data_dir, timeout=args.timeout, extra=extra, jobs=args.jobs)
    failed = table[table.status != "ok"]
    if len(failed):
        print(f"\n{len(failed)} notebook(s) failed: {', '.join(failed.notebook)}", file=sys.stderr)
        return 1
    return 0


def _literal(text: str):
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _new_lesson(args) -> int:
    from course import notebooks

    print(notebooks.new_lesson(args.number, args.slug, args.title))
    return 0


def _colab_links(args) -> int:
    from course import notebooks

    changed = notebooks.set_repo(args.repo, args.branch)
    print(f"Pointed {len(changed)} notebooks and course/repository.json at github.com/{args.repo}@{args.branch}.")
    return 0


def _strip(args) -> int:
    from pathlib import Path

    from course import notebooks
    from course.paths import checkout

    paths = [Path(p) for p in args.notebooks] or notebooks.all_notebooks(checkout())
    changed = [p for p in paths if notebooks.strip(p)]
    print(f"stripped {len(changed)} of {len(paths)} notebooks")
    return 0


def _lint(args) -> int:
    from course import notebooks
    from course.paths import checkout

    found = [msg for p in notebooks.all_notebooks(checkout()) for msg in notebooks.problems(p)]
    print("\n".join(found) or "all notebooks follow the conventions")
    return 1 if found else 0


def _bare_parser():
    parser = argparse.ArgumentParser(prog="course", description="Helpers of the deep learning course.")
    return parser, parser.add_subparsers(dest="command", required=True, metavar="COMMAND")


def build_parser() -> argparse.ArgumentParser:
    from course import site
    from course.autograde import cli as autograde
    from course.kernels import launcher
    from course.runner import DEFAULT_CELL_TIMEOUT

    parser, sub = _bare_parser()

    p = sub.add_parser("doctor", help="versions, device and data cache state")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_doctor)

    p = sub.add_parser("data", help="dataset cache: path, download")
    p.add_argument("action", choices=["path", "download"])
    p.add_argument("names", nargs="*", help="mnist, cifar10, titanic, pima, diabetes (default: all)")
    p.add_argument("--from", dest="source", help="import verified copies from this local folder")
    p.add_argument("--data-dir", help="the data directory (default: $COURSE_DATA_DIR or the user cache)")
    p.set_defaults(func=_data)

    p = sub.add_parser("run", help="execute notebooks headless and tabulate results")
    p.add_argument("notebooks", nargs="*", help="files, folders or globs (default: every lesson)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny, seconds-long versions (SMOKE = True); stand-in data where the real is missing")
    p.add_argument("--device", help="inject DEVICE (auto, cpu, cuda, cuda:N, mps)")
    p.add_argument("--data-dir", help="data directory the kernels use ($COURSE_DATA_DIR)")
    p.add_argument("--out", default=None, help="folder for executed copies and results (default build/runs)")
    p.add_argument("--timeout", type=float, default=DEFAULT_CELL_TIMEOUT,
                   help=f"seconds per cell (default {DEFAULT_CELL_TIMEOUT})")
    p.add_argument("-j", "--jobs", type=int, default=1, help="notebooks run at a time (default 1)")
    p.add_argument("-p", "--param", action="append", metavar="NAME=VALUE",
                   help="inject another parameter, e.g. -p NUM_EPOCHS=2")
    p.set_defaults(func=_run)

    p = sub.add_parser("new-lesson", help="create notebooks/NN_slug.ipynb from the template")
    p.add_argument("number", type=int)
    p.add_argument("slug")
    p.add_argument("title")
    p.set_defaults(func=_new_lesson)

    p = sub.add_parser("colab-links", help="rewrite every Colab badge and install cell")
    p.add_argument("--repo", required=True, help="owner/name on GitHub")
    p.add_argument("--branch", default="main")
    p.set_defaults(func=_colab_links)

    p = sub.add_parser("strip", help="remove outputs and execution counts from notebooks")
    p.add_argument("notebooks", nargs="*")
    p.set_defaults(func=_strip)

    p = sub.add_parser("lint", help="check notebooks against the lesson conventions")
    p.set_defaults(func=_lint)

    autograde.add_parsers(sub)
    site.add_parser(sub)
    launcher.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:2] == ["kernel", "launch"]:
        # Every grading kernel starts here (kernel.json): parse with the kernel's parser alone, so
        # that only the standard library is imported before IPython (course.kernels.launcher).
        from course.kernels import launcher

        parser, sub = _bare_parser()
        launcher.add_parser(sub)
    else:
        parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, ValueError, FileNotFoundError, FileExistsError, RuntimeError) as err:
        print(f"course {args.command}: {err}", file=sys.stderr)
        return 2
