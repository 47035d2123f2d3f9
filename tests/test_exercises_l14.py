"""The checks of lesson 14: a correct block passes, a wrong one and the shipped stub fail clearly."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course.exercises import l14


# ---------------------------------------------------------------------------- pre-activation
class PreActBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(channels), nn.BatchNorm2d(channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)

    def forward(self, x):
        return x + self.conv2(F.relu(self.bn2(self.conv1(F.relu(self.bn1(x))))))


class PreActConvsFirst(PreActBlock):
    """Correct too: the layers are registered in another order (convs before BatchNorms)."""

    def __init__(self, channels):
        nn.Module.__init__(self)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1, self.bn2 = nn.BatchNorm2d(channels), nn.BatchNorm2d(channels)


class PostActBlock(PreActBlock):
    """The original design: right shapes and counts, but a ReLU after the sum."""

    def forward(self, x):
        return F.relu(x + self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


class PreActStub(nn.Module):
    """What the notebook ships."""

    def __init__(self, channels):
        super().__init__()
        ...

    def forward(self, x):
        return None


def test_preact_block(capsys):
    assert l14.preact_block(PreActBlock) == 1.0
    assert l14.preact_block(PreActConvsFirst) == 1.0
    assert "correct" in capsys.readouterr().out


def test_preact_block_wrong(capsys):
    assert l14.preact_block(PostActBlock) == 0
    out = capsys.readouterr().out
    assert "got relu(x): a ReLU after the addition" in out
    assert "expected" in out and "got" in out


def test_preact_block_with_biases(capsys):
    class WithBias(PreActBlock):
        def __init__(self, channels):
            super().__init__(channels)
            self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    assert l14.preact_block(WithBias) == 0
    assert "expected 1,184 parameters, got 1,200" in capsys.readouterr().out


def test_preact_block_stub(capsys):
    assert l14.preact_block(PreActStub) == 0
    out = capsys.readouterr().out
    assert "forward returned None" in out
    assert "expected 1,184 parameters, got 0" in out


def test_a_crash_is_reported(capsys):
    class Crashes(PreActBlock):
        def __init__(self, channels):
            raise ValueError("oops")

    assert l14.preact_block(Crashes) == 0
    assert "raised ValueError: oops" in capsys.readouterr().out
    assert l14.preact_block(None) == 0
    assert "expected an nn.Module class, got None" in capsys.readouterr().out


# ---------------------------------------------------------------------------- bottleneck
class Bottleneck(nn.Module):
    def __init__(self, channels, mid):
        super().__init__()
        self.branch = nn.Sequential(
            nn.Conv2d(channels, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, mid, 3, padding=1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x):
        return F.relu(x + self.branch(x))


class BottleneckStub(nn.Module):
    def __init__(self, channels, mid):
        super().__init__()
        ...

    def forward(self, x):
        return None


def test_bottleneck_block(capsys):
    assert l14.bottleneck_block(Bottleneck) == 1.0
    assert "correct" in capsys.readouterr().out


def test_bottleneck_block_wrong(capsys):
    class NoFinalRelu(Bottleneck):
        def forward(self, x):
            return x + self.branch(x)

    class NoSkip(Bottleneck):
        def forward(self, x):
            return F.relu(self.branch(x))

    assert l14.bottleneck_block(NoFinalRelu) == 0
    assert "the ReLU after the sum is missing" in capsys.readouterr().out
    assert l14.bottleneck_block(NoSkip) == 0
    out = capsys.readouterr().out
    assert "the skip connection (x + ...) is missing" in out
    assert "expected" in out and "got" in out


def test_bottleneck_block_without_padding(capsys):
    class NoPadding(Bottleneck):
        def __init__(self, channels, mid):
            super().__init__(channels, mid)
            self.branch[3].padding = (0, 0)

    assert l14.bottleneck_block(NoPadding) == 0
    assert "forward raised RuntimeError" in capsys.readouterr().out


def test_bottleneck_block_stub(capsys):
    assert l14.bottleneck_block(BottleneckStub) == 0
    out = capsys.readouterr().out
    assert "forward returned None" in out
    assert "expected 320 parameters, got 0" in out  # C=16, mid=4: convs 64 + 144 + 64, BNs 8 + 8 + 32


# ---------------------------------------------------------------------------- dense block
class DenseBlock(nn.Module):
    def __init__(self, in_channels, growth, num_layers):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(in_channels + i * growth), nn.ReLU(),
                          nn.Conv2d(in_channels + i * growth, growth, 3, padding=1, bias=False))
            for i in range(num_layers))

    def forward(self, x):
        for layer in self.layers:
            x = torch.cat([x, layer(x)], dim=1)
        return x


class DenseStub(nn.Module):
    def __init__(self, in_channels, growth, num_layers):
        super().__init__()
        ...

    def forward(self, x):
        return None


def test_dense_block(capsys):
    assert l14.dense_block(DenseBlock) == 1.0
    assert "correct" in capsys.readouterr().out


def test_dense_block_wrong(capsys):
    class NewFirst(DenseBlock):
        def forward(self, x):
            for layer in self.layers:
                x = torch.cat([layer(x), x], dim=1)
            return x

    class OnlyLastInput(DenseBlock):
        """Each layer sees only the previous layer's output: a plain stack, not a dense block."""

        def __init__(self, in_channels, growth, num_layers):
            nn.Module.__init__(self)
            self.layers = nn.ModuleList(
                nn.Sequential(nn.BatchNorm2d(in_channels if i == 0 else growth), nn.ReLU(),
                              nn.Conv2d(in_channels if i == 0 else growth, growth, 3, padding=1,
                                        bias=False))
                for i in range(num_layers))

        def forward(self, x):
            new, outs = x, [x]
            for layer in self.layers:
                new = layer(new)
                outs.append(new)
            return torch.cat(outs, dim=1)

    assert l14.dense_block(NewFirst) == 0
    assert "torch.cat([x, new], dim=1) puts x first" in capsys.readouterr().out
    assert l14.dense_block(OnlyLastInput) == 0
    out = capsys.readouterr().out
    assert "parameters" in out and "expected 1,140 parameters" in out


def test_dense_block_stub(capsys):
    assert l14.dense_block(DenseStub) == 0
    out = capsys.readouterr().out
    assert "forward returned None" in out
    assert "expected 1,140 parameters, got 0" in out
