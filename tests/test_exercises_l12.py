"""The checks of lesson 12: a correct answer passes, a wrong one and the shipped stub fail clearly."""
from __future__ import annotations

import torch

from course.exercises import l12


def stub(*args):
    """What the notebook ships: the learner has not written anything yet."""
    return None


def good_size(size, kernel, padding=0, stride=1):
    return (size + 2 * padding - kernel) // stride + 1


def test_conv_output_size(capsys):
    assert l12.conv_output_size(good_size) == 1.0
    assert "correct" in capsys.readouterr().out


def test_conv_output_size_wrong(capsys):
    # ignores the stride entirely
    assert l12.conv_output_size(lambda s, k, p=0, st=1: s + 2 * p - k + 1) < 1.0
    assert "expected 16, got 32" in capsys.readouterr().out
    # forgets the floor: a float instead of the integer size
    assert l12.conv_output_size(lambda s, k, p=0, st=1: (s + 2 * p - k) / st + 1) < 1.0
    assert "expected 16, got 16.5" in capsys.readouterr().out
    # always wrong: returns the input size
    assert l12.conv_output_size(lambda s, k, p=0, st=1: s - 1) == 0
    assert "expected 24, got 27" in capsys.readouterr().out


def test_conv_output_size_stub(capsys):
    assert l12.conv_output_size(stub) == 0
    assert "got None" in capsys.readouterr().out


def test_conv_num_parameters(capsys):
    assert l12.conv_num_parameters(lambda c_in, c_out, k: c_out * c_in * k * k + c_out) == 1.0
    assert "correct" in capsys.readouterr().out


def test_conv_num_parameters_wrong(capsys):
    assert l12.conv_num_parameters(lambda c_in, c_out, k: c_out * c_in * k * k) == 0  # no biases
    assert "expected 416, got 400" in capsys.readouterr().out


def test_conv_num_parameters_stub(capsys):
    assert l12.conv_num_parameters(stub) == 0
    assert "got None" in capsys.readouterr().out


def good_pool(x):
    N, C, H, W = x.shape
    return x.reshape(N, C, H // 2, 2, W // 2, 2).amax(dim=(3, 5))


def test_max_pool2x2(capsys):
    assert l12.max_pool2x2(good_pool) == 1.0
    assert "correct" in capsys.readouterr().out


def test_max_pool2x2_wrong(capsys):
    # averages instead of taking the maximum
    assert l12.max_pool2x2(lambda x: torch.nn.functional.avg_pool2d(x, 2)) == 0
    assert "expected" in capsys.readouterr().out
    # reshapes in the wrong order: mixes rows and columns
    bad = lambda x: x.reshape(x.shape[0], x.shape[1], 2, x.shape[2] // 2, 2, x.shape[3] // 2).amax(dim=(2, 4))
    assert l12.max_pool2x2(bad) < 1.0
    assert "expected" in capsys.readouterr().out


def test_max_pool2x2_stub(capsys):
    assert l12.max_pool2x2(stub) == 0
    assert "got None" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# Exercise 4: a wider network, timed
# --------------------------------------------------------------------------------------------
class LeNet(torch.nn.Module):
    def __init__(self, channels=(16, 32)):
        super().__init__()
        c1, c2 = channels
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, c1, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(c1, c2, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2))
        self.classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(c2 * 16, 100),
                                              torch.nn.ReLU(), torch.nn.Linear(100, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def time_forward_backward(model, X, y):
    import course

    def step():
        torch.nn.functional.cross_entropy(model(X), y).backward()
    step()                                                   # warm-up
    timer = course.device.Timer(X.device)
    with timer:
        step()
    return timer.times[-1]


def test_wider_network(capsys):
    assert l12.check_wider_network(time_forward_backward, LeNet(), LeNet((32, 64)), "cpu", 16) == 1.0
    out = capsys.readouterr().out
    assert "correct" in out and "ms" in out and "the multiplications" in out
    assert "means a GPU" in out                          # the CPU explanation


def test_wider_network_not_wider(capsys):
    assert l12.check_wider_network(time_forward_backward, LeNet(), LeNet(), "cpu", 16) == 0
    assert "expected more than LeNet's [16, 32]" in capsys.readouterr().out
    assert l12.check_wider_network(time_forward_backward, LeNet(), LeNet((8, 64)), "cpu", 16) == 0
    assert "got [8, 64]" in capsys.readouterr().out
    assert l12.check_wider_network(time_forward_backward, LeNet(), None, "cpu", 16) == 0
    assert "got None" in capsys.readouterr().out


def test_wider_network_timing_must_run_backward_and_return_seconds(capsys):
    def forward_only(model, X, y):
        with torch.no_grad():
            model(X)
        return 0.01
    assert l12.check_wider_network(forward_only, LeNet(), LeNet((32, 64)), "cpu", 16) == 0
    assert "must include loss.backward()" in capsys.readouterr().out
    assert l12.check_wider_network(stub, LeNet(), LeNet((32, 64)), "cpu", 16) == 0
    assert "returned None" in capsys.readouterr().out
