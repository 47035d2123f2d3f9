"""Execute notebooks headless with papermill and tabulate what they recorded.

``python -m course run [NOTEBOOK ...] --smoke --device cpu --jobs 2`` (or ``make run``) executes
lessons on fresh kernels, ``--jobs`` at a time, injecting parameters into the cell tagged
``parameters`` (the device travels only there, as ``DEVICE``), writes the executed copies to
``build/runs/`` (git-ignored), prints a table in course order (notebook, status, seconds, key
metrics) and saves it as ``results.csv`` and ``results.json`` beside them. It exits non-zero when a
notebook fails, naming the notebook and the failing cell.

Smoke runs work offline: when datasets are missing from the data directory, ``run(smoke=True)``
writes stand-ins in the real on-disk formats (``course.standin``) to ``<out>/standin-data``, links
the datasets that are there, points the kernels at that folder and at its checksum override
(``$COURSE_DATA_DIR``, ``$COURSE_DATA_CHECKSUMS``) and says so in one line. With every dataset
in the cache, smoke runs use the real data.

With ``--jobs`` above 1 the runner starts the longest notebooks first (longest-processing-time-first
scheduling), so that the workers finish together instead of one of them waiting for a long notebook
that started last. The expected seconds come from the previous run's ``results.json`` in the output
folder (same mode, smoke or full), else, for smoke runs, from ``course/smoke_seconds.json`` (measured
smoke seconds, ``expected_seconds``); notebooks without a figure start first, in the order given.

Smoke runs on the CPU fork every kernel from one warm process (``course.kernels.zygote``) that has imported
what the notebooks import (torch, its first optimizer's ``torch._dynamo``, matplotlib, ...): each
kernel is still fresh (an empty namespace, the environment its notebook asks for, its own
folder), but starts in a fraction of a second instead of paying about six seconds of imports.
Full runs, and smoke runs on a GPU (a process that may have touched CUDA cannot be forked
safely), start each kernel the ordinary way. Smoke runs save the executed copy once, at the end, and stop each kernel at once when its last cell
is done (papermill would rewrite the copy after every cell, and a kernel that imported torch takes a
second or two to exit politely); full runs save after every cell, so that a long run can be watched.

Lessons report their key numbers with ``course.record(test_acc=acc)``: the value shows in the
notebook and travels in its outputs under a course-specific MIME type, which the runner reads back.
"""
from __future__ import annotations

import contextlib
import glob
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from course.paths import ROOT, checkout

METRICS_MIME = "application/vnd.dlcourse.metrics+json"
DEFAULT_OUT = ROOT / "build" / "runs"
ZYGOTE_ENV = "COURSE_RUN_ZYGOTE"   # the control socket of the run's warm kernel zygote (smoke runs)
DEFAULT_CELL_TIMEOUT = 1800  # seconds one cell may run (``course run --timeout``)
STANDIN_FOLDER = "standin-data"  # under the run's output folder
SMOKE_SECONDS = Path(__file__).resolve().parent / "smoke_seconds.json"  # expected_seconds()


def record(**metrics) -> dict:
    """Show and record a lesson's key numbers, e.g. ``course.record(test_acc=0.981, seconds=42)``.

    Numbers are stored as plain floats/ints so that the runner's table can read them back.
    """
    clean = {}
    for key, value in metrics.items():
        if hasattr(value, "item"):
            value = value.item()
        clean[key] = value
    text = "recorded: " + ", ".join(
        f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in clean.items())
    try:
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is not None:
            display({METRICS_MIME: clean, "text/plain": text}, raw=True)
            return clean
    except ImportError:
        pass
    print(text)
    return clean


def notebook_metrics(nb) -> dict:
    """All metrics a notebook recorded (later records of the same name win)."""
    found = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = output.get("data", {})
            if METRICS_MIME in data:
                found.update(data[METRICS_MIME])
    return found


@dataclass
class RunResult:
    notebook: str
    status: str = "ok"
    seconds: float = 0.0
    metrics: dict = field(default_factory=dict)
    error: str = ""
    output: str = ""


