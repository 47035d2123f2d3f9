import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course import plot  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_every_plot_returns_a_figure():
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "test_loss": [1.1, 0.7]})
    w, b = np.meshgrid(np.linspace(0, 4, 5), np.linspace(-2, 2, 5))
    figures = [
        plot.curves(history, x="epoch", ys=["train_loss", "test_loss"]),
        plot.curves({"sgd": [3, 2, 1], "adam": torch.tensor([3.0, 1.0, 0.5])}, logy=True),
        plot.loss_surface(w, b, (w - 2) ** 2 + b**2),
        plot.image_grid(torch.rand(10, 1, 28, 28), torch.arange(10), predictions=torch.zeros(10)),
        plot.image_grid(torch.randint(0, 255, (4, 3, 8, 8)), [0, 1, 2, 3], classes=list("abcd")),
        plot.confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], ["a", "b", "c"]),
        plot.decision_boundary(lambda P: 1 / (1 + np.exp(-P[:, 0])), np.random.randn(20, 2),
                               np.random.randint(0, 2, 20)),
        plot.timing_bars({"cpu": 0.01, "cuda": 0.001}),
        plot.grad_norms({"plain": {"a": 1e-4, "b": 1e-2}, "residual": [1e-1, 1e-1]}),
    ]
    assert all(isinstance(f, Figure) for f in figures)


def test_confusion_matrix_counts():
    fig = plot.confusion_matrix([0, 0, 1], [0, 1, 1])
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["0", "1", "1", "1"]


def test_live_plot_headless_leaves_one_final_figure():
    live = plot.LivePlot(["train_loss"], ["train_acc"])
    assert not live.live
    for epoch in (1, 2):
        live.update(pd.DataFrame({"epoch": list(range(1, epoch + 1)), "train_loss": [1.0, 0.5][:epoch],
                                  "train_acc": [0.5, 0.7][:epoch]}))
    fig = live.close()
    assert isinstance(fig, Figure) and len(fig.axes[0].lines) == 1 and len(fig.axes[0].lines[0].get_xdata()) == 2


def test_smooth_is_bias_corrected():
    assert np.allclose(plot.smooth([5.0, 5.0, 5.0]), 5.0)
    noisy = np.sin(np.linspace(0, 3, 200)) + np.random.default_rng(0).normal(0, 0.5, 200)
    assert np.std(np.diff(plot.smooth(noisy))) < np.std(np.diff(noisy))
