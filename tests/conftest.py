"""Shared fixtures: stand-in datasets on disk and the environment notebook kernels need."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from course.paths import ROOT  # noqa: E402 - the one repository root (course/paths.py)

if ROOT != Path(__file__).resolve().parent.parent:
    raise pytest.UsageError(f"these tests import the course package of {ROOT}, not of this checkout "
                            f"({Path(__file__).resolve().parent.parent}): pip install -e . or set PYTHONPATH")

os.environ.setdefault("MPLBACKEND", "Agg")
# Tests run in parallel workers (pytest -n 2 on 2 cores), and each notebook kernel inherits this
# environment: one BLAS/OpenMP thread per process avoids oversubscribing the cores, which made
# small matmuls ~25x slower in measurements here.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


@pytest.fixture(scope="session")
def fake_data(tmp_path_factory) -> Path:
    """A data directory with stand-in MNIST, CIFAR-10 and CSVs (see tests/fakedata.py)."""
    import fakedata

    root = tmp_path_factory.mktemp("data")
    fakedata.write_all(root)
    return root


@pytest.fixture(scope="session")
def kernel_env(fake_data) -> dict:
    """Environment for notebook kernels: the stand-in data and its checksum override."""
    return {"COURSE_DATA_DIR": str(fake_data), "COURSE_DATA_CHECKSUMS": str(fake_data / "checksums.json"),
            "COURSE_DEVICE": "cpu"}


@pytest.fixture
def patched_checksums(fake_data, monkeypatch):
    """In this process: point course.data at the stand-in files and their checksum override."""
    monkeypatch.setenv("COURSE_DATA_CHECKSUMS", str(fake_data / "checksums.json"))
    monkeypatch.setenv("COURSE_DATA_DIR", str(fake_data))
    return fake_data


@pytest.fixture(scope="session")
def run_once(tmp_path_factory, worker_id):
    """``run_once(name, build)``: run ``build(folder)`` once per test run, even across xdist workers.

    The pattern pytest-xdist documents ("Making session-scoped fixtures execute only once"): the
    first worker to take the ``filelock`` lock builds in a folder shared by all workers of this
    run and saves ``build``'s JSON-serialisable result; the others wait for the lock and read it.
    Without xdist (``worker_id == "master"``) the folder is in this session's temp folder.
    """
    import json

    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent  # xdist: the run's folder, above the workers'

    def run(name: str, build):
        folder = shared / f"once-{name}"
        folder.mkdir(exist_ok=True)
        done = folder / "result.json"
        with FileLock(str(folder) + ".lock"):
            if not done.is_file():
                done.write_text(json.dumps(build(folder), default=str))
            return json.loads(done.read_text())

    return run


@pytest.fixture(scope="session")
def smoke_runs(run_once, kernel_env) -> dict:
    """Every lesson and assignment solution run once in smoke mode, 2 at a time, on the stand-in
    data: ``{"folder": where the executed copies and results.json are, "results": {file name:
    the runner's row}}``. ``tests/test_notebooks.py`` asserts on each row and ``tests/test_site.py``
    publishes the executed lessons, so each notebook runs once per test run, not twice."""
    from course import runner

    def build(folder: Path) -> dict:
        from test_notebooks import LESSONS, SOLUTIONS

        out = folder / "runs"
        with runner._environment(kernel_env):
            runner.run(LESSONS + SOLUTIONS, out_dir=out, smoke=True, device="cpu",
                       data_dir=kernel_env["COURSE_DATA_DIR"], timeout=300, verbose=False, jobs=2)
        import json

        rows = json.loads((out / "results.json").read_text())["results"]
        return {"folder": str(out), "results": {Path(r["notebook"]).name: r for r in rows}}

    return run_once("smoke-runs", build)
