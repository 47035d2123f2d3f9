"""The checks of lesson 08 pass a correct answer and fail (0 points, expected vs got) a wrong one
and the stub the notebook ships."""
import pandas as pd

from course.exercises import l08


def standardize(X_train, X_test):
    mean, std = X_train.mean(dim=0), X_train.std(dim=0)
    return (X_train - mean) / std, (X_test - mean) / std


def num_parameters(sizes):
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def fill_missing(train, test, columns):
    train, test = train.copy(), test.copy()
    for column in columns:
        median = train.loc[train[column] != 0, column].median()
        train[column] = train[column].mask(train[column] == 0, median)
        test[column] = test[column].mask(test[column] == 0, median)
    return train, test


def stub(*args):
    return None


def test_standardize(capsys):
    assert l08.check_standardize(standardize) == 1.0
    assert "✔" in capsys.readouterr().out


def test_standardize_with_test_statistics_fails(capsys):
    def leaky(X_train, X_test):  # uses the test set's own mean and std
        return standardize(X_train, X_train)[0], standardize(X_test, X_test)[0]
    assert l08.check_standardize(leaky) == 0
    out = capsys.readouterr().out
    assert "result 1 (second)" in out and "expected" in out
    assert l08.check_standardize(stub) == 0
    assert "got None" in capsys.readouterr().out


def test_num_parameters(capsys):
    assert l08.check_num_parameters(num_parameters) == 1.0
    assert "✔" in capsys.readouterr().out


def test_num_parameters_without_biases_fails(capsys):
    assert l08.check_num_parameters(lambda sizes: sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))) == 0
    assert "expected 9, got 8" in capsys.readouterr().out
    assert l08.check_num_parameters(stub) == 0
    assert "got None" in capsys.readouterr().out


def test_fill_missing(capsys):
    assert l08.check_fill_missing(fill_missing) == 1.0
    assert "✔" in capsys.readouterr().out


def test_fill_missing_with_median_including_zeros_fails(capsys):
    def zeros_counted(train, test, columns):
        train, test = train.copy(), test.copy()
        for column in columns:
            median = train[column].median()  # the zeros drag the median down
            train[column] = train[column].mask(train[column] == 0, median)
            test[column] = test[column].mask(test[column] == 0, median)
        return train, test
    assert l08.check_fill_missing(zeros_counted) == 0
    assert "expected" in capsys.readouterr().out
    assert l08.check_fill_missing(stub) == 0
    assert "got None" in capsys.readouterr().out


def test_fill_missing_crash_on_integer_column_is_reported(capsys):
    def loc_assignment(train, test, columns):  # pandas refuses a float median in an int column
        train, test = train.copy(), test.copy()
        for column in columns:
            median = train.loc[train[column] != 0, column].median()
            train.loc[train[column] == 0, column] = median
            test.loc[test[column] == 0, column] = median
        return train, test
    score = l08.check_fill_missing(loc_assignment)
    out = capsys.readouterr().out
    if int(pd.__version__.split(".")[0]) >= 3:  # older pandas upcasts (with a warning) instead
        assert score < 1.0 and "case 3" in out and "raised TypeError" in out


def test_standardize_population_std_fails_with_a_ddof_hint(capsys):
    """The lesson asks for X_train.std(dim=0) (N - 1); the population std (N) is named as such."""
    def population(X_train, X_test):
        mean, std = X_train.mean(dim=0), X_train.std(dim=0, correction=0)
        return (X_train - mean) / std, (X_test - mean) / std
    assert l08.check_standardize(population) == 0
    out = capsys.readouterr().out
    assert "expected" in out and "got" in out
    assert "population std, which divides by N" in out and "ddof=1" in out


def test_standardize_numpy_default_std_fails_with_the_same_hint(capsys):
    import numpy as np
    import torch

    def numpy_std(X_train, X_test):
        mean, std = X_train.numpy().mean(axis=0), X_train.numpy().std(axis=0)   # np.std: ddof=0
        return (torch.from_numpy((X_train.numpy() - mean) / std),
                torch.from_numpy((X_test.numpy() - mean) / std))
    assert l08.check_standardize(numpy_std) == 0
    assert "ddof=0" in capsys.readouterr().out


def test_standardize_test_statistics_hint(capsys):
    def own_stats(X_train, X_test):
        return standardize(X_train, X_train)[0], standardize(X_test, X_test)[0]
    l08.check_standardize(own_stats)
    assert "standardised with its own mean and std" in capsys.readouterr().out
