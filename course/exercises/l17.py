"""Checks for lesson 17 (pretrained models, fine-tuning, saving and loading).

Exercises:
    1. ``replace_head(fn)``: ``fn(model, num_classes)`` swaps a torchvision ResNet's last layer
       ``fc`` for a new ``nn.Linear`` with ``num_classes`` outputs and returns the model.
    2. ``freeze_backbone(fn)``: ``fn(model)`` turns off the gradients of every parameter except
       those of ``fc`` and returns the model.
    3. ``load_backbone(fn)``: ``fn(model, state_dict)`` copies every entry of a checkpoint except
       the ``fc.*`` ones into ``model`` (whose head has another size) and returns the model.

The checks run on real ``torchvision.models.resnet18(weights=None)`` networks (random weights,
nothing is downloaded) and compare tensors and counts with what PyTorch reports. Each prints one
line (expected vs got on failure) and returns 1.0 or 0.0; none raises.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from course import check


def _resnet18(num_classes: int = 1000, seed: int = 0) -> nn.Module:
    from torchvision.models import resnet18

    torch.manual_seed(seed)
    return resnet18(weights=None, num_classes=num_classes)


def _returned_model(outcome, original: nn.Module) -> tuple[nn.Module | None, str | None]:
    """The model the learner's function produced: its return value (or the changed input)."""
    if outcome.error:
        return None, outcome.error
    model = outcome.value if outcome.value is not None else None
    if model is None:
        return None, "returned None; return the model (e.g. `return model`)"
    if not isinstance(model, nn.Module):
        return None, f"returned {check.describe(model)}, expected the model"
    return model, None


# ------------------------------------------------------------------------------------------
# The lesson's own copies: the notebook's pipeline calls the learner's functions, and falls back
# on these only while the learner's do not pass their checks.
# ------------------------------------------------------------------------------------------
def lesson_replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def lesson_freeze_backbone(model: nn.Module) -> nn.Module:
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith("fc.")
    return model


# ------------------------------------------------------------------------------------------
# Exercise 1: a new head
# ------------------------------------------------------------------------------------------
def _head_problem(fn, num_classes: int) -> str | None:
    model = _resnet18()
    before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}
    model, why = _returned_model(check.run_safely(fn, model, num_classes), model)
    if why:
        return why
    fc = getattr(model, "fc", None)
    if not isinstance(fc, nn.Linear):
        return f"model.fc should be an nn.Linear, got {check.describe(fc)}"
    if (fc.in_features, fc.out_features) != (512, num_classes):
        return (f"expected model.fc = nn.Linear(512, {num_classes}), got "
                f"nn.Linear({fc.in_features}, {fc.out_features}) (model.fc.in_features is 512)")
    after = model.state_dict()
    changed = [k for k, v in before.items() if k not in after or not torch.equal(after[k], v)]
    if changed:
        return f"only the head may change, but {changed[0]} changed too"
    model.eval()
    with torch.no_grad():
        out = check.run_safely(model, torch.randn(2, 3, 32, 32))
    if out.error or tuple(out.value.shape) != (2, num_classes):
        return (f"expected logits of shape (2, {num_classes}) for 2 images, got "
                f"{out.error or tuple(out.value.shape)}")
    return None


def replace_head(fn) -> float:
    """Check ``fn(model, num_classes)`` -> the model with ``fc = nn.Linear(512, num_classes)``."""
    problem = None
    for num_classes in (10, 7):
        problem = _head_problem(fn, num_classes)
        if problem:
            problem = f"with num_classes={num_classes}: {problem}"
            break
    return check.report("replace_head", problem is None, 1, 1.0, problem)


# ------------------------------------------------------------------------------------------
# Exercise 2: freeze everything but the head
# ------------------------------------------------------------------------------------------
def freeze_backbone(fn) -> float:
    """Check ``fn(model)``: afterwards only ``fc.weight`` and ``fc.bias`` require gradients."""
    model = _resnet18(num_classes=10)
    model, problem = _returned_model(check.run_safely(fn, model), model)
    if problem is None:
        trainable = [n for n, p in model.named_parameters() if p.requires_grad]
        count = sum(p.numel() for p in model.parameters() if p.requires_grad)
        expected = 512 * 10 + 10
        if count != expected:
            problem = (f"expected {expected:,} trainable parameters (the head: 512 x 10 weights + "
                       f"10 biases), got {count:,}")
            if set(trainable) - {"fc.weight", "fc.bias"}:
                problem += f"; still trainable: {sorted(set(trainable) - {'fc.weight', 'fc.bias'})[0]}, ..."
            elif not trainable:
                problem += "; the head must stay trainable"
    return check.report("freeze_backbone", problem is None, 1, 1.0, problem)


# ------------------------------------------------------------------------------------------
# Exercise 3: load a checkpoint whose head has another size
# ------------------------------------------------------------------------------------------
def load_backbone(fn) -> float:
    """Check ``fn(model, state_dict)``: every tensor of ``state_dict`` except ``fc.*`` ends up in
    ``model``; the model keeps its own head."""
    source = _resnet18(num_classes=1000, seed=1)           # stands in for ImageNet weights
    state = copy.deepcopy(source.state_dict())
    target = _resnet18(num_classes=10, seed=2)
    own_head = {k: v.clone() for k, v in target.state_dict().items() if k.startswith("fc.")}
    model, problem = _returned_model(check.run_safely(fn, target, state), target)
    if problem is None:
        got = model.state_dict()
        missing = [k for k in state if not k.startswith("fc.") and
                   (k not in got or not torch.equal(got[k], state[k]))]
        if missing:
            problem = (f"{len(missing)} backbone tensors were not loaded, e.g. {missing[0]} "
                       f"(expected the checkpoint's values)")
        elif any(not torch.equal(got[k], v) for k, v in own_head.items()):
            problem = "the head (fc.*) changed; keep the model's own 10-class head"
    return check.report("load_backbone", problem is None, 1, 1.0, problem)
