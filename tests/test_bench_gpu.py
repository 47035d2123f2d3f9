"""``make gpu-check`` (bench/run.py figure 6): without CUDA it says so and records "not measured
(no GPU)", never a number; on a GPU its parts are put together into one result. The GPU half is
checked here with the parts replaced, and the parsers on fixed inputs; the torchrun and pytest
parts run for real on the CPU (slow)."""
from __future__ import annotations

import importlib.util
import json
import sys

import pytest
import torch

from course.paths import ROOT


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run_under_test", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_without_cuda_it_says_so_and_records_no_number(bench, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench.main(["--only", "6", "--out", str(tmp_path), "--no-readme"]) == 0
    out = capsys.readouterr().out
    assert "NO GPU: torch.cuda.is_available() is False" in out
    figure = json.loads((tmp_path / "results.json").read_text())["figures"]["6"]
    assert figure["value"] is None and figure["machine"]["gpu"] is None
    assert figure["result"] == "; ".join(f"{part}: not measured (no GPU)" for part in bench.GPU_PARTS)
    assert "not measured (no GPU)" in (tmp_path / "results.md").read_text()


def test_on_a_gpu_the_parts_make_one_result(bench, monkeypatch):
    monkeypatch.setattr(bench, "gpu_names", lambda: ["Fake H100", "Fake H100"])
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    monkeypatch.setattr(bench, "lesson_seconds_to_99", lambda path, device, tiny: {
        "result": "7 s to 99.0%", "value": 7.0})
    monkeypatch.setattr(bench, "_lesson16_gpu", lambda tiny: {"result": bench.lesson16_text(
        "ok", {"fast_test_acc": 0.9312, "fast_tta_acc": 0.9405, "fast_seconds": 41.2, "fast_run": "full"})})
    monkeypatch.setattr(bench, "gpu_tests", lambda: {"result": "3 passed, 0 failed, 0 skipped"})
    calls = []
    monkeypatch.setattr(bench, "ddp_run", lambda nproc, out, **kw: calls.append((nproc, kw)) or {
        "result": "2 process(es), backend nccl"})
    entry = bench.fig_6_gpu(type("Args", (), {"tiny": False})())
    assert entry["result"] == (
        "2 x Fake H100: lesson 12 seconds to 99%: 7 s to 99.0%; lesson 16 fast ResNet: 93.12% CIFAR-10 "
        "test accuracy, 94.05% with flip averaging, 41 s of training (full run); pytest -m gpu: 3 passed, "
        "0 failed, 0 skipped; DDP with torchrun: 2 process(es), backend nccl")
    assert entry["value"] == 7.0 and entry["details"]["gpus"] == ["Fake H100", "Fake H100"]
    assert calls == [(2, {"epochs": bench.GPU_DDP_EPOCHS})]


def test_a_failing_part_does_not_lose_the_others(bench, monkeypatch):
    monkeypatch.setattr(bench, "gpu_names", lambda: ["Fake T4"])
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA error: out of memory")

    monkeypatch.setattr(bench, "lesson_seconds_to_99", broken)
    monkeypatch.setattr(bench, "_lesson16_gpu", lambda tiny: {"result": "failed: cell 21"})
    monkeypatch.setattr(bench, "gpu_tests", lambda: {"result": "3 passed, 0 failed, 0 skipped"})
    monkeypatch.setattr(bench, "ddp_run", lambda nproc, out, **kw: {"result": "1 process(es)"})
    result = bench.fig_6_gpu(type("Args", (), {"tiny": True})())["result"]
    assert "lesson 12 seconds to 99%: failed: RuntimeError: CUDA error: out of memory" in result
    assert "pytest -m gpu: 3 passed" in result and "DDP with torchrun: 1 process(es)" in result


def test_lesson16_text(bench):
    assert bench.lesson16_text("ok", {"fast_test_acc": 0.5, "fast_seconds": 3.0}) == \
        "50.00% CIFAR-10 test accuracy, 3 s of training"
    assert bench.lesson16_text("failed", {}, "cell 9: ValueError") == "failed: cell 9: ValueError"
    assert bench.lesson16_text("ok", {"other": 1}).startswith("the lesson recorded no fast_test_acc")


def test_junit_counts(bench):
    xml = ('<?xml version="1.0"?><testsuites><testsuite name="pytest" errors="1" failures="1" '
           'skipped="2" tests="7" time="3.25"></testsuite></testsuites>')
    assert bench.junit_counts(xml) == {"passed": 3, "failed": 1, "errors": 1, "skipped": 2, "seconds": 3.2}


def _rank(folder, rank, digest, **extra):
    summary = {"rank": rank, "world_size": 2, "backend": "nccl", "device": f"cuda:{rank}", "steps": 90,
               "seconds": 10.0 + rank, "final_loss": 0.5, "weights_sha256": digest, "samples_seen": [],
               "test_acc": 0.8123 if rank == 0 else None, "test_size": 10000, **extra}
    (folder / f"rank{rank}.json").write_text(json.dumps(summary))


def test_ddp_summary(bench, tmp_path):
    _rank(tmp_path, 0, "abc")
    _rank(tmp_path, 1, "abc")
    s = bench.ddp_summary(tmp_path)
    assert s["result"] == ("2 process(es), backend nccl, 90 steps in 11.0 s, test accuracy 81.23% "
                           "(10000 images), weights identical on every rank")
    assert s["details"]["identical_weights"] is True and s["details"]["devices"] == ["cuda:0", "cuda:1"]
    _rank(tmp_path, 1, "xyz")
    assert bench.ddp_summary(tmp_path)["result"].endswith("WEIGHTS DIFFER between ranks")
    assert bench.ddp_summary(tmp_path / "missing")["result"].startswith("failed: no rank*.json")


@pytest.mark.slow
def test_ddp_run_for_real_on_two_cpu_processes(bench, tmp_path):
    s = bench.ddp_run(2, tmp_path / "ddp", backend="gloo", data="synthetic", steps=2, width=4,
                      extra=["--batch-size", "8", "--num-samples", "64"])
    assert s["result"].startswith("2 process(es), backend gloo, 2 steps in "), s["result"]
    assert s["result"].endswith("weights identical on every rank") and s["details"]["test_acc"] is not None


@pytest.mark.slow
def test_gpu_tests_for_real(bench, tmp_path):
    s = bench.gpu_tests(["tests/test_gpu.py"], out=tmp_path / "report.xml")
    if torch.cuda.is_available():
        assert s["details"]["passed"] > 0 and s["details"]["failed"] == 0, s
    else:
        assert s["result"].startswith("0 passed, 0 failed, ") and s["details"]["skipped"] > 0, s
