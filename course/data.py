"""Datasets: cached, verified downloads and a fast in-memory batch iterator.

Where data lives: ``data_dir()`` is, in order, the ``root`` argument, ``$COURSE_DATA_DIR``, or
``~/.cache/dlcourse`` (``$XDG_CACHE_HOME/dlcourse``). Nothing is ever written into the repository.

* MNIST and CIFAR-10 come through torchvision's own classes (their download addresses and md5
  checks). Lessons 10-17.
* The Titanic and Pima diabetes CSVs (and the scaled diabetes variant of Liu Er's course) are
  downloaded from pinned addresses and verified by sha256. Lessons 08, 09 and assignment A3.
* ``InMemoryLoader`` keeps a whole split on the device as one uint8 tensor and yields normalised,
  optionally augmented batches from shuffled index slices: the fast path (lessons 10-16).

Downloads are atomic (a temporary ``.part`` file, renamed when its checksum is right), a cached
file that is corrupt or truncated is fetched again, and with no network the error names the file,
its address and where to put a copy by hand.

Checksum override (testing and offline mirrors): ``$COURSE_DATA_CHECKSUMS`` may name a JSON file
that replaces some of the checksums the files are verified against::

    {"cifar10_md5": {"data_batch_1": "<md5>", ..., "batches.meta": "<md5>"},
     "mnist_md5": {"train-images-idx3-ubyte.gz": "<md5>", ...},
     "tabular_sha256": {"titanic": "<sha256>", "pima": "<sha256>", "diabetes": "<sha256>"}}

Every key is optional; what is not named keeps its real checksum. The md5s replace those of
torchvision's lists (``CIFAR10.train_list``/``test_list``/``meta``, ``MNIST.resources``), the
sha256s the pins of ``TABULAR``; they apply wherever the course checks files (loading,
``import_from``, ``cache_status``). ``course.standin`` writes such a file beside its stand-in
datasets, which the test suite and ``course run --smoke`` (when the real data is missing) use. A
file that is missing, is not JSON or names unknown files raises ``ChecksumOverrideError``.
Nothing is patched: torchvision's classes keep their lists, the course verifies against a
subclass that carries the override.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import torch

from course.paths import DATA_ENV_VAR as ENV_VAR, data_dir  # noqa: F401 - re-exported: course.data.data_dir()

CHECKSUMS_ENV_VAR = "COURSE_DATA_CHECKSUMS"

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
NORMALIZATION = {"mnist": (MNIST_MEAN, MNIST_STD), "cifar10": (CIFAR10_MEAN, CIFAR10_STD)}
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
PIMA_COLUMNS = ("pregnancies", "glucose", "blood_pressure", "skin_thickness", "insulin",
                "bmi", "pedigree", "age", "diabetic")


class DataUnavailableError(RuntimeError):
    """A dataset is not on disk and could not be downloaded."""


class ChecksumError(DataUnavailableError):
    """A downloaded file does not have the checksum it must have."""


class ChecksumOverrideError(ValueError):
    """``$COURSE_DATA_CHECKSUMS`` names a file that is missing or malformed."""


# --------------------------------------------------------------------------------------------
# Where files live
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RemoteFile:
    """A file the course downloads: where it goes under ``data_dir()``, its address and sha256."""

    name: str
    relpath: str
    url: str
    sha256: str
    about: str


TABULAR = {
    f.name: f
    for f in (
        RemoteFile(
            "titanic", "tabular/titanic_train.csv",
            "https://raw.githubusercontent.com/datasciencedojo/datasets/"
            "f0ccab6a7ceafdff780052166fb6fab3311398eb/titanic.csv",
            "4a437fde05fe5264e1701a7387ac6fb75393772ba38bb2c9c566405af5af4bd7",
            "Titanic passengers (Kaggle train.csv), 891 rows",
        ),
        RemoteFile(
            "pima", "tabular/pima-indians-diabetes.csv",
            "https://raw.githubusercontent.com/jbrownlee/Datasets/"
            "d20fcb6402ae34e653d4513b00f39257bb37ed7f/pima-indians-diabetes.data.csv",
            "6bfe5d0f379d17a0e0819b996407e3c09bf80febd4287f2ed212190dfff154af",
            "Pima Indians diabetes, 768 rows, 8 features + class (1 = tested positive)",
        ),
        RemoteFile(
            "diabetes", "tabular/diabetes.csv.gz",
            "https://raw.githubusercontent.com/hunkim/PyTorchZeroToAll/"
            "e5a260fac0b4ff1e2ec434fc6f0d962ac97fc289/data/diabetes.csv.gz",
            "398214d0f6b7f4a722f598d8e424f28bc078abbd16ebdeea0f8e264492325aa4",
            "scaled Pima variant (PyTorchZeroToAll), 759 rows, features in [-1, 1]",
        ),
    )
}
DATASETS = ("mnist", "cifar10", *TABULAR)


# --------------------------------------------------------------------------------------------
# The checksum override ($COURSE_DATA_CHECKSUMS; see the module docstring)
# --------------------------------------------------------------------------------------------
def checksum_override() -> dict[str, dict[str, str]]:
    """The checksums ``$COURSE_DATA_CHECKSUMS`` replaces (``{}`` when it is not set), validated."""
    path = os.environ.get(CHECKSUMS_ENV_VAR, "").strip()
    if not path:
        return {}
    from torchvision.datasets import CIFAR10, MNIST

    known = {
        "cifar10_md5": {f for f, _ in CIFAR10.train_list + CIFAR10.test_list} | {CIFAR10.meta["filename"]},
        "mnist_md5": {f for f, _ in MNIST.resources},
        "tabular_sha256": set(TABULAR),
    }

    def bad(why: str) -> ChecksumOverrideError:
        return ChecksumOverrideError(
            f"${CHECKSUMS_ENV_VAR}={path}: {why}. It must name a JSON object with any of the keys "
            f"{', '.join(known)}, each mapping file names to hex digests (course/data.py explains "
            f"the format); unset ${CHECKSUMS_ENV_VAR} to verify against the real checksums.")

    try:
        with open(path) as f:
            sums = json.load(f)
    except OSError as err:
        raise bad(f"cannot read it ({err.strerror or err})") from None
    except ValueError as err:
        raise bad(f"it is not valid JSON ({err})") from None
    if not isinstance(sums, dict):
        raise bad(f"it holds a JSON {type(sums).__name__}, not an object")
    for key, table in sums.items():
        if key not in known:
            raise bad(f"unknown key {key!r}")
        if not isinstance(table, dict):
            raise bad(f"{key!r} must map file names to digests")
        for name, digest in table.items():
            if name not in known[key]:
                raise bad(f"{key!r} names {name!r}, which is not one of {', '.join(sorted(known[key]))}")
            if not isinstance(digest, str) or not digest or any(c not in "0123456789abcdefABCDEF" for c in digest):
                raise bad(f"{key}[{name!r}] is {digest!r}, not a hex digest")
    return sums


def _sha256_of(spec: RemoteFile) -> str:
    """The sha256 a tabular file must have: the pin of ``TABULAR`` unless overridden."""
    return checksum_override().get("tabular_sha256", {}).get(spec.name, spec.sha256)


def _vision_class(name: str):
    """torchvision's MNIST or CIFAR10 class, or a subclass expecting the override's md5s."""
    from torchvision import datasets

    cls = {"mnist": datasets.MNIST, "cifar10": datasets.CIFAR10}[name]
    sums = checksum_override().get(f"{name}_md5")
    if not sums:
        return cls

    def swap(files):
        return [[f, sums.get(f, md5)] for f, md5 in files]

    if name == "mnist":
        extra = {"resources": [tuple(r) for r in swap(cls.resources)]}
    else:
        extra = {"train_list": swap(cls.train_list), "test_list": swap(cls.test_list),
                 "meta": dict(cls.meta, md5=sums.get(cls.meta["filename"], cls.meta["md5"]))}
    return type(cls.__name__, (cls,), {"__module__": __name__, **extra})


def sha256sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _manual_hint(path: Path, url: str) -> str:
    return (f"Download {url} on a machine with internet and save it as {path} "
            f"(or set ${ENV_VAR} to a folder that holds a copy).")


def download_file(url: str, dest: str | os.PathLike, sha256: str | None = None,
                  timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying ``sha256`` when given.

    The bytes go to a temporary file beside ``dest`` that is renamed only once complete and
    verified, so a failed or interrupted download never leaves a half file behind.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": "dlcourse"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                while block := response.read(1 << 20):
                    digest.update(block)
                    out.write(block)
        if sha256 is not None and digest.hexdigest() != sha256:
            raise ChecksumError(
                f"The download of {dest.name} from {url} has sha256 {digest.hexdigest()}, "
                f"expected {sha256}; the file was not saved. The address may serve a different "
                f"version now. {_manual_hint(dest, url)}"
            )
        os.replace(tmp, dest)
        return dest
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise DataUnavailableError(
            f"Could not download {dest.name} from {url} ({getattr(err, 'reason', err)}). "
            f"{_manual_hint(dest, url)}"
        ) from err
    finally:
        tmp.unlink(missing_ok=True)


def fetch(name: str, root: str | os.PathLike | None = None, verbose: bool = True) -> Path:
    """Path of one of the course's CSV files (``"titanic"``, ``"pima"``, ``"diabetes"``).

    A cached copy is used when its sha256 is right; a missing, corrupt or truncated one is
    downloaded again.
    """
    if name not in TABULAR:
        raise KeyError(f"Unknown data file {name!r}; known: {', '.join(TABULAR)}.")
    spec = TABULAR[name]
    expected = _sha256_of(spec)
    path = data_dir(root) / spec.relpath
    if path.exists():
        if sha256sum(path) == expected:
            return path
        if verbose:
            print(f"{path} is corrupt or truncated (wrong sha256); downloading it again.")
    elif verbose:
        print(f"Downloading {name} ({spec.about}) to {path}")
    return download_file(spec.url, path, expected)


def load_titanic(root: str | os.PathLike | None = None):
    """The Titanic passengers as a pandas DataFrame (891 rows; lesson 09, assignment A3)."""
    import pandas as pd

    return pd.read_csv(fetch("titanic", root))


def load_pima(root: str | os.PathLike | None = None):
    """Pima Indians diabetes as a DataFrame with named columns; ``diabetic`` is 1 for tested positive.

    Zeros in glucose, blood pressure, skin thickness, insulin and BMI mean "not measured".
    """
    import pandas as pd

    return pd.read_csv(fetch("pima", root), header=None, names=list(PIMA_COLUMNS))


def load_diabetes_scaled(root: str | os.PathLike | None = None):
    """The scaled diabetes table of Liu Er's course: a float32 array (759, 9), features in [-1, 1].

    Careful: its last column is *inverted* relative to Pima's class (1 mostly means "tested
    negative"), so never call label 1 "diabetic".
    """
    import numpy as np

    with gzip.open(fetch("diabetes", root), "rt") as f:
        return np.loadtxt(f, delimiter=",", dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Image datasets through torchvision
# --------------------------------------------------------------------------------------------
def _vision_hint(name: str, root: Path) -> str:
    from torchvision import datasets

    if name == "mnist":
        files = ", ".join(f for f, _ in datasets.MNIST.resources)
        return (f"Put the four MNIST files ({files}) from {datasets.MNIST.mirrors[0]} into "
                f"{root / 'MNIST' / 'raw'} (or set ${ENV_VAR} to a folder that has MNIST/raw/).")
    return (f"Download {datasets.CIFAR10.url} and put {datasets.CIFAR10.filename} (or the "
            f"extracted cifar-10-batches-py/ folder) into {root} (or set ${ENV_VAR}).")


def _torchvision_dataset(name: str, train: bool, root: Path, transform, download: bool):
    cls = _vision_class(name)
    try:
        return cls(str(root), train=train, transform=transform, download=False)
    except Exception:  # missing, truncated or corrupt files: repair below
        if not download:
            raise DataUnavailableError(f"{name} is not in {root}. {_vision_hint(name, root)}") from None
    if name == "mnist":
        # torchvision re-extracts only when the unpacked files are gone; the verified .gz stay.
        raw = root / "MNIST" / "raw"
        for archive, _ in cls.resources:
            (raw / archive[: -len(".gz")]).unlink(missing_ok=True)
    try:
        return cls(str(root), train=train, transform=transform, download=True)
    except Exception as err:
        raise DataUnavailableError(
            f"Could not load or download {name} into {root} ({type(err).__name__}: {err}). "
            f"{_vision_hint(name, root)}"
        ) from err


def mnist(train: bool = True, root=None, transform=None, download: bool = True):
    """torchvision's MNIST (60,000 train / 10,000 test digits), downloaded on first use."""
    return _torchvision_dataset("mnist", train, data_dir(root), transform, download)


