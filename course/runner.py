"""Execute notebooks headless with papermill and tabulate what they recorded.

``python -m course run [NOTEBOOK ...] --smoke --device cpu`` (or ``make run``) executes lessons on
fresh kernels, injecting parameters into the cell tagged ``parameters``, writes the executed copies
to ``build/runs/`` (git-ignored), prints a table (notebook, status, seconds, key metrics) and saves
it as ``results.csv`` and ``results.json`` beside them. It exits non-zero when a notebook fails,
naming the notebook and the failing cell.

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

METRICS_MIME = "application/vnd.dlcourse.metrics+json"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "build" / "runs"


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
    old = {k: os.environ.get(k) for k in changes}
    try:
        for k, v in changes.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = str(v)
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_notebook(path: str | os.PathLike, out_dir: str | os.PathLike = DEFAULT_OUT,
                 parameters: dict | None = None, data_dir: str | None = None,
                 device: str | None = None, timeout: float | None = 1200) -> RunResult:
    """Execute one notebook on a fresh kernel; never raises for a failing notebook."""
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    path = Path(path).resolve()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / path.name
    result = RunResult(_display_name(path), output=str(output))
    env = {
        # the kernel draws plots inline, as in JupyterLab, even when the caller uses Agg
        "MPLBACKEND": None,
        "COURSE_DATA_DIR": str(Path(data_dir).resolve()) if data_dir else os.environ.get("COURSE_DATA_DIR"),
        "COURSE_DEVICE": device or os.environ.get("COURSE_DEVICE"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    start = time.perf_counter()
    try:
        with _environment(env):
            for attempt in range(3):
                try:
                    pm.execute_notebook(str(path), str(output), parameters=parameters or {},
                                        cwd=str(path.parent), kernel_name="python3",
                                        progress_bar=False, execution_timeout=timeout,
                                        report_mode=False, log_output=False)
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


def _display_name(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def find_notebooks(patterns: Sequence[str] | None = None) -> list[Path]:
    """Notebooks named by ``patterns`` (files, folders or globs); default: every lesson."""
    if not patterns:
        return sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    found: list[Path] = []
    for pattern in patterns:
        p = Path(pattern)
        if p.is_dir():
            found += sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        elif p.exists():
            found.append(p)
        else:
            matches = [Path(m) for m in sorted(glob.glob(pattern))]
            if not matches and "/" not in pattern:  # "11" or "11_cnn" means notebooks/11*.ipynb
                matches = sorted(glob.glob(str(REPO / "notebooks" / f"{pattern.rstrip('*')}*.ipynb")))
            matches = [Path(m) for m in matches if str(m).endswith(".ipynb")]
            if not matches:
                raise FileNotFoundError(f"No notebook matches {pattern!r}.")
            found += matches
    return found


def run(notebooks: Iterable[str | os.PathLike], out_dir: str | os.PathLike = DEFAULT_OUT,
        smoke: bool = False, device: str | None = None, data_dir: str | None = None,
        timeout: float | None = 1200, extra: dict | None = None, verbose: bool = True):
    """Run notebooks one after another; returns the results table (a pandas DataFrame)."""
    import pandas as pd

    out_dir = Path(out_dir)
    results = []
    params = smoke_parameters(device, smoke, extra)
    for nb in notebooks:
        if verbose:
            print(f"running {_display_name(Path(nb).resolve())} ...", flush=True)
        result = run_notebook(nb, out_dir, params, data_dir, device, timeout)
        results.append(result)
        if verbose and result.error:
            print("  " + result.error, flush=True)
    table = pd.DataFrame([{
        "notebook": r.notebook, "status": r.status, "seconds": r.seconds,
        "metrics": ", ".join(f"{k}={_fmt(v)}" for k, v in r.metrics.items()),
    } for r in results])
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "results.csv", index=False)
    (out_dir / "results.json").write_text(json.dumps(
        {"smoke": smoke, "device": device, "results": [asdict(r) for r in results]}, indent=2))
    if verbose and len(table):
        print()
        print(table.to_string(index=False))
        print(f"\nexecuted notebooks and results.csv/json are in {out_dir}")
    return table


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
