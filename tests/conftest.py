"""Shared fixtures: stand-in datasets on disk and the environment notebook kernels need."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIM = Path(__file__).resolve().parent / "shim"
sys.path.insert(0, str(Path(__file__).resolve().parent))

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
    """Environment for notebook kernels: the stand-in data and the checksum shim."""
    path = os.pathsep.join(filter(None, [str(SHIM), os.environ.get("PYTHONPATH")]))
    return {"COURSE_DATA_DIR": str(fake_data), "COURSE_TEST_CHECKSUMS": str(fake_data / "checksums.json"),
            "PYTHONPATH": path, "COURSE_DEVICE": "cpu"}


@pytest.fixture
def patched_checksums(fake_data, monkeypatch):
    """In this process: make course.data and torchvision accept the stand-in files."""
    import importlib
    import json

    import torchvision.datasets.cifar as cifar

    import course.data

    monkeypatch.setenv("COURSE_TEST_CHECKSUMS", str(fake_data / "checksums.json"))
    monkeypatch.setenv("COURSE_DATA_DIR", str(fake_data))
    sums = json.loads((fake_data / "checksums.json").read_text())
    monkeypatch.setattr(cifar.CIFAR10, "train_list",
                        [[n, sums["cifar10_md5"][n]] for n, _ in cifar.CIFAR10.train_list])
    monkeypatch.setattr(cifar.CIFAR10, "test_list",
                        [[n, sums["cifar10_md5"][n]] for n, _ in cifar.CIFAR10.test_list])
    monkeypatch.setattr(cifar.CIFAR10, "meta", dict(cifar.CIFAR10.meta, md5=sums["cifar10_md5"]["batches.meta"]))
    import dataclasses

    patched = {k: dataclasses.replace(v, sha256=sums["tabular_sha256"][k]) for k, v in course.data.TABULAR.items()}
    monkeypatch.setattr(course.data, "TABULAR", patched)
    importlib.invalidate_caches()
    return fake_data
