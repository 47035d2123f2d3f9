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


def _titles(fig):
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


def test_curves_plot_the_given_values():
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "test_loss": [1.1, 0.7]})
    ax = plot.curves(history, x="epoch", ys=["train_loss", "test_loss"]).axes[0]
    assert [line.get_label() for line in ax.lines] == ["train_loss", "test_loss"]
    assert ax.lines[1].get_xdata().tolist() == [1, 2] and ax.lines[1].get_ydata().tolist() == [1.1, 0.7]
    assert ax.get_xlabel() == "epoch" and ax.get_legend() is not None
    ax = plot.curves({"sgd": [3, 2, 1], "adam": torch.tensor([3.0, 1.0, 0.5])}, logy=True).axes[0]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "step"
    assert ax.lines[1].get_xdata().tolist() == [1, 2, 3] and ax.lines[1].get_ydata().tolist() == [3.0, 1.0, 0.5]


def test_loss_surface_marks_the_minimum():
    w, b = np.meshgrid(np.linspace(0, 4, 5), np.linspace(-2, 2, 5))
    fig = plot.loss_surface(w, b, (w - 2) ** 2 + b**2)
    contour_ax = fig.axes[1]
    star = contour_ax.lines[0]
    assert (star.get_xdata()[0], star.get_ydata()[0]) == (2.0, 0.0)
    assert star.get_label() == "minimum (2.00, 0.00)" and _titles(fig)[:2] == ["loss surface", "contours"]


def test_image_grid_titles_and_pixels():
    images = torch.rand(10, 1, 28, 28)
    fig = plot.image_grid(images, torch.arange(10), predictions=torch.zeros(10))
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 16 and len(shown) == 10  # 2 rows of 8, six left empty
    assert [ax.get_title() for ax in shown[:3]] == ["0 / 0", "1 / 0", "2 / 0"]
    assert [ax.title.get_color() for ax in shown[:2]] == ["black", "red"]  # wrong ones turn red
    assert np.allclose(shown[3].images[0].get_array(), images[3, 0].numpy())
    X = torch.randint(0, 255, (4, 3, 8, 8))
    fig = plot.image_grid(X, [0, 1, 2, 3], classes=list("abcd"))
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c", "d"]
    assert np.allclose(fig.axes[2].images[0].get_array(), X[2].permute(1, 2, 0).numpy() / 255)


def test_decision_boundary_colours_the_plane_by_the_prediction():
    X = np.array([[-1.0, 0.0], [1.0, 0.5], [0.5, -1.0], [-0.5, 1.0]])
    fig = plot.decision_boundary(lambda P: (P[:, 0] > 0).astype(float), X, np.array([0, 1, 1, 0]),
                                 resolution=50)
    ax = fig.axes[0]
    assert ax.collections[-1].get_offsets().tolist() == X.tolist()  # the scattered points
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("x1", "x2", "decision boundary")
    filled, boundary = ax.collections[0], ax.collections[1]
    assert filled.levels.min() == 0 and filled.levels.max() == 1  # both predictions coloured
    assert boundary.levels.tolist() == [0.5]  # the boundary line where the prediction crosses 0.5


def test_timing_bars_and_grad_norms_show_the_numbers():
    fig = plot.timing_bars({"cpu": 0.01, "cuda": 0.001})
    ax = fig.axes[0]
    assert [bar.get_height() for bar in ax.patches] == pytest.approx([10.0, 1.0])  # in ms
    assert [t.get_text() for t in ax.texts] == ["10", "1"] and ax.get_ylabel() == "ms"
    fig = plot.grad_norms({"plain": {"a": 1e-4, "b": 1e-2}, "residual": [1e-1, 1e-1]})
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and [line.get_label() for line in ax.lines] == ["plain", "residual"]
    assert ax.lines[0].get_ydata().tolist() == [1e-4, 1e-2] and ax.lines[1].get_xdata().tolist() == [1, 2]


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
    assert isinstance(fig, Figure) and len(fig.axes[0].lines) == 1
    assert fig.axes[0].lines[0].get_xdata().tolist() == [1, 2] and fig.axes[0].lines[0].get_ydata().tolist() == [1.0, 0.5]


def test_smooth_is_bias_corrected():
    assert np.allclose(plot.smooth([5.0, 5.0, 5.0]), 5.0)
    noisy = np.sin(np.linspace(0, 3, 200)) + np.random.default_rng(0).normal(0, 0.5, 200)
    assert np.std(np.diff(plot.smooth(noisy))) < np.std(np.diff(noisy))


def test_layer_histograms_one_row_per_net_one_column_per_layer():
    rows = {"good": [torch.randn(500) for _ in range(4)],
            "shrinks": [torch.randn(500) * 10.0 ** -k for k in range(4)]}
    fig = plot.layer_histograms(rows, layers=[1, 4], title="activations")
    assert len(fig.axes) == 4 and fig._suptitle.get_text() == "activations"
    titles = [(ax.get_title(loc="left"), ax.get_title(loc="right")) for ax in fig.axes]
    assert titles[0][0] == "layer 1" and titles[1][0] == "layer 4"
    assert titles[3][1] == f"std {rows['shrinks'][3].numpy().std():.2g}"     # 1e-3 scale shows in the number
    assert fig.axes[0].get_ylabel() == "good" and fig.axes[2].get_ylabel() == "shrinks"
    inf_row = {"blows up": [np.array([1.0, 2.0, np.inf, np.nan])]}
    assert "std 0.5" in plot.layer_histograms(inf_row).axes[0].get_title(loc="right")
    relu_like = {"relu": [np.array([0.0, 0.0, 0.0, 1.0, 3.0])]}
    kept = plot.layer_histograms(relu_like, bins=2, drop_zeros=True).axes[0]
    assert kept.patches[0].get_data().values.tolist() == [1, 1]            # the zeros are not drawn
    assert kept.get_title(loc="right") == f"std {np.std([0, 0, 0, 1, 3]):.2g}"   # but count in the std
    with pytest.raises(ValueError, match="cannot show layer"):
        plot.layer_histograms(rows, layers=[5])
