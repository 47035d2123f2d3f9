"""What only a CUDA device exercises: mixed precision in ``fit``, the scheduler stepped per batch
and the in-memory loader with its generator on the GPU.

Tests marked ``gpu`` skip (with the reason) where ``torch.cuda.is_available()`` is False; the
parametrised ones also run on the CPU, where they mean the same thing. ``pytest -m gpu`` selects
the GPU half.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from course import data, train

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False)")
CUDA = pytest.param("cuda", marks=[pytest.mark.gpu, needs_cuda])
DEVICES = ["cpu", CUDA]


def _problem(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 1, 4, 4, generator=g)
    return X, (X.flatten(1).sum(1) > 0).long()


def _model():
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2))


def _output_dtypes(model):
    """dtypes of the last layer's output during training forward passes."""
    seen = []
    model[-1].register_forward_hook(lambda m, i, out: seen.append(out.dtype) if m.training else None)
    return seen


def _fit(model, device, **kwargs):
    X, y = _problem()
    loader = data.InMemoryLoader(X, y, 64, device=device)
    test = data.InMemoryLoader(*_problem(256, 1), 128, shuffle=False, device=device)
    return train.fit(model, loader, test, device=device, num_epochs=3, lr=0.1, live_plot=False,
                     progress=False, **kwargs)


@pytest.mark.gpu
@needs_cuda
def test_fit_amp_bf16_on_cuda():
    train.set_seed(0)
    model = _model()
    dtypes = _output_dtypes(model)
    history = _fit(model, "cuda", amp="bf16")
    assert set(dtypes) == {torch.bfloat16}
    assert history.train_loss.iloc[-1] < history.train_loss.iloc[0] and history.test_acc.iloc[-1] > 0.8
    assert all(p.dtype == torch.float32 and p.device.type == "cuda" for p in model.parameters())


@pytest.mark.gpu
@needs_cuda
def test_fit_amp_fp16_uses_a_grad_scaler(monkeypatch):
    steps = []

    class CountingScaler(torch.amp.GradScaler):
        def step(self, optimizer, *args, **kwargs):
            steps.append(self.get_scale())
            return super().step(optimizer, *args, **kwargs)

    monkeypatch.setattr(train, "_native_bf16", lambda: False)  # amp=True falls back to fp16
    monkeypatch.setattr(torch.amp, "GradScaler", CountingScaler)
    train.set_seed(0)
    model = _model()
    dtypes = _output_dtypes(model)
    history = _fit(model, "cuda", amp=True)
    assert set(dtypes) == {torch.float16}
    assert len(steps) == 3 * 8 and all(s > 1 for s in steps)  # every step went through the scaler
    assert history.train_loss.iloc[-1] < history.train_loss.iloc[0] and history.test_acc.iloc[-1] > 0.8


@pytest.mark.parametrize("device", DEVICES)
def test_scheduler_steps_every_batch(device):
    train.set_seed(0)
    model = _model().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.2, total_steps=3 * 8)
    seen = []
    history = _fit(model, device, optimizer=optimizer, scheduler=scheduler, scheduler_step="batch",
                   log=lambda row: seen.append(scheduler.last_epoch))
    assert seen == [8, 16, 24]  # 512 samples / 64 per batch = 8 steps an epoch
    # The same schedule stepped by hand: the learning rates after 8, 16 and 24 steps.
    ref_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    ref = torch.optim.lr_scheduler.OneCycleLR(ref_opt, max_lr=0.2, total_steps=3 * 8)
    expected = []
    for step in range(1, 25):
        ref_opt.step()
        ref.step()
        if step % 8 == 0:
            expected.append(ref.get_last_lr()[0])
    assert history.lr.tolist() == pytest.approx(expected)
    assert history.train_loss.iloc[-1] < history.train_loss.iloc[0]


@pytest.mark.parametrize("device", DEVICES)
def test_in_memory_loader_on_the_device(device):
    X = torch.randint(0, 256, (100, 3, 8, 8), dtype=torch.uint8)
    y = torch.arange(100)

    def epoch(seed):
        loader = data.InMemoryLoader(X, y, 32, device=device, seed=seed, flip=True, crop_padding=2,
                                     mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
        assert loader.X.device.type == loader.generator.device.type == torch.device(device).type
        return [(xb.cpu(), yb.cpu()) for xb, yb in loader], [(xb.device, yb.device) for xb, yb in loader]

    (a, where), (b, _) = epoch(7), epoch(7)
    assert all(xd.type == yd.type == torch.device(device).type for xd, yd in where)
    assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b))
    assert sorted(torch.cat([yb for _, yb in a]).tolist()) == list(range(100))
    assert a[0][0].dtype == torch.float32 and a[0][0].shape == (32, 3, 8, 8)
