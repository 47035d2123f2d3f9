"""Lesson 16's DistributedDataParallel script, launched with torchrun: 2 CPU processes (gloo).

DDP's promise is that every process ends with the same model although each one trained on its
own part of the data. The script writes each rank's ``state_dict`` and the indices of the samples
it saw; this test compares them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course.paths import ROOT

SCRIPT = ROOT / "notebooks" / "scripts" / "ddp_cifar.py"
WORLD_SIZE, STEPS, BATCH = 2, 3, 16

pytestmark = pytest.mark.slow  # torchrun starts two processes: `make test-fast` leaves this out


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> Path:
    """Run the script once: 2 processes, gloo, synthetic data, a few steps; returns its --out."""
    out = tmp_path_factory.mktemp("ddp")
    # torchrun is `python -m torch.distributed.run`; this form works in any virtual environment.
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={WORLD_SIZE}", str(SCRIPT), "--data", "synthetic",
           "--backend", "gloo", "--steps", str(STEPS), "--batch-size", str(BATCH),
           "--width", "4", "--num-samples", "256", "--out", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"torchrun failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return out


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_both_ranks_end_with_identical_weights(ddp_run):
    states = [_load(ddp_run / f"rank{r}.pt") for r in range(WORLD_SIZE)]
    assert states[0].keys() == states[1].keys()
    different = [k for k in states[0] if not torch.equal(states[0][k], states[1][k])]
    assert not different, f"ranks 0 and 1 differ in {different}"
    digests = {json.loads((ddp_run / f"rank{r}.json").read_text())["weights_sha256"]
               for r in range(WORLD_SIZE)}
    assert len(digests) == 1


def test_training_changed_the_weights(ddp_run):
    initial, final = _load(ddp_run / "initial.pt"), _load(ddp_run / "rank0.pt")
    changed = [k for k in initial if k.endswith("weight") and not torch.equal(initial[k], final[k])]
    assert changed, "no weight changed: the script did not train"


def test_each_rank_saw_its_own_shard(ddp_run):
    summaries = [json.loads((ddp_run / f"rank{r}.json").read_text()) for r in range(WORLD_SIZE)]
    for r, s in enumerate(summaries):
        assert (s["rank"], s["world_size"], s["backend"], s["steps"]) == (r, WORLD_SIZE, "gloo", STEPS)
        assert len(s["samples_seen"]) == STEPS * BATCH
        assert torch.isfinite(torch.tensor(s["final_loss"]))
    seen = [set(s["samples_seen"]) for s in summaries]
    assert not seen[0] & seen[1], "both ranks trained on the same samples"

