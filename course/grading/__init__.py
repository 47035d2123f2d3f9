"""Graded checks for the assignments A1-A4: one function per nbgrader test cell.

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
* References come from PyTorch (autograd, ``F.cross_entropy``, ``F.conv2d`` ...) or from the
  learner module's own parameters run through the check's own operations, not from hand-written
  solutions; the few reference loops that are solutions (training loops, the Titanic features)
  are hidden tests. The package does not ship the answers.
* A check never raises and never writes to stderr (Python-level or C-level), because nbgrader
  gives 0 points to a test cell with an error or any stderr output. It prints a short report
  (one line per part) and returns a plain ``float``.
* Each check runs on small generated data, needs no download and takes well under a second.

Wrong submissions and the scores they must get
----------------------------------------------
The self-tests (``tests/test_grading_checks.py`` in-process, ``tests/test_grading_workflow.py``
through nbgrader's command line) build these by editing the solution notebooks;
``WRONG_SUBMISSIONS`` in ``tests/test_grading_checks.py`` holds the exact edits (answer cell,
old text, new text). Full marks: A1 20, A2 12, A3 14, A4 14. Questions not listed keep full marks.

===========================  ==================================================  =====================  =====
variant                      the edit (answer cell)                              questions hit          total
===========================  ==================================================  =====================  =====
A1 sign_error                ``relu``: ``dx = -dout * (x > 0)``                  relu 1/3,              16/20
                                                                                 two_layer_loss 3/5
A1 missing_bias_gradient     ``affine_backward``: ``db = np.zeros_like(b)``      affine_backward 2/3,   17/20
                                                                                 two_layer_loss 3/5
A1 wrong_reduction           ``softmax_loss``: the loss uses ``.sum()``,         softmax_loss 2/4,      17/20
                             not ``.mean()`` (the gradient is right)             two_layer_loss 4/5
A1 eq_trick                  ``numeric_gradient`` returns an object whose        numeric_gradient 0/3   17/20
                             ``__eq__`` always says True
A1 infinite_loop             ``numeric_gradient`` never calls                    numeric_gradient 0/3   17/20
                             ``it.iternext()``
A1 warnings                  ``affine_forward`` warns (User-, Deprecation-       none                   20/20
                             Warning) and writes to stderr (sys.stderr
                             and file descriptor 2); otherwise correct
A2 sign_error                ``silu``: backward returns ``-grad_output * ...``   silu 1/3               10/12
A2 inplace_breaks_autograd   ``gated_linear``: ``gate *= value`` changes         gated_linear 3/5       10/12
                             sigmoid's saved output; backward raises             (forward is right)
A2 inplace_leaf_update       ``fit``: ``p -= lr * p.grad`` on leaf               fit 0/4                8/12
                             parameters outside ``torch.no_grad()``
A2 warnings                  ``fit``: ``X = torch.tensor(X)`` each epoch         none                   12/12
                             (a UserWarning); otherwise correct
A3 missing_ages_not_filled   ``titanic_dataset``: no ``fillna(median)``          titanic_dataset 3/5    12/14
A3 softmax_in_forward        ``mnist_mlp`` returns probabilities                 mnist_mlp 2/3          13/14
A4 wrong_padding             ``inception_block``: the 5x5 conv has no            inception_block 2/5    11/14
                             ``padding=2`` (concatenation fails)
A4 missing_skip_connection   ``residual_block``: ``relu(out)``, no ``x +``       residual_block 2/5     11/14
===========================  ==================================================  =====================  =====

The released notebooks (stubs that raise ``NotImplementedError``) score 0 everywhere, with a
"not implemented yet" message and no error output.
"""
from __future__ import annotations

import importlib

from course.grading.core import (TIMEOUT, Question, compare, graded, invoke, loss_list,  # noqa: F401
                                 plain, shape_of, shapes)

ASSIGNMENTS = ("a1", "a2", "a3", "a4")
__all__ = [*ASSIGNMENTS, "Question", "graded", "plain", "TIMEOUT"]


def __getattr__(name: str):
    """``grading.a1`` ... ``grading.a4`` are imported on first use: under the autograder the
    student's kernel only runs probes, and a numpy-only assignment never needs torch there."""
    if name in ASSIGNMENTS:
        module = importlib.import_module(f"course.grading.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'course.grading' has no attribute {name!r}")
