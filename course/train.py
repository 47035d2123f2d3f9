"""Training helpers: seeds, a ``fit`` loop with a progress bar, evaluation, checkpoints.

Lessons 00-09 write their training loops by hand on purpose; from lesson 10 on, the loop is not
the subject any more and ``fit`` keeps the notebooks short. ``fit`` returns its history as a pandas
DataFrame (one row per epoch) and can draw it live.

Used by: lessons 10-17, assignment A4.
"""
from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn


def set_seed(seed: int = 0, deterministic: bool = False) -> None:
    """Seed Python's ``random``, numpy and torch (all CUDA devices too).

    ``deterministic=True`` also asks cuDNN for deterministic algorithms (slower).
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def _batches(loader: Iterable, device: torch.device):
    for X, y in loader:
        yield X.to(device, non_blocking=True), y.to(device, non_blocking=True)


def precision(device: torch.device | str, amp: bool | str = True) -> str | None:
    """The course's one mixed-precision policy: ``"bf16"``, ``"fp16"`` or ``None`` (float32).

    ``amp=True``: bf16 on CUDA GPUs that have it in hardware (Ampere or newer), fp16 (with a
    gradient scaler in ``fit``) on older ones such as the T4; ``"bf16"``/``"fp16"`` force one;
    ``False``, or a device that is not CUDA: ``None``. ``fit(amp=...)`` and ``autocast`` use it.
    """
    if not amp or torch.device(device).type != "cuda":
        return None
    if amp in ("bf16", "fp16"):
        return amp
    return "bf16" if _native_bf16() else "fp16"


def autocast(device: torch.device | str, amp: bool | str = True):
    """``torch.autocast`` with ``precision(device, amp)`` (a no-op context when it is ``None``),
    e.g. for evaluation code outside ``fit``."""
    import contextlib

    mode = precision(device, amp)
    if mode is None:
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if mode == "bf16" else torch.float16)


def _autocast(device: torch.device, amp: bool | str):
    """``fit``'s autocast context and its gradient scaler (fp16 only)."""
    scaler = torch.amp.GradScaler("cuda") if precision(device, amp) == "fp16" else None
    return autocast(device, amp), scaler


def _native_bf16() -> bool:
    """bf16 in hardware (Ampere or newer); a T4 only emulates it, slowly."""
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch < 2.4 has no including_emulation and reports hardware support
        return torch.cuda.is_bf16_supported()


@torch.no_grad()
def predict(model: nn.Module, loader: Iterable, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """All labels and predicted classes of ``loader`` as two CPU tensors ``(y, y_hat)``."""
    device = device or next(model.parameters()).device
    model.eval()
    ys, preds = [], []
    for X, y in _batches(loader, device):
        preds.append(model(X).argmax(dim=1).cpu())
        ys.append(y.cpu())
    return torch.cat(ys), torch.cat(preds)


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, device=None, loss_fn: Callable | None = None) -> dict:
    """Mean loss and accuracy of a classifier over ``loader``: ``{"loss": ..., "acc": ...}``."""
    device = device or next(model.parameters()).device
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for X, y in _batches(loader, device):
        y_hat = model(X)
        total_loss += float(loss_fn(y_hat.float(), y)) * len(y)
        correct += int((y_hat.argmax(dim=1) == y).sum())
        count += len(y)
    if count == 0:
        raise ValueError("evaluate() got an empty loader.")
    return {"loss": total_loss / count, "acc": correct / count}


def per_class_accuracy(y: torch.Tensor, y_hat: torch.Tensor, classes: Sequence[str] | None = None):
    """Accuracy of each class as a pandas Series indexed by class name (lesson 15)."""
    import pandas as pd

    y, y_hat = torch.as_tensor(y), torch.as_tensor(y_hat)
    num_classes = len(classes) if classes is not None else int(max(y.max(), y_hat.max())) + 1
    names = list(classes) if classes is not None else list(range(num_classes))
    acc = []
    for c in range(num_classes):
        mask = y == c
        acc.append(float((y_hat[mask] == c).float().mean()) if mask.any() else float("nan"))
    return pd.Series(acc, index=names, name="accuracy")


