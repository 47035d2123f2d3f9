"""The checks of lesson 07 pass a correct answer and fail (0 points, expected vs got) a wrong one
and the stub the notebook ships."""
import torch

from course.exercises import l07


def sigmoid(z):
    return 1 / (1 + torch.exp(-z))


def bce(y_hat, y):
    return -(y * torch.log(y_hat) + (1 - y) * torch.log(1 - y_hat)).mean()


def bce_with_logits(z, y):
    return (z.clamp(min=0) - z * y + torch.log1p(torch.exp(-z.abs()))).mean()


def stub(*args):
    return None


def test_sigmoid(capsys):
    assert l07.check_sigmoid(sigmoid) == 1.0
    assert "✔" in capsys.readouterr().out


def test_sigmoid_wrong_and_stub(capsys):
    assert l07.check_sigmoid(lambda z: 1 / (1 + torch.exp(z))) < 1.0   # sign slip: sigmoid(-z)
    assert "expected" in capsys.readouterr().out
    assert l07.check_sigmoid(stub) == 0
    assert "got None" in capsys.readouterr().out


def test_bce(capsys):
    assert l07.check_bce(bce) == 1.0
    assert "✔" in capsys.readouterr().out


def test_bce_wrong_and_stub(capsys):
    no_minus = lambda y_hat, y: (y * torch.log(y_hat) + (1 - y) * torch.log(1 - y_hat)).mean()  # noqa: E731
    assert l07.check_bce(no_minus) == 0
    out = capsys.readouterr().out
    assert "expected" in out and "got" in out
    assert l07.check_bce(stub) == 0
    assert "got None" in capsys.readouterr().out


def test_bce_with_logits(capsys):
    assert l07.check_bce_with_logits(bce_with_logits) == 1.0
    assert "✔" in capsys.readouterr().out


def test_bce_with_logits_naive_version_fails_on_large_logits(capsys):
    def naive(z, y):
        return bce(torch.sigmoid(z), y)
    score = l07.check_bce_with_logits(naive)
    out = capsys.readouterr().out
    assert score == 0 and "expected" in out and "hint" in out


def test_bce_with_logits_stub(capsys):
    assert l07.check_bce_with_logits(stub) == 0
    assert "got None" in capsys.readouterr().out


def test_bce_with_logits_textbook_formula_overflows_and_scores_zero(capsys):
    """log(1 + exp(z)) - z*y is exact algebra but exp(z) is inf in float32 for z > 88.7."""
    def textbook(z, y):
        return (torch.log(1 + torch.exp(z)) - z * y).mean()
    assert l07.check_bce_with_logits(textbook) == 0
    out = capsys.readouterr().out
    assert "expected" in out and "got inf" in out
    assert "hint: for z = 100" in out and "overflows" in out


def test_bce_with_logits_log_sigmoid_scores_zero(capsys):
    def naive(z, y):
        return bce(torch.sigmoid(z), y)
    assert l07.check_bce_with_logits(naive) == 0
    out = capsys.readouterr().out
    assert "expected" in out and "hint: for z = 40" in out


def test_every_bce_with_logits_case_has_a_logit_of_at_least_100():
    assert all(z.abs().max() >= 100 for z, _ in l07._bce_logits_cases())


def test_bce_with_logits_bceloss_on_sigmoid_scores_zero(capsys):
    """nn.BCELoss clamps log(0) to -100: finite, but wrong for a logit of -150 or 80."""
    assert l07.check_bce_with_logits(lambda z, y: torch.nn.BCELoss()(torch.sigmoid(z), y)) == 0
    assert "expected" in capsys.readouterr().out
