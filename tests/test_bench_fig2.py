"""Figure 2 of ``make bench`` (bench/run.py): lesson 12 run several times, median and range.

The lesson runs are replaced by canned results, so this checks the aggregation in milliseconds.
"""
from __future__ import annotations

import importlib.util
import types

import pytest

from course.paths import ROOT


@pytest.fixture
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_runs(bench, monkeypatch, runs):
    """Make lesson_seconds_to_99 return the given (seconds_to_99 or None, test_acc, run_seconds)."""
    calls = iter(runs)

    def fake(path, device, tiny, out=None):
        seconds, acc, whole = next(calls)
        metrics = {"test_acc": acc, **({"seconds_to_99": seconds} if seconds is not None else {})}
        return {"result": "canned", "value": seconds,
                "details": {"status": "ok", "run_seconds": whole, "metrics": metrics}}

    monkeypatch.setattr(bench, "lesson_seconds_to_99", fake)


def test_figure_2_reports_median_and_range_of_three_runs(bench, monkeypatch):
    _fake_runs(bench, monkeypatch, [(25.0, 0.9930, 50.0), (21.0, 0.9925, 44.0), (30.0, 0.9932, 60.0)])
    entry = bench.fig_2_lesson12_cpu(types.SimpleNamespace(tiny=False))
    assert entry["value"] == 25.0
    assert "median 25.0 (min 21.0, max 30.0) over 3 runs" in entry["result"]
    assert "final test accuracy median 99.30 (min 99.25, max 99.32)%" in entry["result"]
    assert "whole notebook median 50 (min 44, max 60) s" in entry["result"]
    assert entry["details"]["seconds_to_99"] == [25.0, 21.0, 30.0]
    assert len(entry["details"]["runs"]) == 3 and "load_before" in entry["details"]["runs"][0]


def test_figure_2_says_when_a_run_misses_99(bench, monkeypatch):
    _fake_runs(bench, monkeypatch, [(25.0, 0.9930, 50.0), (None, 0.9890, 44.0), (30.0, 0.9932, 60.0)])
    entry = bench.fig_2_lesson12_cpu(types.SimpleNamespace(tiny=False))
    assert entry["value"] is None
    assert entry["result"].startswith("only 2 of 3 runs reached 99.0%")
