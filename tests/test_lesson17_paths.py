"""Lesson 17 has two paths: with torchvision's ImageNet weights it fine-tunes a ResNet-18 on
CIFAR-10; without them (offline, as in the plain smoke test) it pretrains a small ResNet on five
CIFAR-10 classes and transfers it to the other five. The smoke test of tests/test_notebooks.py
runs offline, so it only takes the second path; this test takes the first, with a weight file
of RANDOM numbers placed where torch.hub caches the download (torch.hub reads a cached file
without fetching or checking it). Only the plumbing is tested here, never an accuracy.
"""
from __future__ import annotations

import pytest
import torch

from course import runner
from course.paths import ROOT


@pytest.mark.notebook
@pytest.mark.slow
def test_lesson_17_with_cached_imagenet_weights(kernel_env, tmp_path):
    from torchvision.models import ResNet18_Weights, resnet18

    torch_home = tmp_path / "torch"
    cached = torch_home / "hub" / "checkpoints" / ResNet18_Weights.DEFAULT.url.rsplit("/", 1)[-1]
    cached.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(resnet18(weights=None).state_dict(), cached)   # stands in for the download
    lesson = next((ROOT / "notebooks").glob("17_*.ipynb"))
    with runner._environment({**kernel_env, "TORCH_HOME": str(torch_home)}):
        result = runner.run_notebook(lesson, tmp_path / "runs", runner.smoke_parameters("cpu"), timeout=300)
    assert result.status == "ok", result.error
    m = result.metrics
    assert m["pretrained_weights"] == 1
    assert {"finetune_test_acc", "scratch_test_acc", "probe_test_acc", "transfer_gain"} <= set(m)
    assert not [k for k in m if k.startswith("cifar5_")], m      # the offline experiment did not run