def cifar10(train: bool = True, root=None, transform=None, download: bool = True):
    """torchvision's CIFAR-10 (50,000 train / 10,000 test 32x32 colour images)."""
    return _torchvision_dataset("cifar10", train, data_dir(root), transform, download)


def standard_transform(name: str):
    """``ToTensor`` + ``Normalize`` with the dataset's usual mean and std."""
    from torchvision import transforms

    mean, std = NORMALIZATION[name]
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])


def load_tensors(name: str, train: bool = True, root=None) -> tuple[torch.Tensor, torch.Tensor]:
    """A whole split as ``(X, y)``: X uint8 of shape (N, C, H, W), y int64 of shape (N,)."""
    if name == "mnist":
        ds = mnist(train, root)
        X = ds.data.unsqueeze(1)  # (N, 28, 28) -> (N, 1, 28, 28)
        y = ds.targets
    elif name == "cifar10":
        ds = cifar10(train, root)
        X = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
        y = torch.as_tensor(ds.targets)
    else:
        raise KeyError(f"load_tensors knows 'mnist' and 'cifar10', not {name!r}.")
    return X.to(torch.uint8), y.to(torch.int64)


def _read_idx(path: Path, magic: int, header: int) -> np.ndarray:
    """The uint8 payload of an MNIST idx file (``path``, else ``path`` + ``.gz``)."""
    import numpy as np

    if path.exists():
        raw = path.read_bytes()
    else:
        raw = gzip.decompress(Path(f"{path}.gz").read_bytes())
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        raise DataUnavailableError(f"{path} is not an MNIST idx file (magic number {raw[:4].hex()})")
    return np.frombuffer(raw, dtype=np.uint8, offset=header)


