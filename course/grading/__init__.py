"""Graded checks for the assignments A1-A6: one function per nbgrader test cell.

Each assignment's test cell calls one check with the learner's object and shows the points it
returns as the cell's last expression, which nbgrader reads as partial credit::

    score = grading.a1.affine_backward(affine_backward, points=3)
    ### BEGIN HIDDEN TESTS
    score = grading.a1.affine_backward(affine_backward, points=3, hidden=True)
    ### END HIDDEN TESTS
    score

The visible call gives learners instant feedback while they work (in Colab too); the hidden call
(only in the instructor's copy) runs the visible cases plus hidden ones (other seeds and sizes)
and the hidden reference implementations. Those live in the course folder's ``hidden_tests/``,
never in this package (``course.grading.hidden``).

Two ways to reach the learner's code, one check library
--------------------------------------------------------
A check never touches the learner's object directly: it asks a **probe**
(``course.grading.probes``) to run it on inputs the check chose, gets back plain data
(``course.grading.wire``: arrays, numbers, state dicts; nothing that can run code when read) and
computes what the answer should be with its own operations.

* In the student's notebook the probe runs in the same process (``core.invoke``), so the test
  cell gives instant feedback.
* Under the autograder (``course.autograde``) a test cell is **not** run in the student's kernel.
  The trusted grader reads the cell's check call, hands the check proxies of the learner's
  objects (``course.autograde.remote``) that run the probes in the kernel, and writes the report
  and the score into the graded notebook itself. Nothing a student's cell does in its kernel
  (patching ``course``, numpy, torch, builtins, IPython's display) changes how the returned
  data is scored; at most it spoils its own answers.

How a check grades
------------------
* A question is split into named **parts** (``dx``, ``dw``, ``db`` ...), each worth a share of
  ``points``. A part earns its share when it is right in *every* case it was tested on.
* The learner's code runs through ``course.check.run_safely`` (beside it, in its own process):
  errors, ``sys.exit``, warnings, printing and endless loops (a time limit of ``TIMEOUT`` seconds
  per call; a function that timed out once is not run again) become a message and 0 points for
  the parts it affects.
* Results are compared as plain numbers: everything is converted to a float64 numpy array (or
  refused) before comparison, so an object whose ``==`` always says True earns nothing.
* References come from PyTorch (autograd, ``F.cross_entropy``, ``F.conv2d``, ``nn.BatchNorm1d``,
  ``torch.optim`` ...) or from the learner module's own parameters run through the check's own
  operations, not from hand-written solutions; the few reference loops that are solutions
  (training loops, the Titanic features) are hidden tests. The package does not ship the answers.
* A check never raises and never writes to stderr (Python-level or C-level), because nbgrader
  gives 0 points to a test cell with an error or any stderr output. It prints a short report
  (one line per part) and returns a plain ``float``.
* Each check runs on small generated data, needs no download and takes well under a second,
  except A6's speed check (it times a convolution on purpose: a few seconds), A4's
  ``cifar_accuracy`` (it classifies 2,000 CIFAR-10 test images with the learner's handed-in
  weights: a few seconds on one CPU thread) and A3's graded
  training run (``a3.mnist_training``): it trains the learner's model with the learner's
  training function on MNIST's training images, in the kernel, within a stated budget (5
  epochs, 60 s of CPU time on one thread), and scores the predictions on held-out images whose
  labels only the check holds (the grading kernel's data view leaves that split out:
  ``hidden_data`` in ``solutions/A3_data_classifiers/assignment.json``).
* A1 is numpy only, and that is graded: its learner code runs with PyTorch out of reach
  (``probes.torch_out_of_reach``).
* The written questions are nbgrader "manually graded answer" cells: the model answer and the
  rubric are in the source notebook's solution block; the formgrader shows them to the grader,
  the release replaces them with "YOUR ANSWER HERE".

Wrong submissions and the scores they must get
----------------------------------------------
``WRONG_SUBMISSIONS`` in ``bench/gradingkit.py`` holds each wrong (or odd but correct) submission
as exact edits of the solution notebooks and the score each test cell must give it: sign errors,
a missing bias gradient, the wrong reduction, the ``==`` trick, an endless loop, warnings (full
marks), an in-place op that breaks autograd, missing ages, probabilities instead of logits, an
MLP without ReLU / with Tanh / with a ReLU on the logits, float64 items and ``()`` labels (the
values still count), an A1 layer computed with PyTorch, A3 training runs that never call
``model.train()``, do not train, never train on one class (a middle accuracy band), train
past the epoch budget or the time limit, max pooling / a missing or swapped branch
/ an extra ReLU in the Inception block, the wrong learning rate, a bottleneck block without its projection shortcut or
with the stride on the wrong convolution, A4 weights files that are untrained, weaker (the middle
accuracy band), missing, corrupt, oversized or a pickled whole model,
restoring ``x`` by ``+h, -2h, +h`` (full marks), and A5's unscaled dropout, ``p`` taken as the
keep probability, batch statistics in batch norm's test mode, a biased or missing running
variance update, a batch-norm backward pass without the mean and variance paths, a net without
its dropout seed, CS231n's momentum convention, RMSprop's epsilon inside the square root and Adam
without bias correction. A bug in one A1 or A5 layer is charged once: the net accepts the net
built from the learner's own layers. The self-tests grade them in process
(``tests/test_grading_checks.py``, ``tests/test_grading_a5.py``, ``tests/test_grading_training.py``)
and through nbgrader's real command line (``tests/test_grading_workflow.py``). A6 adds a naive
convolution without the padding crop in its backward pass, with the wrong output-size formula and
with a flipped kernel, max-pool gradients sent to every element of a window or averaged, a
"vectorised" convolution that calls the naive one, and one that is slow while its naive version
sleeps at the timed size (the grader's reference loop bounds the naive time: no speed points).
Full marks of the checks: A1 20, A2 12, A3 16, A4 17, A5 26, A6 20, plus the written answers of
every assignment, graded by hand in the formgrader.

The released notebooks (stubs that raise ``NotImplementedError``) score 0 everywhere, with a
"not implemented yet" message and no error output.
"""
from __future__ import annotations

import importlib

from course.grading.core import (TIMEOUT, Question, compare, graded, invoke, loss_list,  # noqa: F401
                                 plain, shape_of, shapes)

ASSIGNMENTS = ("a1", "a2", "a3", "a4", "a5", "a6")
__all__ = [*ASSIGNMENTS, "Question", "graded", "plain", "TIMEOUT"]


def __getattr__(name: str):
    """``grading.a1`` ... ``grading.a6`` are imported on first use: under the autograder the
    student's kernel only runs probes, and a numpy-only assignment never needs torch there."""
    if name in ASSIGNMENTS:
        module = importlib.import_module(f"course.grading.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'course.grading' has no attribute {name!r}")
