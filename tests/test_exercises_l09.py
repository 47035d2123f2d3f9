"""The checks of lesson 09 pass a correct answer and fail (0 points, expected vs got) a wrong one
and the stub the notebook ships."""
import math

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

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


# --------------------------------------------------------------------------------------------
# Exercise 3: the Titanic classifier on the check's own held-out split
# --------------------------------------------------------------------------------------------
NUMERIC = ["Pclass", "Age", "SibSp", "Parch", "LogFare"]


def encode(frame, stats, standardize=True):
    """The lesson's preprocessing (section 5) plus the solution's three extra features."""
    features = pd.DataFrame(index=frame.index)
    features["Pclass"] = frame["Pclass"].astype(float)
    features["IsFemale"] = (frame["Sex"] == "female").astype(float)
    features["Age"] = frame["Age"].fillna(stats["age_median"])
    features["SibSp"] = frame["SibSp"].astype(float)
    features["Parch"] = frame["Parch"].astype(float)
    features["LogFare"] = np.log1p(frame["Fare"].fillna(stats["fare_median"]))
    port = frame["Embarked"].fillna(stats["embarked_mode"])
    for p in ["C", "Q", "S"]:
        features[f"Embarked_{p}"] = (port == p).astype(float)
    if standardize:
        features[NUMERIC] = (features[NUMERIC] - stats["mean"]) / stats["std"]
    return features


def fit_stats(frame):
    stats = {"age_median": frame["Age"].median(), "fare_median": frame["Fare"].median(),
             "embarked_mode": frame["Embarked"].mode()[0]}
    raw = encode(frame, stats, standardize=False)[NUMERIC]
    stats["mean"], stats["std"] = raw.mean(), raw.std()
    return stats


def train_and_predict(train_frame, test_frame, epochs=20):
    stats = fit_stats(train_frame)
    X = torch.tensor(encode(train_frame, stats).to_numpy(), dtype=torch.float32)
    y = torch.tensor(train_frame["Survived"].to_numpy(), dtype=torch.float32).unsqueeze(1)
    X_test = torch.tensor(encode(test_frame, stats).to_numpy(), dtype=torch.float32)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(X.shape[1], 16), nn.ReLU(), nn.Linear(16, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    for _ in range(epochs):
        for xb, yb in loader:
            loss = nn.functional.binary_cross_entropy_with_logits(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        return (model(X_test) >= 0).int().squeeze(1)                 # (N_test,) of 0/1


def passengers(n=400, seed=5):
    """Titanic-like passengers whose survival depends on sex, class and age, so that a trained
    model beats the "women survived" rule (girls and boys survive, third-class women do not)."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["male", "female"], n)
    pclass = rng.choice([1, 2, 3], n)
    age = np.round(rng.uniform(1, 70, n), 1)
    survived = ((sex == "female") & (pclass < 3)) | (age < 12)
    return pd.DataFrame({"PassengerId": np.arange(1, n + 1), "Survived": survived.astype(int),
                         "Pclass": pclass, "Name": [f"P{i}" for i in range(n)], "Sex": sex,
                         "Age": age, "SibSp": rng.integers(0, 4, n), "Parch": rng.integers(0, 3, n),
                         "Ticket": "T", "Fare": np.round(rng.gamma(2.0, 15.0, n) * (4 - pclass), 2),
                         "Cabin": np.nan, "Embarked": rng.choice(["S", "C", "Q"], n)})


def test_titanic_trained_network_passes(capsys):
    assert l09.check_titanic_classifier(train_and_predict, frame=passengers()) == 1.0
    out = capsys.readouterr().out
    assert "✔" in out and "held back" in out and "'women survived' rule's" in out


def test_titanic_all_zeros_and_untrained_fail(capsys):
    frame = passengers()
    assert l09.check_titanic_classifier(lambda tr, te: np.zeros(len(te)), frame=frame) == 0
    out = capsys.readouterr().out
    assert "✘" in out and "the bar is the 'women survived' rule's" in out and "is the model trained?" in out
    untrained = lambda tr, te: train_and_predict(tr, te, epochs=0)  # noqa: E731
    assert l09.check_titanic_classifier(untrained, frame=frame) == 0
    assert "the bar is" in capsys.readouterr().out


def test_titanic_check_holds_the_labels_back():
    seen = {}

    def spy(train_frame, test_frame):
        seen["train"], seen["test"] = train_frame, test_frame
        return np.zeros(len(test_frame))
    frame = passengers()
    l09.check_titanic_classifier(spy, frame=frame)
    assert "Survived" not in seen["test"].columns and "Survived" in seen["train"].columns
    assert len(seen["train"]) + len(seen["test"]) == len(frame)
    assert not set(seen["train"]["PassengerId"]) & set(seen["test"]["PassengerId"])


def test_titanic_wrong_outputs_are_explained(capsys):
    frame = passengers()
    assert l09.check_titanic_classifier(lambda tr, te: None, frame=frame) == 0
    assert "got None" in capsys.readouterr().out
    assert l09.check_titanic_classifier(lambda tr, te: np.full(len(te), 0.7), frame=frame) == 0
    assert "expected 0/1 predictions" in capsys.readouterr().out
    assert l09.check_titanic_classifier(lambda tr, te: np.zeros(3), frame=frame) == 0
    assert "one prediction per held-out passenger" in capsys.readouterr().out


def test_titanic_on_the_course_data(patched_checksums, capsys):
    """Without ``frame`` the check loads the course's Titanic CSV (here the stand-in)."""
    rule = lambda tr, te: (te["Sex"] == "female").astype(int)  # noqa: E731 - a Series is fine
    assert l09.check_titanic_classifier(rule) == 1.0                      # the bar itself passes
    assert l09.check_titanic_classifier(lambda tr, te: np.zeros(len(te))) == 0