def mnist_arrays(train: bool = True, root=None, labels: bool = True, download: bool = True,
                 images: bool = True) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """One MNIST split read straight from its idx files, without torchvision's dataset class.

    Returns ``(X, y)``: X uint8 of shape (N, 1, 28, 28) (N = 60,000 train / 10,000 test), or
    ``None`` with ``images=False``; y int64 of shape (N,), or ``None`` with ``labels=False``. The files are ``MNIST/raw/<split>-images-
    idx3-ubyte`` and ``<split>-labels-idx1-ubyte`` under ``data_dir(root)``, unpacked or ``.gz``.

    Unlike ``mnist()``, this needs only the files of the split it reads: the A3 grading kernel
    sees the training split and not the held-out one (``hidden_data`` in A3's ``assignment.json``).
    When the files are missing, ``download=True`` fetches MNIST through ``mnist()`` (checksums
    verified); ``download=False`` raises ``DataUnavailableError``. Used by assignment A3 and its
    graded training run (``course.grading.a3``).
    """
    base = data_dir(root) / "MNIST" / "raw"
    prefix = "train" if train else "t10k"
    pixels, targets = base / f"{prefix}-images-idx3-ubyte", base / f"{prefix}-labels-idx1-ubyte"
    needed = ([pixels] if images else []) + ([targets] if labels else [])
    if not all(p.exists() or Path(f"{p}.gz").exists() for p in needed):
        if not download:
            raise DataUnavailableError(f"MNIST ({prefix}) is not in {base.parent.parent}. "
                                       f"{_vision_hint('mnist', base.parent.parent)}")
        mnist(train, root)
    X = torch.from_numpy(_read_idx(pixels, 2051, 16).copy()).reshape(-1, 1, 28, 28) if images else None
    y = torch.from_numpy(_read_idx(targets, 2049, 8).astype("int64")) if labels else None
    if X is not None and y is not None and len(y) != len(X):
        raise DataUnavailableError(f"MNIST ({prefix}): {len(X)} images but {len(y)} labels in {base}")
    return X, y


