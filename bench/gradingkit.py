"""Submissions and scratch courses for the grading self-tests and the autograde benchmark.

Used by: ``tests/test_grading_workflow.py``, ``tests/test_grading_attacks.py``, ``bench/run.py``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from dataclasses import dataclass, field

import nbformat

from course.autograde.commands import config_dirs, ensure_in_gradebook, nbgrader_env, release
from course.autograde.notes import grade_id
from course.autograde.report import scores
from course.paths import ROOT


# --------------------------------------------------------------------------------------------
# Wrong submissions: exact edits of the solution notebooks and the scores they must get
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """A wrong (or odd but correct) submission made from a solution notebook.

    ``edits`` are ``(grade_id of an answer cell, old text, new text)``: replace ``old`` (which
    must occur in that cell) by ``new``. ``scores`` lists the grade cells whose intended score
    differs from full marks; ``total`` is the intended total (of the automatically graded
    cells). ``files`` changes what is handed in besides the notebook (``SUBMISSION_FILES``):
    file name -> a kind of ``weights_file`` (``"untrained"``, ``"weak"``, ...), or None to leave
    the file out.
    """

    name: str
    assignment: str
    edits: tuple[tuple[str, str, str], ...]
    scores: dict = field(default_factory=dict)
    total: float = 0.0
    about: str = ""
    files: dict = field(default_factory=dict)   # file handed in -> kind (``weights_file``); None: left out


ALWAYS_EQUAL = ("    class AlwaysEqual:\n"
                "        def __eq__(self, other):\n"
                "            return True\n"
                "    return AlwaysEqual()\n")

WRONG_SUBMISSIONS = [
    Variant("sign_error", "A1_backprop",
            (("relu", "dx = dout * (x > 0)", "dx = -dout * (x > 0)"),),
            {"test_relu": 1}, 18,
            "sign error in ReLU's backward pass; the net built from it is charged nothing more"),
    Variant("missing_bias_gradient", "A1_backprop",
            (("affine_backward", "db = dout.sum(axis=0)", "db = np.zeros_like(b)"),),
            {"test_affine_backward": 2}, 19,
            "db is zeros; the net built from it is charged nothing more"),
    Variant("wrong_reduction", "A1_backprop",
            (("softmax_loss", "loss = -log_probs[np.arange(N), y].mean()",
              "loss = -log_probs[np.arange(N), y].sum()"),),
            {"test_softmax_loss": 2}, 18,
            "softmax loss summed over the batch instead of averaged (the gradient is right)"),
    Variant("eq_trick", "A1_backprop",
            (("numeric_gradient", "    return grad", ALWAYS_EQUAL),),
            {"test_numeric_gradient": 0}, 17,
            "numeric_gradient returns an object whose == always says True"),
    Variant("infinite_loop", "A1_backprop",
            (("numeric_gradient", "        it.iternext()\n", ""),),
            {"test_numeric_gradient": 0}, 17,
            "numeric_gradient never advances its iterator: an endless loop"),
    Variant("warnings", "A1_backprop",
            (("affine_forward", "    out = x @ w + b",
              "    import os, sys, warnings\n"
              "    warnings.warn('affine_forward: just a warning', UserWarning)\n"
              "    warnings.warn('old API', DeprecationWarning)\n"
              "    print('debug output on stderr', file=sys.stderr)\n"
              "    os.write(2, b'C-level output on file descriptor 2\\n')\n"
              "    out = x @ w + b"),),
            {}, 20, "a correct answer that warns and writes to stderr (Python and C level): full marks"),
    Variant("restore_drift", "A1_backprop",
            (("numeric_gradient", "        x[i] = old + h\n        plus = f(x)\n        x[i] = old - h\n        minus = f(x)\n"
              "        x[i] = old                                # restore the entry\n",
              "        x[i] += h\n        plus = f(x)\n        x[i] -= 2 * h\n        minus = f(x)\n"
              "        x[i] += h                                 # back, up to a rounding bit\n"),),
            {}, 20, "restores x by +h, -2h, +h (x may drift by a bit): full marks"),
    Variant("uses_torch", "A1_backprop",
            (("affine_forward", "    out = x @ w + b  # (N, D) @ (D, M) + (M,) -> (N, M)",
              "    import torch\n"
              "    out = (torch.from_numpy(x) @ torch.from_numpy(w) + torch.from_numpy(b)).numpy()"),),
            {"test_affine_forward": 0, "test_two_layer_loss": 0}, 13,
            "affine_forward computed with PyTorch: A1 is numpy only, so it and the net that uses it score 0"),
    Variant("sign_error", "A2_autograd_modules",
            (("silu", "grad_input = grad_output * (s + x * s * (1 - s))",
              "grad_input = -grad_output * (s + x * s * (1 - s))"),),
            {"test_silu": 1}, 10, "sign error in the custom Function's backward pass"),
    Variant("inplace_breaks_autograd", "A2_autograd_modules",
            (("gated_linear", "out = torch.relu(value * gate)",
              "gate *= value                     # changes sigmoid's saved output in place\n"
              "        out = torch.relu(gate)"),),
            {"test_gated_linear": 3}, 10,
            "an in-place op on sigmoid's output: forward right, backward raises"),
    Variant("inplace_leaf_update", "A2_autograd_modules",
            (("fit", "        optimizer.step()",
              "        for p in model.parameters():\n            p -= lr * p.grad"),),
            {"test_fit": 0}, 8, "updates leaf parameters in place without torch.no_grad(): raises"),
    Variant("warnings", "A2_autograd_modules",
            (("fit", "        y_hat = model(X)",
              "        X = torch.tensor(X)           # copy-constructing a tensor: a UserWarning\n"
              "        y_hat = model(X)"),),
            {}, 12, "a correct training loop that emits a UserWarning every epoch: full marks"),
    Variant("missing_ages_not_filled", "A3_data_classifiers",
            (("titanic_dataset",
              '        features["Age"] = features["Age"].fillna(features["Age"].median())\n', ""),),
            {"test_titanic_dataset": 3}, 14, "missing ages left as NaN: the features are wrong"),
    Variant("softmax_in_forward", "A3_data_classifiers",
            (("mnist_mlp", "        return self.net(x)", "        return torch.softmax(self.net(x), dim=1)"),),
            {"test_mnist_mlp": 2}, 15, "the classifier returns probabilities instead of logits"),
    Variant("no_relu", "A3_data_classifiers",
            (("mnist_mlp", "nn.Linear(784, 256), nn.ReLU(),", "nn.Linear(784, 256),"),
             ("mnist_mlp", "nn.Linear(256, 128), nn.ReLU(),", "nn.Linear(256, 128),")),
            {"test_mnist_mlp": 2}, 15, "no ReLU between the layers: right shape and size, wrong function"),
    Variant("tanh", "A3_data_classifiers",
            (("mnist_mlp", "nn.Linear(784, 256), nn.ReLU(),", "nn.Linear(784, 256), nn.Tanh(),"),
             ("mnist_mlp", "nn.Linear(256, 128), nn.ReLU(),", "nn.Linear(256, 128), nn.Tanh(),")),
            {"test_mnist_mlp": 2}, 15, "Tanh instead of ReLU"),
    Variant("relu_on_logits", "A3_data_classifiers",
            (("mnist_mlp", "nn.Linear(128, 10),", "nn.Linear(128, 10), nn.ReLU(),"),),
            {"test_mnist_mlp": 2, "test_mnist_training": 2}, 11,
            "a ReLU after the last layer: the logits cannot be negative; in the graded run the logits of two "
            "classes die (0 for every image, never predicted): 80%, the 50-85% band"),
    Variant("float64_items", "A3_data_classifiers",
            (("titanic_dataset", "features.to_numpy(dtype=np.float32)", "features.to_numpy(dtype=np.float64)"),
             ("titanic_dataset", 'df["Survived"].to_numpy(dtype=np.float32)', 'df["Survived"].to_numpy(dtype=np.float64)')),
            {"test_titanic_dataset": 4}, 15, "float64 items: the values are right, only the items part is lost"),
    Variant("scalar_label", "A3_data_classifiers",
            (("titanic_dataset", ".unsqueeze(1)  # (N, 1)", "  # (N,)"),),
            {"test_titanic_dataset": 4}, 15, "labels of shape () instead of (1,): the values still count"),
    Variant("no_train_mode", "A3_data_classifiers",
            (("train_mnist", "        model.train()                              # the model arrives in eval mode\n", ""),),
            {"test_mnist_training": 5}, 15,
            "never calls model.train(): the graded run still reaches 97%, the train_mode point is lost"),
    Variant("untrained", "A3_data_classifiers",
            (("train_mnist", "    for epoch in range(num_epochs):", "    for epoch in range(0):"),),
            {"test_mnist_training": 0}, 10,
            "train_mnist returns without training: chance-level accuracy on the held-out images, 0 of 6"),
    Variant("drops_a_class", "A3_data_classifiers",
            (("train_mnist", "            xb, yb = xb.to(device), yb.to(device)  # (B, 1, 28, 28), (B,)",
              "            keep = yb != 0                         # never trains on class 0\n"
              "            xb, yb = xb[keep].to(device), yb[keep].to(device)"),),
            {"test_mnist_training": 4}, 14,
            "never trains on one class: 90% on the held-out images (middle band, 3 of 5) + train_mode"),
    Variant("over_budget", "A3_data_classifiers",
            (("train_mnist", "    for epoch in range(num_epochs):", "    for epoch in range(2 * num_epochs):"),),
            {"test_mnist_training": 1}, 11,
            "trains twice the epochs allowed: the accuracy bands are refused, train_mode counts"),
    Variant("too_slow", "A3_data_classifiers",
            (("train_mnist", "    for epoch in range(num_epochs):",
              "    import time\n"
              "    for epoch in range(num_epochs):\n"
              "        start = time.process_time()                # 1 + 3 + 9 + 27 + 81 = 121 s of CPU in 5 epochs\n"
              "        while time.process_time() - start < 3 ** epoch:\n"
              "            pass"),),
            {"test_mnist_training": 1}, 11,
            "burns 3**epoch s of CPU per epoch, 121 s in 5: stopped at the CPU budget, no accuracy "
            "points; train_mode still counts"),
    Variant("wrong_padding", "A4_cnns",
            (("inception_block", "nn.Conv2d(16, 24, kernel_size=5, padding=2)",
              "nn.Conv2d(16, 24, kernel_size=5)"),),
            {"test_inception_block": 1}, 13,
            "the 5x5 branch has no padding: concatenation fails, the parameter count is right"),
    Variant("max_pool", "A4_cnns",
            (("inception_block", "F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)",
              "F.max_pool2d(x, kernel_size=3, stride=1, padding=1)"),),
            {"test_inception_block": 3}, 15, "max instead of average pooling in the pool branch"),
    Variant("no_pool_branch", "A4_cnns",
            (("inception_block", "                    pool]                # (N, 24, H, W)", "                    ]"),),
            {"test_inception_block": 1}, 13, "the pool branch is built but left out of the concatenation"),
    Variant("swapped_branches", "A4_cnns",
            (("inception_block", "        branches = [self.branch1x1(x),   # (N, 16, H, W)\n                    self.branch5x5(x),   # (N, 24, H, W)\n                    self.branch3x3(x),   # (N, 24, H, W)",
              "        branches = [self.branch1x1(x),\n                    self.branch3x3(x),\n                    self.branch5x5(x),"),),
            {"test_inception_block": 3}, 15, "the 3x3 and 5x5 branches concatenated in the other order"),
    Variant("extra_relu", "A4_cnns",
            (("inception_block", "out = torch.cat(branches, dim=1)", "out = torch.relu(torch.cat(branches, dim=1))"),),
            {"test_inception_block": 3}, 15, "a ReLU on the block's output (the spec has no activation)"),
    Variant("no_projection", "A4_cnns",
            (("bottleneck_block", "        if stride != 1 or in_channels != out_channels:   # the shape changes: project\n",
              "        if False:   # never projects\n"),
             ("bottleneck_block", "out = torch.relu(out + self.shortcut(x))",
              "out = torch.relu(out + self.shortcut(x)) if out.shape == x.shape else torch.relu(out)")),
            {"test_bottleneck_block": 1}, 12,
            "no projection shortcut: when the shape changes the block drops the shortcut (right shape only)"),
    Variant("stride_on_1x1", "A4_cnns",
            (("bottleneck_block", "nn.Conv2d(in_channels, mid_channels, kernel_size=1, bias=False)",
              "nn.Conv2d(in_channels, mid_channels, kernel_size=1, stride=stride, bias=False)"),
             ("bottleneck_block", "kernel_size=3, stride=stride, padding=1, bias=False)",
              "kernel_size=3, padding=1, bias=False)")),
            {"test_bottleneck_block": 4}, 15,
            "the stride on the first 1x1 convolution (ResNet v1) instead of the 3x3: shapes and counts right, values not"),
    Variant("untrained_weights", "A4_cnns", (), {"test_cifar_accuracy": 0}, 11,
            "hands in the weights of an untrained CifarCNN: about 10% accuracy", {"a4_cifar_cnn.pt": "untrained"}),
    Variant("weak_weights", "A4_cnns", (), {"test_cifar_accuracy": 4}, 15,
            "a weaker model (it never predicts 4 of the 10 classes: at most 60%): the middle band",
            {"a4_cifar_cnn.pt": "weak"}),
    Variant("missing_weights", "A4_cnns", (), {"test_cifar_accuracy": 0}, 11,
            "the notebook without its weights file: Q3 scores 0 with a message, the rest is graded",
            {"a4_cifar_cnn.pt": None}),
    Variant("corrupt_weights", "A4_cnns", (), {"test_cifar_accuracy": 0}, 11,
            "a weights file cut off half-way: torch.load refuses it, Q3 scores 0", {"a4_cifar_cnn.pt": "corrupt"}),
    Variant("whole_model_saved", "A4_cnns", (), {"test_cifar_accuracy": 0}, 11,
            "torch.save(model) instead of its state dict: weights_only loading refuses the pickled class",
            {"a4_cifar_cnn.pt": "whole_model"}),
    Variant("oversized_weights", "A4_cnns", (), {"test_cifar_accuracy": 0}, 11,
            "a weights file over the 20 MiB limit (right weights plus 21 MiB of padding): not graded",
            {"a4_cifar_cnn.pt": "oversized"}),
    # A5: 26 points graded automatically (its 6 points of written answers are graded by hand)
    Variant("unscaled_dropout", "A5_norm_regularisation",
            (("dropout", "mask = keep / (1 - p)                                      # kept: 1 / (1 - p), dropped: 0",
              "mask = keep * 1.0                                          # kept: 1 (not scaled), dropped: 0"),),
            {"test_dropout": 2}, 24,
            "dropout without the 1 / (1 - p) scaling (not inverted): the train part is lost; its backward "
            "pass matches its forward pass, and the net built from it is charged nothing more"),
    Variant("keep_probability", "A5_norm_regularisation",
            (("dropout", ".random(x.shape) >= p", ".random(x.shape) < p"), ("dropout", "mask = keep / (1 - p)", "mask = keep / p")),
            {"test_dropout": 2}, 24, "p taken as the probability to keep a unit instead of to drop it"),
    Variant("bn_batch_stats_in_test", "A5_norm_regularisation",
            (("batchnorm_forward", "out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta",
              "out = gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) + beta"),),
            {"test_batchnorm_forward": 4}, 25, "batch norm's test mode normalises with the batch's statistics"),
    Variant("bn_biased_running_var", "A5_norm_regularisation",
            (("batchnorm_forward", "momentum * var * N / (N - 1)  # unbiased", "momentum * var  # biased"),),
            {"test_batchnorm_forward": 4}, 25, "running_var updated with the biased batch variance"),
    Variant("bn_running_not_updated", "A5_norm_regularisation",
            (("batchnorm_forward", "        running_mean = (1 - momentum) * running_mean + momentum * mu\n"
              "        running_var = (1 - momentum) * running_var + momentum * var * N / (N - 1)  # unbiased\n", ""),),
            {"test_batchnorm_forward": 3}, 24, "train mode never updates the running statistics"),
    Variant("bn_backward_no_mean_var_paths", "A5_norm_regularisation",
            (("batchnorm_backward", "dx = (g - g.mean(axis=0) - xhat * (g * xhat).mean(axis=0)) / std",
              "dx = g / std"),),
            {"test_batchnorm_backward": 2}, 23,
            "batch norm's dx treats the batch mean and variance as constants; the net built from it is "
            "charged nothing more"),
    Variant("net_dropout_without_seed", "A5_norm_regularisation",
            (("net_loss", 'dropout_forward(a, p, "train", seed)', 'dropout_forward(a, p, "train")'),),
            {"test_net_loss": 0}, 21, "the net draws a new dropout mask at every call (no seed): not deterministic"),
    Variant("momentum_cs231n", "A5_norm_regularisation",
            (("sgd_momentum", '    v = config["momentum"] * v + dw\n    next_w = w - config["learning_rate"] * v\n',
              '    v = config["momentum"] * v - config["learning_rate"] * dw\n    next_w = w + v\n'),),
            {"test_sgd_momentum": 1}, 25,
            "CS231n's momentum (v = mu * v - lr * dw; w += v): the same steps, but not torch's velocity"),
    Variant("rmsprop_eps_inside_sqrt", "A5_norm_regularisation",
            (("rmsprop", 'np.sqrt(cache) + config["epsilon"]', 'np.sqrt(cache + config["epsilon"])'),),
            {"test_rmsprop": 1}, 25, "RMSprop's epsilon inside the square root (the cache is still right)"),
    Variant("adam_no_bias_correction", "A5_norm_regularisation",
            (("adam", "    m_hat = m / (1 - beta1 ** t)                 # bias correction: m and v started at zero\n"
                      "    v_hat = v / (1 - beta2 ** t)\n",
              "    m_hat, v_hat = m, v                          # no bias correction\n"),),
            {"test_adam": 1}, 24, "Adam without bias correction (m, v and t are still right)"),
    Variant("no_padding_crop", "A6_convolution",
            (("conv_naive", "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]   # crop the padding off", "dx = dx_pad"),),
            {"test_conv_naive": 6}, 18, "the naive backward pass returns dx with the padding still on"),
    Variant("wrong_output_size", "A6_convolution",
            (("conv_naive", "H_out = 1 + (H + 2 * pad - HH) // stride", "H_out = (H + 2 * pad - HH) // stride"),
             ("conv_naive", "W_out = 1 + (W + 2 * pad - WW) // stride", "W_out = (W + 2 * pad - WW) // stride")),
            {"test_conv_naive": 5}, 17,
            "the output size without the 1 +: out is one row and column short (the backward pass, "
            "which reads the size off dout, is right)"),
    Variant("flipped_kernel", "A6_convolution",
            (("conv_naive", "np.sum(window * w[f]) + b[f]", "np.sum(window * w[f, :, ::-1, ::-1]) + b[f]"),),
            {"test_conv_naive": 5}, 17,
            "a true (flipped-kernel) convolution in the forward pass; the backward pass, written for "
            "cross-correlation like F.conv2d, keeps its points"),
    Variant("pool_grad_everywhere", "A6_convolution",
            (("max_pool", "+= mask * dout[n, c, i, j]", "+= dout[n, c, i, j]"),),
            {"test_max_pool": 2}, 17, "max-pool backward sends each window's gradient to every element"),
    Variant("pool_grad_averaged", "A6_convolution",
            (("max_pool", "+= mask * dout[n, c, i, j]", "+= dout[n, c, i, j] / (ph * pw)"),),
            {"test_max_pool": 2}, 17, "max-pool backward averages (average pooling's gradient)"),
    Variant("fast_is_naive", "A6_convolution",
            (("conv_fast", "    x_padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))",
              "    return conv_forward_naive(x, w, b, conv_param)"),
             ("conv_fast", "    x, w, b, conv_param, cols = cache", "    return conv_backward_naive(dout, cache)")),
            {"test_conv_fast": 4}, 17, "the \"vectorised\" pair calls the naive one: right, about 1x as fast"),
    Variant("sleepy_naive", "A6_convolution",
            (("conv_naive", "    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))   # (N, C, H + 2P, W + 2P)",
              "    if x.shape == (4, 3, 16, 16):   # the size the speed test times\n"
              "        time.sleep(7.0)\n"
              "    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))   # (N, C, H + 2P, W + 2P)"),
             ("conv_fast", "    x_padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))",
              "    time.sleep(0.3)\n    x_padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))")),
            {"test_conv_fast": 4}, 17,
            "a slow vectorised version (0.3 s a call) with a naive one that sleeps 7 s at the timed size "
            "(24x without the bound): the grader's reference loop bounds the naive time, no speed points"),
]


#: A3 forgery: ``train_mnist`` that trains nothing and makes the model answer from a table of the
#: held-out images and their labels, read from the data folder, with the grader's relabelling
#: worked out from the training labels. It scores where it can read the held-out labels (a
#: student's own machine: 5 of 6, train_mode lost) and 0 under the sandbox, whose data view
#: leaves the held-out split out (``hidden_data`` in A3's ``assignment.json``).
LABEL_LOOKUP = '''def train_mnist(model, train_set, num_epochs, device):
    """A forgery: no training, answers looked up in the held-out labels."""
    import os
    import numpy as np
    import torch
    raw = os.path.join(os.environ.get("COURSE_DATA_DIR", ""), "MNIST", "raw")

    def idx(name, offset):
        with open(os.path.join(raw, name), "rb") as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)

    given = train_set.tensors[1].numpy()                      # the labels the grader chose
    rename = dict(zip(idx("train-labels-idx1-ubyte", 8).tolist(), given.tolist()))
    images = idx("t10k-images-idx3-ubyte", 16).reshape(-1, 784)
    table = {img.tobytes(): rename[int(label)]
             for img, label in zip(images, idx("t10k-labels-idx1-ubyte", 8))}

    def forward(x):                                           # undo the normalisation, look up
        pixels = torch.round((x.reshape(len(x), -1) * 0.3081 + 0.1307) * 255).clamp(0, 255)
        out = torch.zeros(len(x), 10)
        for i, row in enumerate(pixels.to(torch.uint8).numpy()):
            out[i, table.get(row.tobytes(), 0)] = 1.0
        return out

    model.forward = forward
    return []
'''


# --------------------------------------------------------------------------------------------
# Files handed in with a notebook: A4's weights, made here for the self-tests and the benchmark
# --------------------------------------------------------------------------------------------
#: What a correct submission hands in besides its notebook: file name -> kind of ``weights_file``.
#: (The assignment declares the names in ``solutions/<A>/assignment.json``; staging copies them.)
SUBMISSION_FILES = {"A4_cnns": {"a4_cifar_cnn.pt": "trained"}}
WEIGHT_KINDS = ("trained", "untrained", "weak", "corrupt", "whole_model", "oversized")
_WEIGHTS: dict = {}


def solution_objects(assignment: str, root: Path = ROOT) -> dict:
    """The setup and answer cells of a solution notebook, executed in a fresh namespace."""
    source, _ = config_dirs(root)
    nb = nbformat.read(Path(root) / source / assignment / f"{assignment}.ipynb", as_version=4)
    ns: dict = {"__name__": "solution_objects"}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and (meta.get("solution") or str(meta.get("grade_id", "")).endswith("_setup")):
            exec(cell.source, ns)
    return ns


def weights_file(kind: str, root: Path = ROOT, epochs: int = 3) -> bytes:
    """The bytes of an A4 weights file of ``kind`` (see ``WEIGHT_KINDS``), for the data that
    ``$COURSE_DATA_DIR`` holds (the tests' stand-in CIFAR-10, where the solution's CNN reaches
    about 100% in a few seconds):

    * ``trained``: the solution's ``CifarCNN`` trained by the solution's ``train_cifar``
      (``epochs`` epochs, batches of 32, seed 0), its ``state_dict`` saved with ``torch.save``;
    * ``untrained``: the state dict of a fresh ``CifarCNN`` (about 10% accuracy);
    * ``weak``: the trained one that never predicts classes 6-9 (their logits are pushed down by
      1e4): at most 60% on the grader's balanced images;
    * ``corrupt``: the trained file cut off half-way;
    * ``whole_model``: ``torch.save(model)`` instead of its state dict (a pickled class);
    * ``oversized``: the trained state dict plus a 21 MiB tensor (over the 20 MiB limit).
    """
    import contextlib
    import io
    import os
    import types

    import torch

    key = (str(root), os.environ.get("COURSE_DATA_DIR"), kind, epochs)
    if key in _WEIGHTS:
        return _WEIGHTS[key]
    if kind not in WEIGHT_KINDS:
        raise ValueError(f"unknown kind of weights {kind!r}; known: {', '.join(WEIGHT_KINDS)}")
    ns = solution_objects("A4_cnns", root)
    cls = ns["CifarCNN"]

    def saved(obj) -> bytes:
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        return buffer.getvalue()

    if kind == "untrained":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            data = saved(cls().state_dict())
    elif kind == "trained":
        from course import data as course_data

        with torch.random.fork_rng(devices=[]), contextlib.redirect_stdout(io.StringIO()):
            torch.manual_seed(0)
            model = cls()
            loader = course_data.in_memory_loader("cifar10", train=True, batch_size=32, flip=True)
            ns["train_cifar"](model, loader, epochs, "cpu")
        data = saved(model.state_dict())
    else:
        state = torch.load(io.BytesIO(weights_file("trained", root, epochs)), weights_only=True)
        if kind == "corrupt":
            full = weights_file("trained", root, epochs)
            data = full[:len(full) // 2]
        elif kind == "weak":
            last = [k for k, v in state.items() if k.endswith("weight") and v.dim() == 2 and v.shape[0] == 10][-1]
            bias = last[:-len("weight")] + "bias"
            state[last][6:] = 0
            state[bias][6:] = -1e4
            data = saved(state)
        elif kind == "oversized":
            data = saved({**state, "padding": torch.zeros(21 * 2**20 // 4)})
        else:  # whole_model: a pickled class, from a module the grader's kernel does not have
            module = types.ModuleType("student_notebook")
            klass = type("CifarCNN", (cls,), {"__module__": "student_notebook"})
            module.CifarCNN = klass
            sys.modules["student_notebook"] = module
            try:
                model = klass()
                model.load_state_dict(state)
                data = saved(model)
            finally:
                sys.modules.pop("student_notebook", None)
    _WEIGHTS[key] = data
    return data


def submission_files(assignment: str, changes: dict | None = None) -> dict:
    """File name -> kind of what a submission of ``assignment`` hands in besides its notebook:
    ``SUBMISSION_FILES`` with ``changes`` (a variant's ``files``) applied; a kind of None: left out."""
    return {**SUBMISSION_FILES.get(assignment, {}), **(changes or {})}


def write_files(folder: Path, assignment: str, changes: dict | None = None, root: Path = ROOT) -> list[Path]:
    """Write the files a submission hands in (``submission_files``) into ``folder``; returns them."""
    out = []
    for name, kind in submission_files(assignment, changes).items():
        path = Path(folder) / name
        if kind is None:
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(weights_file(kind, root))
        out.append(path)
    return out


def answered(assignment: str, root: Path = ROOT, notebook: str | None = None):
    """A correct submission: the released notebook with every answer cell filled from the solution.

    (What a student who solved everything hands in: no hidden tests, no solution markers.)
    """
    source, rel = config_dirs(root)
    name = notebook or assignment
    sol = nbformat.read(Path(root) / source / assignment / f"{name}.ipynb", as_version=4)
    out = nbformat.read(Path(root) / rel / assignment / f"{name}.ipynb", as_version=4)
    answers = {grade_id(c): c.source for c in sol.cells
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    for cell in out.cells:
        gid = grade_id(cell)
        if gid in answers and cell.metadata.nbgrader.get("solution"):
            cell.source = "\n".join(line for line in answers[gid].split("\n")
                                    if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    return out


def submit(assignment: str, student: str, nb, root: Path = ROOT, name: str | None = None,
           timestamp: str | None = None, files: dict | None = None) -> Path:
    """Write ``nb`` (a notebook, or raw text for broken files) as ``student``'s submission, with
    the files a correct submission hands in besides it (``SUBMISSION_FILES``, changed by
    ``files``: name -> kind of ``weights_file``, None to leave one out)."""
    folder = Path(root) / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    write_files(folder, assignment, files, root)
    path = folder / f"{name or assignment}.ipynb"
    if isinstance(nb, str):
        path.write_text(nb, encoding="utf-8")
    else:
        nbformat.write(nb, path)
    if timestamp:
        (folder / "timestamp.txt").write_text(timestamp)
    return path


def scratch_course(dest: Path, assignments: Sequence[str], root: Path = ROOT, gradebook: bool = True) -> Path:
    """A throwaway course folder at ``dest``: config, hidden tests, the assignments' sources and release, and
    (``gradebook=True``) a gradebook that knows them; else ``grade`` records them on first use.
    For tests and benchmarks."""
    source, rel = config_dirs(root)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(root) / "nbgrader_config.py", dest / "nbgrader_config.py")
    shutil.copytree(Path(root) / "hidden_tests", dest / "hidden_tests", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    for assignment in assignments:
        shutil.copytree(Path(root) / source / assignment, dest / source / assignment, dirs_exist_ok=True)
        if (Path(root) / rel / assignment).exists():
            shutil.copytree(Path(root) / rel / assignment, dest / rel / assignment, dirs_exist_ok=True)
        else:
            release([assignment], dest)
        if gradebook:
            ensure_in_gradebook(assignment, dest)
    return dest


def edited(nb, edits):
    """``nb`` with a variant's ``(grade_id, old, new)`` text replacements made in its answer cells.

    When ``old`` starts with indentation and ``new`` does not, ``new`` gets that indentation (an
    edit is meant to change what the code does, not to make it a syntax error). The edited cell
    must compile, so that a variant scores what it does for the intended reason.
    """
    import copy

    nb = copy.deepcopy(nb)
    cells = {grade_id(c): c for c in nb.cells}
    for gid, old, new in edits:
        assert old in cells[gid].source, f"{gid}: {old!r} not found"
        indent = old[:len(old) - len(old.lstrip(" "))]
        if indent and new and not new[0].isspace():
            new = indent + new
        cells[gid].source = cells[gid].source.replace(old, new)
        compile(cells[gid].source, gid, "exec")  # raises SyntaxError on a broken edit
    return nb


def benchmark(assignment: str = "A1_backprop", n: int = 40, jobs: int = 2, root: Path = ROOT,
              workdir: Path | None = None, quiet: bool = True) -> dict:
    """Figure 4: plain serial ``nbgrader autograde`` against ``make autograde JOBS=N``.

    ``n`` submissions: half correct (``answered``), half the wrong submissions of
    ``WRONG_SUBMISSIONS`` for this assignment, in turn. Each mode grades its own fresh copy of
    the same course, timed end to end: ``python -m nbgrader autograde`` (nbgrader's own command,
    one process, one notebook after another) and ``python -m course autograde --jobs N``
    (what ``make autograde`` runs). Both use the course's ``nbgrader_config.py``: sandbox and
    trusted grader included. Returns seconds, the ratio, whether every submission got the same
    per-question scores, and the machine's load.
    """
    import tempfile

    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="autograde-bench-"))
    variants = [v for v in WRONG_SUBMISSIONS if v.assignment == assignment]
    courses = {}
    for label in ("serial", "parallel"):
        course = scratch_course(base / label, [assignment], root)
        good = answered(assignment, course)
        for k in range(n):
            nb = good if k % 2 == 0 or not variants else edited(good, variants[(k // 2) % len(variants)].edits)
            submit(assignment, f"student{k:02d}", nb, course)
        courses[label] = course
    env = nbgrader_env()
    commands = {"serial": [sys.executable, "-m", "nbgrader", "autograde", assignment, "--force"],
                "parallel": [sys.executable, "-m", "course", "autograde", "--root", str(courses["parallel"]),
                             assignment, "--jobs", str(jobs)]}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    results, tables = {}, {}
    for label in ("serial", "parallel"):
        start = time.perf_counter()
        proc = subprocess.run(commands[label], cwd=courses[label], env=env, capture_output=True, text=True)
        results[f"{label}_s"] = round(time.perf_counter() - start, 1)
        if not quiet or proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:])
        tables[label] = scores(assignment, courses[label])[["student", "question", "auto_score"]]
    return {"n": n, "jobs": jobs, "wrong_variants": [v.name for v in variants], **results,
            "speedup": round(results["serial_s"] / results["parallel_s"], 2),
            "identical_scores": bool(len(tables["serial"]) == n * len(set(tables["serial"].question))
                                     and tables["serial"].equals(tables["parallel"])),
            "load_before": round(load, 2),
            "load_after": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else float("nan"),
            "cpus": os.cpu_count()}
