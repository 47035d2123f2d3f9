"""The checks of lesson 09 pass a correct answer and fail (0 points, expected vs got) a wrong one
and the stub the notebook ships."""
import math

import torch
from torch.utils.data import Dataset

from course.exercises import l09


def iterations_per_epoch(n, batch_size, drop_last=False):
    return n // batch_size if drop_last else math.ceil(n / batch_size)


class FrameDataset(Dataset):
    def __init__(self, frame, feature_columns, target_column):
        self.X = torch.tensor(frame[feature_columns].to_numpy(), dtype=torch.float32)
        self.y = torch.tensor(frame[target_column].to_numpy(), dtype=torch.float32).unsqueeze(1)

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], self.y[i]


class FrameDatasetStub(FrameDataset):
    def __len__(self):
        ...  # YOUR CODE

    def __getitem__(self, i):
        ...  # YOUR CODE


class FrameDatasetByLabel(FrameDataset):
    """Looks rows up by index label: wrong after a shuffled split."""

    def __init__(self, frame, feature_columns, target_column):
        super().__init__(frame, feature_columns, target_column)
        self.frame, self.features = frame, feature_columns

    def __getitem__(self, i):
        row = self.frame.loc[i]
        return torch.tensor(row[self.features].to_numpy(dtype=float), dtype=torch.float32), self.y[i]


def add_family_size(frame):
    frame = frame.copy()
    frame["FamilySize"] = frame["SibSp"] + frame["Parch"] + 1
    frame["IsAlone"] = (frame["FamilySize"] == 1).astype(int)
    return frame


def add_family_size_stub(frame):
    frame = frame.copy()
    # YOUR CODE
    return frame


def test_iterations_per_epoch(capsys):
    assert l09.check_iterations_per_epoch(iterations_per_epoch) == 1.0
    assert "✔" in capsys.readouterr().out


def test_iterations_per_epoch_wrong_and_stub(capsys):
    assert l09.check_iterations_per_epoch(lambda n, b, drop_last=False: n // b) < 1.0
    assert "expected 23, got 22" in capsys.readouterr().out
    assert l09.check_iterations_per_epoch(lambda n, b, drop_last=False: None) == 0
    assert "got None" in capsys.readouterr().out


def test_frame_dataset(capsys):
    assert l09.check_frame_dataset(FrameDataset) == 1.0
    assert "✔" in capsys.readouterr().out


def test_frame_dataset_stub_and_wrong(capsys):
    assert l09.check_frame_dataset(FrameDatasetStub) == 0
    assert "len(dataset) raised TypeError" in capsys.readouterr().out
    assert l09.check_frame_dataset(FrameDatasetByLabel) == 0
    out = capsys.readouterr().out
    assert "expected" in out and "iloc" in out


def test_frame_dataset_scalar_label_is_explained(capsys):
    class ScalarLabel(FrameDataset):
        def __getitem__(self, i):
            return self.X[i], self.y[i, 0]
    assert l09.check_frame_dataset(ScalarLabel) == 0
    assert "y should be a float32 tensor of shape (1,)" in capsys.readouterr().out


def test_family_size(capsys):
    assert l09.check_family_size(add_family_size) == 1.0
    assert "✔" in capsys.readouterr().out


def test_family_size_wrong_and_stub(capsys):
    def forgot_self(frame):
        frame = frame.copy()
        frame["FamilySize"] = frame["SibSp"] + frame["Parch"]
        frame["IsAlone"] = (frame["FamilySize"] == 0).astype(int)
        return frame
    assert l09.check_family_size(forgot_self) == 0
    assert "column FamilySize: expected" in capsys.readouterr().out
    assert l09.check_family_size(add_family_size_stub) == 0
    assert "has no column 'FamilySize'" in capsys.readouterr().out