def subset(data, n: int | None, seed: int = 0):
    """A random subset of ``n`` samples, for quick (smoke) runs; ``n=None`` returns ``data``.

    ``data`` is a ``Dataset`` (a ``torch.utils.data.Subset`` comes back) or a tuple of tensors
    with the same first dimension (a tuple of indexed tensors comes back).
    """
    if n is None:
        return data
    size = len(data[0]) if isinstance(data, tuple) else len(data)
    if n >= size:
        return data
    idx = torch.randperm(size, generator=torch.Generator().manual_seed(seed))[:n]
    if isinstance(data, tuple):
        return tuple(t[idx] for t in data)
    return torch.utils.data.Subset(data, idx.tolist())


def _in_notebook() -> bool:
    return "ipykernel" in sys.modules


def default_num_workers() -> int:
    """A safe ``num_workers`` for ``DataLoader`` (lesson 09 explains the pitfalls).

    Worker processes are started with *spawn* on Windows and macOS (and *forkserver* on Linux
    from Python 3.14): they re-import the main module, which a notebook does not have, so
    datasets defined in a notebook cell cannot be sent to them. There the answer is 0 (load in
    the main process); elsewhere a few workers.
    """
    import multiprocessing as mp

    method = mp.get_start_method(allow_none=True) or mp.get_context().get_start_method()
    if sys.platform == "win32" or (_in_notebook() and method != "fork"):
        return 0  # spawn (Windows, macOS) and forkserver (Linux from Python 3.14)
    return min(4, max(0, (os.cpu_count() or 1) - 1))