def confusion_matrix(y: torch.Tensor, y_hat: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """Counts of (true class, predicted class) pairs (lesson 15).

    Args:
        y, y_hat: true and predicted labels, (N,) integer tensors (or anything ``as_tensor`` takes).
        num_classes: C; default one more than the largest label seen.

    Returns:
        (C, C) int64 tensor on the CPU: entry ``[i, j]`` counts the images of true class i that
        were predicted as j, so row i sums to the number of images of class i and the diagonal
        holds the correct predictions.
    """
    y = torch.as_tensor(y).long().cpu().reshape(-1)
    y_hat = torch.as_tensor(y_hat).long().cpu().reshape(-1)
    if y.shape != y_hat.shape:
        raise ValueError(f"y has {len(y)} labels but y_hat has {len(y_hat)}.")
    if num_classes is None:
        num_classes = int(max(y.max(), y_hat.max())) + 1 if len(y) else 0
    if len(y) and (min(y.min(), y_hat.min()) < 0 or max(y.max(), y_hat.max()) >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got {int(min(y.min(), y_hat.min()))}"
                         f"..{int(max(y.max(), y_hat.max()))}.")
    counts = torch.zeros(num_classes, num_classes, dtype=torch.long)
    counts.index_put_((y, y_hat), torch.ones_like(y), accumulate=True)
    return counts


def save_checkpoint(path: str | os.PathLike, model: nn.Module, **extra) -> Path:
    """Save ``model.state_dict()`` and ``extra`` (epoch, accuracy, ...) atomically to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    torch.save({"model": model.state_dict(), **extra}, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike, model: nn.Module, map_location=None) -> dict:
    """Load a checkpoint written by ``save_checkpoint`` into ``model``; returns the extras."""
    device = map_location or next(model.parameters()).device
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state.pop("model"))
    return state


def load_or_train(model: nn.Module, path: str | os.PathLike, train: Callable[[], object],
                  retrain: bool = False):
    """Load ``model`` from ``path`` when that checkpoint exists, else call ``train()`` (lesson 14).

    ``train`` is expected to save the checkpoint (``fit(..., checkpoint=path)`` does). Returns
    ``train()``'s result, or the checkpoint's extras when loaded.
    """
    path = Path(path)
    if path.exists() and not retrain:
        extras = load_checkpoint(path, model)
        summary = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in extras.items() if not isinstance(v, (dict, list)))
        print(f"Loaded {path} ({summary}); pass retrain=True to train again.")
        return extras
    return train()


def fit(model: nn.Module, train_loader: Iterable, test_loader: Iterable | None = None, *,
        num_epochs: int = 1, lr: float = 0.01, optimizer: torch.optim.Optimizer | None = None,
        loss_fn: Callable | None = None, device=None, scheduler=None,
        scheduler_step: str = "epoch", amp: bool | str = False, checkpoint: str | None = None,
        live_plot: bool = True, progress: bool = True, log: Callable[[dict], None] | None = None):
    """Train a classifier and return its history (a pandas DataFrame, one row per epoch).

    Args:
        model: the network; moved to ``device``.
        train_loader, test_loader: iterables of ``(X, y)`` batches (``DataLoader`` or
            ``data.InMemoryLoader``); the test loader is evaluated after every epoch.
        num_epochs, lr: epochs, and the learning rate of the default optimizer
            (SGD with momentum 0.9) when ``optimizer`` is not given.
        loss_fn: default ``nn.CrossEntropyLoss()`` (takes logits).
        scheduler: a learning-rate scheduler, stepped every ``"epoch"`` or every ``"batch"``
            (``OneCycleLR`` wants ``"batch"``).
        amp: mixed precision on CUDA (``True``: bf16 where supported, else fp16 with a scaler;
            see ``precision``).
        checkpoint: path of a checkpoint saved at each new best test accuracy.
        live_plot: draw loss and accuracy curves that update in place after each epoch.

    Columns of the history: epoch, train_loss, train_acc, test_loss, test_acc, lr, seconds.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    autocast, scaler = _autocast(device, amp)
    rows, best = [], -1.0
    plot = None
    if live_plot:
        from course.plot import LivePlot

        plot = LivePlot(["train_loss", "test_loss"], ["train_acc", "test_acc"])
    try:
        for epoch in range(1, num_epochs + 1):
            model.train()
            start = time.perf_counter()
            total_loss = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            count = 0
            bar = tqdm(_batches(train_loader, device), desc=f"epoch {epoch}/{num_epochs}",
                       leave=False, disable=not progress, total=_len(train_loader))
            for X, y in bar:
                with autocast:
                    y_hat = model(X)
                    loss = loss_fn(y_hat, y)
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
                if scheduler is not None and scheduler_step == "batch":
                    scheduler.step()
                total_loss += loss.detach() * len(y)
                correct += (y_hat.argmax(dim=1) == y).sum()
                count += len(y)
            if scheduler is not None and scheduler_step == "epoch":
                scheduler.step()
            row = {"epoch": epoch, "train_loss": float(total_loss) / count,
                   "train_acc": float(correct) / count}
            if test_loader is not None:
                with autocast:
                    result = evaluate(model, test_loader, device, loss_fn)
                row.update(test_loss=result["loss"], test_acc=result["acc"])
            row["lr"] = optimizer.param_groups[0]["lr"]
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
            if checkpoint and row.get("test_acc", -1) > best:
                best = row["test_acc"]
                save_checkpoint(checkpoint, model, epoch=epoch, test_acc=best)
            if plot is not None:
                plot.update(pd.DataFrame(rows))
            if log is not None:
                log(row)
            elif not live_plot:
                print(_summary(row))
    finally:
        if plot is not None:
            plot.close()
    history = pd.DataFrame(rows)
    if live_plot and rows:
        print(_summary(rows[-1]))
    return history


def _len(loader) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def _summary(row: dict) -> str:
    parts = [f"epoch {row['epoch']}", f"train loss {row['train_loss']:.4f}",
             f"train acc {row['train_acc']:.2%}"]
    if "test_acc" in row:
        parts += [f"test loss {row['test_loss']:.4f}", f"test acc {row['test_acc']:.2%}"]
    parts.append(f"{row['seconds']:.1f} s")
    return ", ".join(parts)


def layer_grad_norms(model: nn.Module, kinds: tuple = (nn.Linear, nn.Conv2d)) -> dict[str, float]:
    """Gradient norm of each layer's weight after ``backward()`` (lesson 14's vanishing gradients)."""
    norms = {}
    for name, module in model.named_modules():
        if isinstance(module, kinds) and module.weight.grad is not None:
            norms[name] = float(module.weight.grad.norm())
    return norms


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
