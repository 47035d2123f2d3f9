"""Small stand-in datasets in the libraries' real on-disk formats, for tests and smoke runs.

    python tests/fakedata.py DIR      # writes DIR/MNIST/raw, DIR/cifar-10-batches-py, DIR/tabular
                                      # and DIR/checksums.json (read by tests/shim/sitecustomize.py)

* MNIST: the four *uncompressed* idx files torchvision reads (so it downloads nothing).
* CIFAR-10: the pickled batches and ``batches.meta``; torchvision checks their md5 against its
  list, so the checksum shim swaps in these files' md5s (tests only).
* Tabular: Titanic, Pima and the scaled diabetes table with the real columns; the shim swaps in
  their sha256s.

Images are learnable: each class has its own bright pattern plus noise, so "the loss falls" and
"accuracy beats chance" hold on them.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import pickle
import sys
from pathlib import Path

import numpy as np

MNIST_SIZES = {"train": 600, "t10k": 200}
CIFAR_PER_BATCH, CIFAR_TEST = 100, 200
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _patterned(rng, labels, shape):
    """uint8 images: class k lights a horizontal band at row ~ k, with noise."""
    n = len(labels)
    images = rng.integers(0, 60, size=(n, *shape), dtype=np.int64)
    height = shape[-2]
    band = max(1, height // 10)
    for i, k in enumerate(labels):
        top = int(k) * height // 10
        images[i, ..., top:top + band, :] += 180
    return np.clip(images, 0, 255).astype(np.uint8)


def write_mnist(root: Path, seed: int = 0) -> None:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in MNIST_SIZES.items():
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = _patterned(rng, labels, (28, 28))
        (raw / f"{split}-images-idx3-ubyte").write_bytes(
            np.array([2051, n, 28, 28], dtype=">i4").tobytes() + images.tobytes())
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(
            np.array([2049, n], dtype=">i4").tobytes() + labels.astype(np.uint8).tobytes())


def write_cifar10(root: Path, seed: int = 0) -> dict[str, str]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    md5 = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = CIFAR_TEST if name == "test_batch" else CIFAR_PER_BATCH
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = _patterned(rng, labels, (3, 32, 32)).reshape(n, 3072)
        entry = {"batch_label": name, "labels": labels.tolist(), "data": images,
                 "filenames": [f"fake_{i}.png" for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
        md5[name] = hashlib.md5((folder / name).read_bytes()).hexdigest()
    meta = {"label_names": CIFAR_CLASSES, "num_cases_per_batch": CIFAR_PER_BATCH, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    md5["batches.meta"] = hashlib.md5((folder / "batches.meta").read_bytes()).hexdigest()
    return md5


def write_tabular(root: Path, seed: int = 0) -> dict[str, str]:
    import pandas as pd

    folder = root / "tabular"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = 200
    sex = rng.choice(["male", "female"], n, p=[0.65, 0.35])
    pclass = rng.choice([1, 2, 3], n, p=[0.25, 0.2, 0.55])
    age = np.round(rng.uniform(1, 70, n), 1).astype(object)
    age[rng.random(n) < 0.2] = np.nan
    chance = 0.15 + 0.6 * (sex == "female") + 0.1 * (pclass == 1)
    titanic = pd.DataFrame({
        "PassengerId": np.arange(1, n + 1),
        "Survived": (rng.random(n) < chance).astype(int),
        "Pclass": pclass,
        "Name": [f"Passenger, Mx. Number{i}" for i in range(n)],
        "Sex": sex,
        "Age": age,
        "SibSp": rng.integers(0, 4, n),
        "Parch": rng.integers(0, 3, n),
        "Ticket": [f"T{i:05d}" for i in range(n)],
        "Fare": np.round(rng.gamma(2.0, 15.0, n) * (4 - pclass), 4),
        "Cabin": [f"C{i}" if rng.random() < 0.25 else np.nan for i in range(n)],
        "Embarked": rng.choice(["S", "C", "Q", np.nan], n, p=[0.7, 0.18, 0.11, 0.01]),
    })
    titanic.to_csv(folder / "titanic_train.csv", index=False)

    X = np.column_stack([
        rng.integers(0, 12, n), rng.integers(60, 200, n), rng.integers(40, 110, n),
        rng.integers(0, 50, n), rng.integers(0, 400, n), np.round(rng.uniform(18, 50, n), 1),
        np.round(rng.uniform(0.1, 2.0, n), 3), rng.integers(21, 80, n)])
    y = ((X[:, 1] > 130) ^ (rng.random(n) < 0.15)).astype(int)
    lines = [",".join(f"{v:g}" for v in row) + f",{label}" for row, label in zip(X, y)]
    (folder / "pima-indians-diabetes.csv").write_text("\n".join(lines))

    scaled = np.round(rng.uniform(-1, 1, (n, 8)), 6)
    label = (scaled[:, 1] < 0.1).astype(int)
    body = "\n".join(",".join(f"{v:g}" for v in row) + f",{lab}" for row, lab in zip(scaled, label))
    (folder / "diabetes.csv.gz").write_bytes(gzip.compress(body.encode(), mtime=0))
    return {name: hashlib.sha256((folder / file).read_bytes()).hexdigest() for name, file in
            {"titanic": "titanic_train.csv", "pima": "pima-indians-diabetes.csv",
             "diabetes": "diabetes.csv.gz"}.items()}


def write_all(root: str | Path, seed: int = 0) -> Path:
    """Write every stand-in dataset under ``root``; returns the path of ``checksums.json``."""
    root = Path(root)
    write_mnist(root, seed)
    checksums = {"cifar10_md5": write_cifar10(root, seed), "tabular_sha256": write_tabular(root, seed)}
    path = root / "checksums.json"
    path.write_text(json.dumps(checksums, indent=2))
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/fakedata.py DIR")
    print(write_all(sys.argv[1]))
