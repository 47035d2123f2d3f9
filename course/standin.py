"""Small stand-in datasets in the libraries' real on-disk formats, for tests and offline smoke runs.

    python -m course.standin DIR      # writes DIR/MNIST/raw, DIR/cifar-10-batches-py, DIR/tabular
                                      # and DIR/checksums.json

* MNIST: the four *uncompressed* idx files torchvision reads (so it downloads nothing).
* CIFAR-10: the pickled batches and ``batches.meta``. torchvision checks their md5 against its
  list, so ``checksums.json`` holds these files' md5s.
* Tabular: Titanic, Pima and the scaled diabetes table with the real columns; ``checksums.json``
  holds their sha256s.

``checksums.json`` is the checksum override of ``course.data``: point ``$COURSE_DATA_CHECKSUMS``
at it (and ``$COURSE_DATA_DIR`` at the folder) and the course accepts the stand-ins. The test
suite does that, and so does ``course run --smoke`` when the real datasets are not in the cache
(``prepare``). The stand-ins are only for checking that code runs: the numbers a lesson prints on
them mean nothing.

Images are learnable: each class has its own bright pattern plus noise, so "the loss falls" and
"accuracy beats chance" hold on them.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import shutil
import sys
from pathlib import Path
from typing import Iterable

import numpy as np

MNIST_SIZES = {"train": 600, "t10k": 200}
CIFAR_PER_BATCH, CIFAR_TEST = 100, 200
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
TABULAR_FILES = {"titanic": "titanic_train.csv", "pima": "pima-indians-diabetes.csv",
                 "diabetes": "diabetes.csv.gz"}
CHECKSUMS = "checksums.json"


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
    raw = Path(root) / "MNIST" / "raw"
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
    """Write the stand-in CIFAR-10 batches; returns file name -> md5."""
    folder = Path(root) / "cifar-10-batches-py"
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


def write_tabular(root: Path, seed: int = 0, names: Iterable[str] = tuple(TABULAR_FILES)) -> dict[str, str]:
    """Write the stand-in CSVs named in ``names``; returns name -> sha256."""
    import pandas as pd

    folder = Path(root) / "tabular"
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

    X = np.column_stack([
        rng.integers(0, 12, n), rng.integers(60, 200, n), rng.integers(40, 110, n),
        rng.integers(0, 50, n), rng.integers(0, 400, n), np.round(rng.uniform(18, 50, n), 1),
        np.round(rng.uniform(0.1, 2.0, n), 3), rng.integers(21, 80, n)])
    y = ((X[:, 1] > 130) ^ (rng.random(n) < 0.15)).astype(int)
    pima = "\n".join(",".join(f"{v:g}" for v in row) + f",{label}" for row, label in zip(X, y))

    scaled = np.round(rng.uniform(-1, 1, (n, 8)), 6)
    label = (scaled[:, 1] < 0.1).astype(int)
    body = "\n".join(",".join(f"{v:g}" for v in row) + f",{lab}" for row, lab in zip(scaled, label))

    # Everything is drawn above, whatever ``names`` holds, so each file is the same either way.
    writers = {
        "titanic": lambda path: titanic.to_csv(path, index=False),
        "pima": lambda path: path.write_text(pima),
        "diabetes": lambda path: path.write_bytes(gzip.compress(body.encode(), mtime=0)),
    }
    sums = {}
    for name in names:
        path = folder / TABULAR_FILES[name]
        writers[name](path)
        sums[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return sums


def write_all(root: str | os.PathLike, seed: int = 0, names: Iterable[str] | None = None) -> Path:
    """Write the stand-in datasets (default: all) under ``root``; returns the path of ``checksums.json``.

    ``names`` picks some of ``mnist``, ``cifar10``, ``titanic``, ``pima``, ``diabetes``;
    ``checksums.json`` then holds only the checksums of what was written.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = list(names) if names is not None else ["mnist", "cifar10", *TABULAR_FILES]
    unknown = sorted(set(names) - {"mnist", "cifar10", *TABULAR_FILES})
    if unknown:
        raise KeyError(f"No stand-in for {', '.join(unknown)}.")
    checksums: dict[str, dict[str, str]] = {}
    if "mnist" in names:
        write_mnist(root, seed)
    if "cifar10" in names:
        checksums["cifar10_md5"] = write_cifar10(root, seed)
    tabular = [n for n in TABULAR_FILES if n in names]
    if tabular:
        checksums["tabular_sha256"] = write_tabular(root, seed, tabular)
    path = root / CHECKSUMS
    path.write_text(json.dumps(checksums, indent=2))
    return path


# Where each dataset lives in a data directory (what ``prepare`` links from the real cache).
_LAYOUT = {"mnist": "MNIST", "cifar10": "cifar-10-batches-py",
           **{name: f"tabular/{file}" for name, file in TABULAR_FILES.items()}}


def missing(root=None) -> list[str]:
    """The datasets that are not usable in the data directory (``course.data.cache_status``),
    in the order of ``course.data.DATASETS``."""
    from course import data

    status = data.cache_status(root)
    return [name for name in data.DATASETS if status[name] != "ok"]


def prepare(dest: str | os.PathLike, root=None) -> tuple[dict[str, str], list[str]]:
    """A data directory for an offline smoke run, or nothing to do when the cache is complete.

    Returns ``(env, stand_ins)``: ``env`` is ``{}`` when every dataset is in the data directory
    (``root``, else ``$COURSE_DATA_DIR``, else the user cache). Otherwise ``dest`` is made afresh:
    stand-ins for the missing datasets, links to (or copies of) the real ones that are there, and
    ``env`` holds the ``COURSE_DATA_DIR`` and ``COURSE_DATA_CHECKSUMS`` that point at it. The
    linked datasets keep the checksums they are verified against now (the real ones, or those of
    a ``$COURSE_DATA_CHECKSUMS`` already set).
    """
    from course import data

    absent = missing(root)
    if not absent:
        return {}, []
    source, dest = data.data_dir(root), Path(dest).resolve()
    if dest.exists():
        shutil.rmtree(dest)
    checksums = write_all(dest, names=absent)
    sums = json.loads(checksums.read_text())
    for key, table in data.checksum_override().items():  # those of the datasets linked below
        kept = {f: d for f, d in table.items() if (key != "tabular_sha256" and key[:-4] not in absent)
                or (key == "tabular_sha256" and f not in absent)}
        if kept:
            sums[key] = {**kept, **sums.get(key, {})}
    checksums.write_text(json.dumps(sums, indent=2))
    for name, rel in _LAYOUT.items():
        if name in absent:
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.symlink_to(source / rel, target_is_directory=(source / rel).is_dir())
        except OSError:  # no symlinks (Windows without developer mode): copy
            copy = shutil.copytree if (source / rel).is_dir() else shutil.copyfile
            copy(source / rel, target)
    env = {data.ENV_VAR: str(dest), data.CHECKSUMS_ENV_VAR: str(checksums)}
    return env, absent


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m course.standin DIR")
    print(write_all(sys.argv[1]))