def smoke_parameters(device: str | None = "cpu", smoke: bool = True, extra: dict | None = None) -> dict:
    params = {"SMOKE": smoke}
    if device:
        params["DEVICE"] = device
    params.update(extra or {})
    return params


@contextlib.contextmanager
def _environment(changes: dict):
    """``os.environ`` with ``changes`` applied (a value of ``None`` unsets), restored afterwards."""
    from unittest import mock

    with mock.patch.dict(os.environ, {k: str(v) for k, v in changes.items() if v is not None}):
        for k, v in changes.items():
            if v is None:
                os.environ.pop(k, None)
        yield


def kernel_environment(data_dir: str | None = None, env: dict | None = None) -> dict:
    """The changes to ``os.environ`` a notebook's kernel runs with (``None`` unsets a variable)."""
    return {
        # the kernel draws plots inline, as in JupyterLab, even when the caller uses Agg
        "MPLBACKEND": None,
        "COURSE_DATA_DIR": str(Path(data_dir).resolve()) if data_dir else os.environ.get("COURSE_DATA_DIR"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        **(env or {}),
    }


@contextlib.contextmanager
def warm_kernels(notebooks: Sequence[Path], data_dir: str | None, env: dict):
    """A zygote (``course.kernels.zygote``) that has imported what ``notebooks`` import, started
    with the kernels' environment; ``run_notebook`` forks kernels from it while this lasts
    (``$COURSE_RUN_ZYGOTE``). Where it cannot start, kernels start the ordinary way."""
    import shutil
    import sys
    import tempfile

    from course.kernels import zygote

    folder = tempfile.mkdtemp(prefix="course-zygote-")   # short: a Unix socket path has 107 bytes
    control = os.path.join(folder, "control.sock")
    with _environment(kernel_environment(data_dir, env)):
        proc = zygote.start([sys.executable, "-I", "-m", "course", "kernel", "zygote", "--fd"], control,
                            zygote.imports_of(notebooks),
                            dict(os.environ), os.path.join(folder, "zygote.log"))
    try:
        try:   # wait for its imports: a kernel asked for before they are done would start cold
            ready = bool(zygote.call(control, "ping", timeout=180).get("ok"))
        except (OSError, ValueError):
            ready = False
        with _environment({ZYGOTE_ENV: control if ready else None}):
            yield
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


def run_notebook(path: str | os.PathLike, out_dir: str | os.PathLike = DEFAULT_OUT,
                 parameters: dict | None = None, data_dir: str | None = None,
                 timeout: float | None = DEFAULT_CELL_TIMEOUT, env: dict | None = None,
                 save_progress: bool | None = None) -> RunResult:
    """Execute one notebook on a fresh kernel; never raises for a failing notebook.

    The device goes in ``parameters`` (``DEVICE``); ``env`` holds more variables for the kernel
    (``None`` unsets one). ``save_progress``: rewrite the executed copy after every cell (papermill's
    habit, about 20-40 ms a cell) instead of once at the end; default: only when
    ``parameters["SMOKE"]`` is not true. The kernel is stopped at once after the last cell (its
    outputs are all in by then) instead of waiting seconds for a kernel that imported torch to exit.
    """
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    _register_engine()

    path = Path(path).resolve()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / path.name
    result = RunResult(_display_name(path), output=str(output))
    env = kernel_environment(data_dir, env)
    if save_progress is None:
        save_progress = not (parameters or {}).get("SMOKE")
    warm = {}
    control = os.environ.get(ZYGOTE_ENV)
    if control:
        from course.kernels import zygote

        if zygote.alive(control):   # else (it died): the ordinary way
            warm["kernel_manager_class"] = zygote.kernel_manager_class(control=control, pass_env=True)
    start = time.perf_counter()
    try:
        with _environment(env):
            for attempt in range(3):
                try:
                    pm.execute_notebook(str(path), str(output), parameters=parameters or {},
                                        cwd=str(path.parent), kernel_name="python3",
                                        engine_name=None if save_progress else _ENGINE,
                                        progress_bar=False, execution_timeout=timeout,
                                        report_mode=False, log_output=False,
                                        shutdown_kernel="immediate", **warm)
                    break
                except RuntimeError as err:
                    # Kernels started in parallel can race for the same free TCP port; the kernel
                    # then dies before running anything. That is a start-up failure: try again.
                    if "Kernel died before replying to kernel_info" not in str(err) or attempt == 2:
                        raise
    except PapermillExecutionError as err:
        result.status = "FAILED"
        source = (err.source or "").strip().splitlines()
        first = source[0][:60] if source else ""
        result.error = (f"{result.notebook} failed in cell {err.cell_index} (execution count "
                        f"{err.exec_count}, starting {first!r}): {err.ename}: {err.evalue}")
    except Exception as err:  # noqa: BLE001 - kernel died, timeout, invalid notebook, ...
        result.status = "FAILED"
        result.error = f"{result.notebook} could not be executed: {type(err).__name__}: {err}"
    result.seconds = round(time.perf_counter() - start, 2)
    if output.exists():
        with contextlib.suppress(Exception):
            result.metrics = notebook_metrics(nbformat.read(output, as_version=4))
    return result


_ENGINE = "course-save-at-end"


def _register_engine() -> None:
    """papermill's nbclient engine, but without its saves of the executed copy during the run:
    ``papermill.execute_notebook`` still writes the copy at the end, also when a cell fails."""
    from papermill.engines import NBClientEngine, papermill_engines

    class SaveAtEnd(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb, kernel_name, output_path=None, **kwargs):
            return super().execute_notebook(nb, kernel_name, output_path=None, **kwargs)

    papermill_engines.register(_ENGINE, SaveAtEnd)


def _display_name(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def find_notebooks(patterns: Sequence[str] | None = None) -> list[Path]:
    """Notebooks named by ``patterns`` (files, folders or globs); default: every lesson."""
    if not patterns:
        return sorted((checkout() / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    found: list[Path] = []
    for pattern in patterns:
        p = Path(pattern)
        if p.is_dir():
            found += sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        elif p.exists():
            found.append(p)
        else:
            matches = [Path(m) for m in sorted(glob.glob(pattern))]
            if not matches and "/" not in pattern:  # "12" or "12_cnn" means notebooks/12*.ipynb
                matches = sorted(glob.glob(str(checkout() / "notebooks" / f"{pattern.rstrip('*')}*.ipynb")))
            matches = [Path(m) for m in matches if str(m).endswith(".ipynb")]
            if not matches:
                raise FileNotFoundError(f"No notebook matches {pattern!r}.")
            found += matches
    return found


def smoke_data(out_dir: str | os.PathLike, data_dir: str | None = None,
               verbose: bool = True) -> tuple[dict, list[str]]:
    """Kernel environment for a smoke run and the datasets standing in: ``({}, [])`` when every
    dataset is in the data directory, else stand-ins for the missing ones in
    ``<out_dir>/standin-data`` (``course.standin.prepare``)."""
    from course import data, standin

    env, stand_ins = standin.prepare(Path(out_dir) / STANDIN_FOLDER, data_dir)
    if verbose and stand_ins:
        print(f"smoke mode: {', '.join(stand_ins)} not in {data.data_dir(data_dir)}, so the kernels "
              f"use stand-in data in {env[data.ENV_VAR]} (real formats, meaningless numbers)", flush=True)
    return env, stand_ins


def _threads_per_kernel(jobs: int) -> dict:
    """Split the cores between parallel kernels (unless the user set OMP_NUM_THREADS)."""
    if jobs <= 1 or os.environ.get("OMP_NUM_THREADS"):
        return {}
    return {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // jobs))}


def expected_seconds(notebooks: Sequence[Path], out_dir: str | os.PathLike, smoke: bool) -> dict:
    """``{notebook: expected seconds}`` for the notebooks with a figure: the seconds of the previous
    run of the same mode in ``out_dir/results.json``, else, in smoke mode, ``course/smoke_seconds.json``
    (smoke seconds measured on a 2-core CPU, keyed like the results table: ``notebooks/11_...ipynb``)."""
    known: dict = {}
    if smoke:
        with contextlib.suppress(OSError, ValueError):
            known.update(json.loads(SMOKE_SECONDS.read_text()))
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        previous = json.loads((Path(out_dir) / "results.json").read_text())
        if bool(previous.get("smoke")) == bool(smoke):
            known.update({r["notebook"]: r["seconds"] for r in previous["results"] if r["status"] == "ok"})
    names = {nb: _display_name(nb.resolve()) for nb in notebooks}
    return {nb: float(known[name]) for nb, name in names.items() if name in known}


def longest_first(notebooks: Sequence[Path], expected: dict) -> list[int]:
    """Indexes of ``notebooks`` in the order to start them: notebooks without an expected duration
    first (in the order given), then the others, longest first."""
    return sorted(range(len(notebooks)), key=lambda i: (notebooks[i] in expected, -expected.get(notebooks[i], 0)))


def run(notebooks: Iterable[str | os.PathLike], out_dir: str | os.PathLike = DEFAULT_OUT,
        smoke: bool = False, device: str | None = None, data_dir: str | None = None,
        timeout: float | None = DEFAULT_CELL_TIMEOUT, extra: dict | None = None,
        verbose: bool = True, jobs: int = 1):
    """Run notebooks, ``jobs`` at a time; returns the results table (a pandas DataFrame).

    The table lists the notebooks in the order given, whatever order they finish in. With more
    than one job the longest start first (``expected_seconds``, ``longest_first``). With
    ``smoke`` and datasets missing from the data directory, the kernels get stand-in data
    (``smoke_data``).
    """
    import pandas as pd

    notebooks = [Path(nb) for nb in notebooks]
    out_dir = Path(out_dir)
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}.")
    params = smoke_parameters(device, smoke, extra)
    env, stand_ins = smoke_data(out_dir, data_dir, verbose) if smoke else ({}, [])
    env.update(_threads_per_kernel(jobs))
    if env.get("COURSE_DATA_DIR"):
        data_dir = env.pop("COURSE_DATA_DIR")
    args = [(nb, out_dir, params, data_dir, timeout, env) for nb in notebooks]

    def report(result: RunResult):
        if verbose:
            print(f"{result.status:>6}  {result.notebook} ({result.seconds:.0f} s)", flush=True)
            if result.error:
                print("  " + result.error, flush=True)

    if verbose:
        print(f"running {len(notebooks)} notebook(s), {min(jobs, len(notebooks) or 1)} at a time ...",
              flush=True)
    warm = smoke and device == "cpu"   # a process that may have touched CUDA cannot be forked safely
    with warm_kernels(notebooks, data_dir, env) if warm else contextlib.nullcontext():
        results = _run_all(args, notebooks, out_dir, smoke, jobs, report)
    table = pd.DataFrame([{
        "notebook": r.notebook, "status": r.status, "seconds": r.seconds,
        "metrics": ", ".join(f"{k}={_fmt(v)}" for k, v in r.metrics.items()),
    } for r in results])
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "results.csv", index=False)
    (out_dir / "results.json").write_text(json.dumps(
        {"smoke": smoke, "device": device, "stand_in_data": stand_ins,
         "results": [asdict(r) for r in results]}, indent=2))
    if verbose and len(table):
        print()
        print(table.to_string(index=False))
        print(f"\nexecuted notebooks and results.csv/json are in {out_dir}")
    return table


def _run_all(args: list, notebooks: list[Path], out_dir: Path, smoke: bool, jobs: int, report) -> list[RunResult]:
    """``run_notebook(*a)`` for each of ``args``, ``jobs`` at a time (longest first); results in order."""
    if jobs == 1 or len(notebooks) <= 1:
        results = []
        for a in args:
            results.append(run_notebook(*a))
            report(results[-1])
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # One process per running notebook: each sets its kernel's environment in its own
    # os.environ. "spawn" behaves alike on Linux, macOS and Windows.
    order = longest_first(notebooks, expected_seconds(notebooks, out_dir, smoke))
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_notebook, *args[i]): i for i in order}
        results = [None] * len(args)
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            report(results[futures[future]])
    return results


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
