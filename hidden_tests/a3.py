"""Hidden tests of A3 (instructor only: never shipped in the course package)."""
import numpy as np

FEATURES = ("Pclass", "Sex", "Age", "SibSp", "Parch", "Fare")
TITANIC = [(10, 7, 0.3), (11, 120, 0.5), (12, 25, 0.0)]
MLP = [(10, 1), (11, 16)]
PROBA = [(10, 1), (11, 32)]
TRAINING = [10]   # the graded run's seed (initialisation and relabelling): one run, not two


def titanic_reference(df, ddof: int):
    """The preprocessing ``TitanicDataset`` must do: (features (n, 6), labels (n, 1))."""
    f = df[list(FEATURES)].copy()
    f["Sex"] = (f["Sex"] == "female").astype(float)
    f["Age"] = f["Age"].fillna(f["Age"].median())
    X = f.to_numpy(dtype=np.float64)
    X = (X - X.mean(axis=0)) / X.std(axis=0, ddof=ddof)
    return X, df["Survived"].to_numpy(dtype=np.float64)[:, None]