# --------------------------------------------------------------------------------------------
# The in-memory batch iterator
# --------------------------------------------------------------------------------------------
class InMemoryLoader:
    """Yield ``(X_batch, y_batch)`` from tensors that live on the device: no workers, no PIL.

    The whole split is moved to ``device`` once (as uint8: MNIST train is 47 MB, CIFAR-10 train
    150 MB). Each epoch draws a fresh permutation, so every sample appears exactly once; batches
    are converted to float in [0, 1], normalised and augmented on the device. The random
    generator lives on the device too, so no permutation, flip mask or shift crosses from the
    host on any step. The same ``seed`` on the same kind of device gives the same batches (a
    CUDA generator draws other numbers than a CPU one).

    Args:
        X: images (N, C, H, W), uint8 (scaled by 1/255) or float.
        y: labels (N,).
        batch_size: samples per batch; the last batch may be smaller unless ``drop_last``.
        shuffle: new random order each epoch.
        device: where the data lives and batches are made.
        mean, std: per-channel normalisation, e.g. ``data.MNIST_MEAN``; ``None`` skips it.
        flip: random horizontal flips (CIFAR-10; not for digits).
        crop_padding: random translation by up to this many pixels (reflect-pad, then crop).
        channels_last: return batches in ``torch.channels_last`` memory format (faster convs).
        seed: seed of the shuffling and augmentation generator (``self.generator``, on ``device``).

    Used by: lessons 10-16 and the benchmark of the course (against ``DataLoader``).
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int = 128, *,
                 shuffle: bool = True, device=None, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None, flip: bool = False, crop_padding: int = 0,
                 drop_last: bool = False, channels_last: bool = False, seed: int = 0,
                 dtype: torch.dtype = torch.float32):
        if X.ndim != 4:
            raise ValueError(f"X must have shape (N, C, H, W), got {tuple(X.shape)}.")
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} samples but y has {len(y)}.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}.")
        self.device = torch.device(device) if device is not None else X.device
        self.X, self.y = X.to(self.device), y.to(self.device)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.flip, self.crop_padding, self.channels_last = flip, crop_padding, channels_last
        self.dtype = dtype
        channels = X.shape[1]
        self.mean = self._stat(mean, channels)
        self.std = self._stat(std, channels)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)

    def _stat(self, values, channels):
        if values is None:
            return None
        t = torch.as_tensor(values, dtype=self.dtype, device=self.device).reshape(1, -1, 1, 1)
        if t.shape[1] not in (1, channels):
            raise ValueError(f"mean/std have {t.shape[1]} values for {channels} channels.")
        return t

    def __len__(self) -> int:
        n, b = len(self.X), self.batch_size
        return n // b if self.drop_last else (n + b - 1) // b

    @property
    def dataset_size(self) -> int:
        return len(self.X)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.X)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator, device=self.device)
        else:
            order = torch.arange(n, device=self.device)
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield self.transform(self.X[idx]), self.y[idx]

    def transform(self, xb: torch.Tensor, augment: bool = True) -> torch.Tensor:
        """uint8 or float batch -> normalised float batch on the device, augmented when configured."""
        scale = xb.dtype == torch.uint8
        xb = xb.to(self.device, self.dtype)
        if scale:
            xb = xb / 255
        if self.mean is not None:
            xb = (xb - self.mean) / self.std
        if augment and self.flip:
            mask = torch.rand(len(xb), generator=self.generator, device=xb.device) < 0.5
            xb = torch.where(mask.view(-1, 1, 1, 1), xb.flip(3), xb)
        if augment and self.crop_padding:
            xb = random_translate(xb, self.crop_padding, self.generator)
        if self.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        return xb


def random_translate(xb: torch.Tensor, padding: int, generator: torch.Generator | None = None):
    """Shift each image by up to ``padding`` pixels (reflect padding), all on ``xb``'s device.

    ``generator``, when given, must live on ``xb``'s device (as ``InMemoryLoader.generator`` does).
    """
    B, C, H, W = xb.shape
    padded = torch.nn.functional.pad(xb, (padding,) * 4, mode="reflect")
    dy, dx = torch.randint(0, 2 * padding + 1, (2, B), generator=generator, device=xb.device)
    rows = (dy[:, None] + torch.arange(H, device=xb.device))[:, None, :, None]  # B,1,H,1
    cols = (dx[:, None] + torch.arange(W, device=xb.device))[:, None, None, :]  # B,1,1,W
    batch = torch.arange(B, device=xb.device)[:, None, None, None]
    chans = torch.arange(C, device=xb.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def in_memory_loader(name: str, train: bool = True, batch_size: int = 128, device=None, *,
                     subset_size: int | None = None, normalize: bool = True, root=None,
                     seed: int = 0, **kwargs) -> InMemoryLoader:
    """An ``InMemoryLoader`` over MNIST or CIFAR-10 with the usual normalisation.

    ``kwargs`` go to ``InMemoryLoader`` (``flip``, ``crop_padding``, ``channels_last``, ...);
    the test split is not shuffled unless asked.
    """
    X, y = subset(load_tensors(name, train, root), subset_size, seed)
    mean, std = NORMALIZATION[name]
    kwargs.setdefault("shuffle", train)
    return InMemoryLoader(X, y, batch_size, device=device, seed=seed,
                          mean=mean if normalize else None, std=std if normalize else None,
                          **kwargs)


# --------------------------------------------------------------------------------------------
# Cache management (the `course data ...` commands and `course doctor`)
# --------------------------------------------------------------------------------------------
def download(names: Sequence[str] | None = None, root=None) -> dict[str, str]:
    """Make sure the named datasets (default: all) are in the cache; returns name -> status."""
    result = {}
    for name in names or DATASETS:
        if name not in DATASETS:
            raise KeyError(f"Unknown dataset {name!r}; known: {', '.join(DATASETS)}.")
        try:
            if name in TABULAR:
                fetch(name, root)
            else:
                for train in (True, False):
                    _torchvision_dataset(name, train, data_dir(root), None, download=True)
            result[name] = "ok"
        except DataUnavailableError as err:
            result[name] = f"FAILED: {err}"
    return result


def import_from(source: str | os.PathLike, root=None) -> dict[str, str]:
    """Copy verified dataset files from a local folder (same layout as the cache) into the cache.

    For offline machines: a folder with ``MNIST/raw/*.gz``, ``cifar-10-batches-py/`` or
    ``tabular/*.csv`` is checked file by file (sha256 for the CSVs, torchvision's md5 for
    the images) and only good files are copied. Returns name -> what happened.
    """
    from torchvision.datasets.utils import check_integrity

    MNIST, CIFAR10 = _vision_class("mnist"), _vision_class("cifar10")
    source, dest, result = Path(source), data_dir(root), {}
    for spec in TABULAR.values():
        src = source / spec.relpath
        if not src.exists():
            result[spec.name] = "not in source"
        elif sha256sum(src) != _sha256_of(spec):
            result[spec.name] = f"skipped: {src} has the wrong sha256"
        else:
            (dest / spec.relpath).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest / spec.relpath)
            result[spec.name] = "imported"
    groups = {
        "mnist": ("MNIST/raw", MNIST.resources),
        "cifar10": (CIFAR10.base_folder, CIFAR10.train_list + CIFAR10.test_list + [
            [CIFAR10.meta["filename"], CIFAR10.meta["md5"]]]),
    }
    for name, (folder, files) in groups.items():
        bad = [f for f, md5 in files if not check_integrity(str(source / folder / f), md5)]
        if len(bad) == len(files):
            result[name] = "not in source"
        elif bad:
            result[name] = f"skipped: missing or failing md5 check: {', '.join(bad)}"
        else:
            (dest / folder).mkdir(parents=True, exist_ok=True)
            for f, _ in files:
                shutil.copyfile(source / folder / f, dest / folder / f)
            result[name] = "imported"
    return result


def cache_status(root=None) -> dict[str, str]:
    """What is in the data directory: name -> "ok", "missing" or what is wrong."""
    from torchvision.datasets.utils import check_integrity

    base, status = data_dir(root), {}
    for spec in TABULAR.values():
        path = base / spec.relpath
        status[spec.name] = ("missing" if not path.exists()
                             else "ok" if sha256sum(path) == _sha256_of(spec) else "corrupt (will re-download)")
    MNIST, CIFAR10 = _vision_class("mnist"), _vision_class("cifar10")
    raw = base / "MNIST" / "raw"
    unpacked = [raw / f[:-3] for f, _ in MNIST.resources]
    packed_ok = all(check_integrity(str(raw / f), md5) for f, md5 in MNIST.resources)
    status["mnist"] = ("ok" if all(p.exists() for p in unpacked) or packed_ok else "missing")
    files = [(base / CIFAR10.base_folder / f, md5) for f, md5 in CIFAR10.train_list + CIFAR10.test_list]
    if all(check_integrity(str(f), md5) for f, md5 in files):
        status["cifar10"] = "ok"
    elif any(f.exists() for f, _ in files):
        status["cifar10"] = "present, but fails torchvision's md5 check (will re-download)"
    else:
        status["cifar10"] = "missing"
    return status
