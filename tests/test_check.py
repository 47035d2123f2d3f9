import warnings

import numpy as np
import pytest
import torch

from course import check


def test_value_right_and_wrong(capsys):
    assert check.value("w", torch.tensor(2.0), 2.0) == 1.0
    assert "✔ w: correct" in capsys.readouterr().out
    assert check.value("w", np.array([1.0, 2.5]), [1.0, 2.0], points=2) == 0.0
    out = capsys.readouterr().out
    assert "expected 2, got 2.5 at index (1,)" in out and "[0/2 pts]" in out


def test_shape_and_dtype_are_reported(capsys):
    check.value("x", torch.zeros(4, 3), np.zeros((3, 4)))
    assert "expected shape (3, 4), got shape (4, 3) (float32 tensor of shape (4, 3))" in capsys.readouterr().out


def test_eq_trick_earns_nothing(capsys):
    class AlwaysEqual:
        def __eq__(self, other):
            return True

    assert check.value("answer", AlwaysEqual(), 3.0) == 0.0
    assert "AlwaysEqual" in capsys.readouterr().out


def test_nan_is_wrong_but_matching_nans_and_infs_are_fine():
    assert check.compare([float("nan")], [1.0]) is not None
    assert check.compare([float("nan"), float("inf")], [float("nan"), float("inf")]) is None


def test_function_partial_credit_and_first_failing_case(capsys):
    cases = [(torch.tensor([1.0, 2.0]),), (torch.tensor([-2.0, 3.0]),)]
    wrong = lambda x: x.abs()  # right on the first case only  # noqa: E731
    assert check.function("relu", wrong, torch.relu, cases, points=2) == 1.0
    out = capsys.readouterr().out
    assert "1/2 cases" in out and "case 2" in out and "expected 0, got 2" in out


def test_function_never_raises(capsys):
    def crashes(x):
        raise ValueError("boom")

    def exits(x):
        raise SystemExit(3)

    def loops(x):
        while True:
            pass

    for fn in (crashes, exits, loops, None, 42):
        assert check.function("f", fn, torch.relu, [(torch.ones(2),)], timeout=0.5) == 0.0
    out = capsys.readouterr().out
    assert "raised ValueError: boom" in out and "sys.exit(3)" in out and "longer than 0.5 s" in out
    assert "expected a function, got int 42" in out


def test_warnings_and_stderr_of_correct_code_cost_nothing(capsys):
    import sys

    def noisy(x):
        warnings.warn("deprecated thing", DeprecationWarning)
        print("debug", file=sys.stderr)
        return torch.relu(x)

    assert check.function("relu", noisy, torch.relu, [(torch.ones(2),)]) == 1.0
    captured = capsys.readouterr()
    assert captured.err == "" and "cost nothing" in captured.out


def test_inputs_are_copied_so_in_place_learners_cannot_spoil_reference():
    def in_place(x):
        return x.mul_(2)

    assert check.function("double", in_place, lambda x: x * 2, [(torch.ones(3),)]) == 1.0


def test_tuples_compare_elementwise(capsys):
    ref = lambda x: (x, 2 * x)  # noqa: E731
    assert check.function("pair", lambda x: (x, 3 * x), ref, [(np.ones(2),)]) == 0.0
    assert "result 1 (second)" in capsys.readouterr().out


def test_numeric_gradient_and_gradient_check(capsys):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    f = lambda z: float(np.sum(z**3))  # noqa: E731
    num = check.numeric_gradient(f, x)
    assert check.rel_error(num, 3 * x**2) < 1e-7
    assert check.gradient("d/dx sum x^3", 3 * x**2, num) == 1.0
    assert check.gradient("wrong", -3 * x**2, num) == 0.0
    assert "relative error" in capsys.readouterr().out


def test_numeric_gradient_array_matches_torch():
    rng = np.random.default_rng(1)
    x, dout = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    num = check.numeric_gradient_array(np.tanh, x, dout)
    xt = torch.tensor(x, requires_grad=True)
    torch.tanh(xt).backward(torch.tensor(dout))
    assert check.rel_error(num, xt.grad) < 1e-7


def test_condition_and_total(capsys):
    assert check.total(check.condition("loss fell", True, "it did not"),
                       check.condition("acc", False, "accuracy 10% is chance level", points=2)) == 1.0
    assert "accuracy 10% is chance level" in capsys.readouterr().out


@pytest.mark.parametrize("value,shape", [(3, ()), ([1, 2], (2,)), ((np.ones(2), np.zeros(2)), (2, 2)),
                                         (torch.ones(2, dtype=torch.int64), (2,))])
def test_to_numbers(value, shape):
    arr = check.to_numbers(value)
    assert arr.dtype == np.float64 and arr.shape == shape


@pytest.mark.parametrize("value", ["3", None, object(), np.array(["a"]), [np.ones(2), np.ones(3)]])
def test_to_numbers_refuses_non_numbers(value):
    with pytest.raises(check.NotANumber):
        check.to_numbers(value)
