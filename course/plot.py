"""Plots the lessons share. Every function returns its matplotlib ``Figure``.

===========================  ==============================================  ==========
function                     what                                            lessons
===========================  ==============================================  ==========
``curves``                   one or more series against epochs/steps          01-16
``LivePlot``                 training curves updating in place                10-16
``loss_surface``             3D surface (and contours) of a loss over 2 knobs 01
``image_grid``               images with labels                               10-17
``confusion_matrix``         counts of true vs predicted classes              15
``decision_boundary``        a classifier's regions for two features          07-08
``timing_bars``              bar chart of timings                             00, 05
``grad_norms``               gradient norm per layer (log scale)              14
``layer_histograms``         histograms of values per layer, one row per net  11
===========================  ==============================================  ==========
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _numpy(x):
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def smooth(values: Sequence[float], beta: float = 0.9) -> np.ndarray:
    """Exponential moving average with bias correction (lesson 02): ``s_t = b*s_{t-1} + (1-b)*v_t``."""
    values = np.asarray(values, dtype=float)
    out, s = np.empty_like(values), 0.0
    for t, v in enumerate(values, start=1):
        s = beta * s + (1 - beta) * v
        out[t - 1] = s / (1 - beta**t)
    return out


def curves(data, x: str | None = None, ys: Sequence[str] | None = None, *, xlabel: str | None = None,
           ylabel: str | None = None, title: str | None = None, logy: bool = False, ax=None,
           figsize=(6, 4)):
    """Plot series against a common x axis.

    ``data`` is a pandas DataFrame (``x`` names its column, ``ys`` the columns to plot), or a
    mapping ``label -> values`` (x is the step number, or an array passed as ``x``).
    """
    fig, ax = _axes(ax, figsize)
    if hasattr(data, "columns"):
        xs = data[x] if x else data.index
        for name in ys or [c for c in data.columns if c != x]:
            ax.plot(xs, data[name], label=name, marker="o" if len(data) < 30 else None)
        xlabel = xlabel or x
    else:
        for name, values in data.items():
            values = _numpy(values)
            xs = np.arange(1, len(values) + 1) if x is None or isinstance(x, str) else _numpy(x)
            ax.plot(xs, values, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel or "step", ylabel=ylabel or "", title=title or "")
    ax.grid(alpha=0.3)
    if len(ax.get_lines()) > 1:
        ax.legend()
    return fig


def _axes(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


class LivePlot:
    """Training curves that redraw in place in a notebook after each ``update(history)``.

    Outside a notebook kernel (a script, a headless run) nothing is drawn until ``close()``,
    which leaves one final static figure. ``groups`` are lists of history columns, one panel each.
    """

    def __init__(self, *groups: Sequence[str], figsize=(10, 3.5)):
        self.groups = [list(g) for g in groups]
        self.fig, axes = plt.subplots(1, len(self.groups), figsize=figsize, squeeze=False)
        self.axes = axes[0]
        self.live = _in_kernel()
        self.handle = None
        self.history = None

    def update(self, history) -> None:
        self.history = history
        self._draw()
        if self.live:
            from IPython.display import display

            if self.handle is None:
                self.handle = display(self.fig, display_id=True)
            else:
                self.handle.update(self.fig)

    def _draw(self) -> None:
        for ax, group in zip(self.axes, self.groups):
            ax.clear()
            for column in group:
                if column in self.history:
                    ax.plot(self.history["epoch"], self.history[column], marker="o", label=column)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.legend()
        self.fig.tight_layout()

    def close(self):
        """Finish: keep the in-place figure (notebook) or show one final figure (headless)."""
        plt.close(self.fig)  # stops the inline backend from drawing it a second time
        if not self.live and self.history is not None and "inline" not in matplotlib.get_backend():
            self._draw()
        return self.fig


def loss_surface(W, B, L, *, xlabel="w", ylabel="b", zlabel="loss", title="loss surface",
                 figsize=(11, 4.5)):
    """A 3D surface of ``L[i, j] = loss(W[i, j], B[i, j])`` beside its contour map (lesson 01)."""
    W, B, L = map(_numpy, (W, B, L))
    fig = plt.figure(figsize=figsize)
    ax3d = fig.add_subplot(1, 2, 1, projection="3d")
    ax3d.plot_surface(W, B, L, cmap="viridis", alpha=0.9)
    ax3d.set(xlabel=xlabel, ylabel=ylabel, zlabel=zlabel, title=title)
    ax2d = fig.add_subplot(1, 2, 2)
    contour = ax2d.contourf(W, B, L, levels=30, cmap="viridis")
    fig.colorbar(contour, ax=ax2d)
    i = np.unravel_index(np.argmin(L), L.shape)
    ax2d.plot(W[i], B[i], "r*", markersize=12, label=f"minimum ({W[i]:.2f}, {B[i]:.2f})")
    ax2d.set(xlabel=xlabel, ylabel=ylabel, title="contours")
    ax2d.legend()
    fig.tight_layout()
    return fig


def image_grid(images, labels=None, classes: Sequence[str] | None = None, *, predictions=None,
               ncols: int = 8, mean=None, std=None, figsize=None, title: str | None = None):
    """Show images (N, C, H, W) or (N, H, W) in a grid with their labels.

    ``mean``/``std`` undo a normalisation; with ``predictions`` the title of each image reads
    ``label / prediction`` and wrong ones turn red.
    """
    images = _numpy(images).astype(float)
    if images.ndim == 3:
        images = images[:, None]
    if mean is not None:
        images = images * np.asarray(std).reshape(1, -1, 1, 1) + np.asarray(mean).reshape(1, -1, 1, 1)
    if images.max() > 1.5:
        images = images / 255
    n = len(images)
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize or (1.3 * ncols, 1.5 * nrows), squeeze=False)
    name = (lambda k: classes[int(k)]) if classes is not None else (lambda k: str(int(k)))
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        img = np.clip(images[k].transpose(1, 2, 0), 0, 1)
        ax.imshow(img.squeeze(-1) if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None)
        if labels is not None:
            text, color = name(_numpy(labels)[k]), "black"
            if predictions is not None:
                pred = _numpy(predictions)[k]
                text += f" / {name(pred)}"
                color = "black" if pred == _numpy(labels)[k] else "red"
            ax.set_title(text, fontsize=8, color=color)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrix(y, y_hat, classes: Sequence[str] | None = None, *, normalize: bool = False,
                     figsize=(6, 5), title="confusion matrix"):
    """Counts of (true class, predicted class) as a heat map with numbers (lesson 15)."""
    y, y_hat = _numpy(y).astype(int), _numpy(y_hat).astype(int)
    k = len(classes) if classes is not None else int(max(y.max(), y_hat.max())) + 1
    counts = np.zeros((k, k), dtype=int)
    np.add.at(counts, (y, y_hat), 1)
    shown = counts / np.maximum(counts.sum(1, keepdims=True), 1) if normalize else counts
    fig, ax = plt.subplots(figsize=figsize)
    im = ax.imshow(shown, cmap="Blues")
    fig.colorbar(im, ax=ax)
    names = list(classes) if classes is not None else list(range(k))
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    limit = shown.max() / 2 if shown.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{shown[i, j]:.2f}" if normalize else str(counts[i, j]), ha="center",
                    va="center", fontsize=7, color="white" if shown[i, j] > limit else "black")
    fig.tight_layout()
    return fig


def decision_boundary(predict: Callable, X, y, *, resolution: int = 200, feature_names=("x1", "x2"),
                      title="decision boundary", figsize=(5.5, 4.5)):
    """Colour the plane by ``predict(points)`` (probabilities or classes) and scatter ``X, y`` on it.

    ``predict`` takes an (M, 2) float32 numpy array and returns M values.
    """
    X, y = _numpy(X), _numpy(y).ravel()
    pad = 0.1 * (X.max(0) - X.min(0)) + 1e-9
    lo, hi = X.min(0) - pad, X.max(0) + pad
    g1, g2 = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.c_[g1.ravel(), g2.ravel()].astype(np.float32)
    Z = _numpy(predict(grid)).reshape(g1.shape)
    fig, ax = plt.subplots(figsize=figsize)
    filled = ax.contourf(g1, g2, Z, levels=20, cmap="RdBu_r", alpha=0.7)
    fig.colorbar(filled, ax=ax)
    if Z.min() < 0.5 < Z.max():
        ax.contour(g1, g2, Z, levels=[0.5], colors="k", linewidths=1.5)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", edgecolors="k", s=18)
    ax.set(xlabel=feature_names[0], ylabel=feature_names[1], title=title)
    fig.tight_layout()
    return fig


def timing_bars(times: Mapping[str, float], *, unit: str = "ms", title: str = "time per call",
                figsize=(6, 3.5)):
    """Bar chart of ``name -> seconds`` (shown in ``unit``), each bar labelled (lessons 00, 05)."""
    scale = {"s": 1, "ms": 1e3, "us": 1e6}[unit]
    names, values = list(times), [times[k] * scale for k in times]
    fig, ax = plt.subplots(figsize=figsize)
    bars = ax.bar(names, values, color=plt.cm.tab10.colors[: len(names)])
    ax.bar_label(bars, fmt="%.3g")
    ax.set(ylabel=unit, title=title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def grad_norms(norms: Mapping[str, Mapping[str, float] | Sequence[float]], *,
               title="gradient norm per layer", figsize=(7, 4)):
    """Gradient norm per layer (log scale), one line per model: ``{"plain": {...}, "resnet": {...}}``.

    Each value is a mapping layer -> norm (``train.layer_grad_norms``) or a list of norms.
    """
    fig, ax = plt.subplots(figsize=figsize)
    for label, values in norms.items():
        values = list(values.values()) if isinstance(values, Mapping) else list(values)
        ax.plot(range(1, len(values) + 1), values, marker="o", label=label)
    ax.set_yscale("log")
    ax.set(xlabel="layer (input -> output)", ylabel="||grad of weight||", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def layer_histograms(rows: Mapping[str, Sequence], *, layers: Sequence[int] | None = None,
                     bins: int = 40, title: str | None = None, xlabel: str = "value",
                     drop_zeros: bool = False, figsize=None):
    """Histograms of per-layer values (activations, gradients), one row per network (lesson 11).

    ``rows`` maps a label (e.g. ``"ReLU, He init"``) to a list with one tensor or array per
    layer (any shape; flattened). ``layers`` picks the layers to show, numbered from 1
    (default: all). Each panel has its own x range and names the standard deviation of its
    values, so a row whose values shrink or blow up layer after layer shows it in the numbers
    even where the histograms look alike. Values that are not finite are left out of both.
    ``drop_zeros=True`` leaves exact zeros out of the histogram (not out of the std): half of
    the outputs of a ReLU are 0, and that one spike would flatten the rest.
    """
    rows = {label: [_numpy(v).astype(float).ravel() for v in values] for label, values in rows.items()}
    depth = max((len(v) for v in rows.values()), default=0)
    layers = list(layers) if layers is not None else list(range(1, depth + 1))
    if not rows or not layers:
        raise ValueError("layer_histograms needs at least one row and one layer.")
    for label, values in rows.items():
        bad = [k for k in layers if not 1 <= k <= len(values)]
        if bad:
            raise ValueError(f"row {label!r} has {len(values)} layers; cannot show layer(s) {bad}.")
    nrows, ncols = len(rows), len(layers)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize or (2.3 * ncols, 1.7 * nrows), squeeze=False)
    for r, (label, values) in enumerate(rows.items()):
        for c, k in enumerate(layers):
            ax, v = axes[r, c], values[k - 1]
            v = v[np.isfinite(v)]
            shown = v[v != 0] if drop_zeros else v
            if shown.size:
                counts, edges = np.histogram(shown, bins=bins)
                ax.stairs(counts, edges, fill=True, color=plt.cm.tab10(r % 10))  # one artist: fast
            if v.size:
                ax.set_title(f"std {v.std():.2g}", fontsize=8, loc="right")
            ax.tick_params(labelsize=7)
            ax.xaxis.get_offset_text().set_fontsize(7)
            ax.locator_params(axis="x", nbins=3)           # few ticks: 24 panels still draw fast
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"layer {k}", fontsize=9, loc="left")
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
            if r == nrows - 1:
                ax.set_xlabel(xlabel, fontsize=8)
    # fixed spacing instead of tight_layout, which measures every tick label of every panel
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.5 / fig.get_figheight() + 0.02,
                        top=1 - (0.6 if title else 0.35) / fig.get_figheight(), hspace=0.55, wspace=0.12)
    if title:
        fig.suptitle(title)
    return fig
