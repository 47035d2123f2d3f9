import dataclasses
import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from course import data

OFFLINE = "http://127.0.0.1:9/"  # nothing listens on the discard port: fails at once


def _spec(monkeypatch, name, url, sha256):
    spec = dataclasses.replace(data.TABULAR[name], url=url, sha256=sha256)
    monkeypatch.setitem(data.TABULAR, name, spec)
    return spec


def _leftovers(folder: Path):
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")] if folder.exists() else []


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data.data_dir() == tmp_path / "cache" / "dlcourse"
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "env"))
    assert data.data_dir() == tmp_path / "env"
    assert data.data_dir(tmp_path / "arg") == tmp_path / "arg"


def test_fetch_downloads_verifies_and_caches(monkeypatch, tmp_path):
    source = tmp_path / "remote.csv"
    source.write_text("a,b\n1,2\n")
    _spec(monkeypatch, "titanic", source.as_uri(), hashlib.sha256(source.read_bytes()).hexdigest())
    path = data.fetch("titanic", tmp_path / "cache")
    assert path.read_text() == "a,b\n1,2\n" and not _leftovers(path.parent)
    source.unlink()  # cached now: no second download needed
    assert data.fetch("titanic", tmp_path / "cache") == path


def test_checksum_mismatch_leaves_no_file(monkeypatch, tmp_path):
    source = tmp_path / "remote.csv"
    source.write_text("tampered\n")
    _spec(monkeypatch, "pima", source.as_uri(), "0" * 64)
    with pytest.raises(data.ChecksumError) as err:
        data.fetch("pima", tmp_path / "cache")
    assert "expected " + "0" * 64 in str(err.value) and "pima-indians-diabetes.csv" in str(err.value)
    folder = tmp_path / "cache" / "tabular"
    assert not (folder / "pima-indians-diabetes.csv").exists() and not _leftovers(folder)


def test_offline_error_names_file_address_and_where_to_put_it(monkeypatch, tmp_path):
    _spec(monkeypatch, "titanic", OFFLINE + "titanic.csv", "0" * 64)
    with pytest.raises(data.DataUnavailableError) as err:
        data.fetch("titanic", tmp_path)
    msg = str(err.value)
    assert "titanic_train.csv" in msg and OFFLINE + "titanic.csv" in msg
    assert str(tmp_path / "tabular" / "titanic_train.csv") in msg and "COURSE_DATA_DIR" in msg
    assert not _leftovers(tmp_path / "tabular")


def test_truncated_cached_file_is_fetched_again(monkeypatch, tmp_path, capsys):
    source = tmp_path / "remote.csv"
    source.write_text("x,y\n" + "1,2\n" * 100)
    _spec(monkeypatch, "titanic", source.as_uri(), hashlib.sha256(source.read_bytes()).hexdigest())
    cached = tmp_path / "cache" / "tabular" / "titanic_train.csv"
    cached.parent.mkdir(parents=True)
    cached.write_text("x,y\n1,2\n")  # a truncated earlier download
    assert data.fetch("titanic", tmp_path / "cache").read_bytes() == source.read_bytes()
    assert "corrupt or truncated" in capsys.readouterr().out


def test_unknown_name():
    with pytest.raises(KeyError, match="known: titanic"):
        data.fetch("iris")


def test_tabular_loaders(patched_checksums):
    titanic = data.load_titanic()
    assert list(titanic.columns) == ["PassengerId", "Survived", "Pclass", "Name", "Sex", "Age", "SibSp",
                                     "Parch", "Ticket", "Fare", "Cabin", "Embarked"]
    pima = data.load_pima()
    assert list(pima.columns) == list(data.PIMA_COLUMNS) and pima.shape[1] == 9
    scaled = data.load_diabetes_scaled()
    assert scaled.dtype.name == "float32" and scaled.shape[1] == 9 and abs(scaled[:, :8]).max() <= 1


def test_mnist_through_torchvision(patched_checksums):
    train, test = data.mnist(True), data.mnist(False)
    assert (len(train), len(test)) == (600, 200)
    X, y = data.load_tensors("mnist", train=False)
    assert X.shape == (200, 1, 28, 28) and X.dtype == torch.uint8 and y.dtype == torch.int64
    image, label = data.mnist(True, transform=data.standard_transform("mnist"))[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32 and 0 <= label <= 9


def test_cifar10_through_torchvision(patched_checksums):
    X, y = data.load_tensors("cifar10", train=True)
    assert X.shape == (500, 3, 32, 32) and X.dtype == torch.uint8 and set(y.tolist()) == set(range(10))
    assert len(data.cifar10(False)) == 200


def test_mnist_offline_error_and_truncated_file_repair(monkeypatch, patched_checksums, tmp_path):
    from torchvision.datasets import MNIST

    root = tmp_path / "data"
    shutil.copytree(patched_checksums / "MNIST", root / "MNIST")
    raw = root / "MNIST" / "raw"
    # Pack the stand-in files as torchvision's verified archives, then truncate an unpacked file.
    resources = []
    for archive, _ in MNIST.resources:
        packed = gzip.compress((raw / archive[:-3]).read_bytes(), mtime=0)
        (raw / archive).write_bytes(packed)
        resources.append((archive, hashlib.md5(packed).hexdigest()))
    monkeypatch.setattr(MNIST, "resources", resources)
    monkeypatch.setattr(MNIST, "mirrors", [OFFLINE])
    victim = raw / "t10k-images-idx3-ubyte"
    victim.write_bytes(victim.read_bytes()[:1000])
    assert len(data.mnist(False, root)) == 200  # re-extracted from the verified archive
    # Now without the archives and no network: a clear error.
    for archive, _ in resources:
        (raw / archive).unlink()
    victim.write_bytes(victim.read_bytes()[:1000])
    with pytest.raises(data.DataUnavailableError) as err:
        data.mnist(False, root)
    msg = str(err.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and str(raw) in msg


def test_cifar_offline_error(monkeypatch, tmp_path):
    from torchvision.datasets import CIFAR10

    monkeypatch.setattr(CIFAR10, "url", OFFLINE + "cifar-10-python.tar.gz")
    with pytest.raises(data.DataUnavailableError) as err:
        data.cifar10(True, tmp_path)
    msg = str(err.value)
    assert "cifar-10-python.tar.gz" in msg and str(tmp_path) in msg
    assert not list(tmp_path.glob("*.part")) and not (tmp_path / "cifar-10-python.tar.gz").exists()


def test_download_without_network_reports_each_failure(monkeypatch, tmp_path):
    _spec(monkeypatch, "diabetes", OFFLINE + "d.gz", "0" * 64)
    assert data.download(["diabetes"], tmp_path)["diabetes"].startswith("FAILED: Could not download")
    with pytest.raises(KeyError):
        data.download(["nope"], tmp_path)


def test_import_from_copies_only_verified_files(patched_checksums, tmp_path):
    (patched_checksums / "tabular" / "pima-indians-diabetes.csv")
    result = data.import_from(patched_checksums, tmp_path / "cache")
    assert result["titanic"] == result["pima"] == result["cifar10"] == "imported"
    assert result["mnist"] == "not in source"  # stand-in MNIST has no verified .gz archives
    assert (tmp_path / "cache" / "tabular" / "titanic_train.csv").exists()
    assert data.cache_status(tmp_path / "cache")["cifar10"] == "ok"


# ------------------------------------------------------------------------------ in-memory loader
def _indexed(n=50):
    X = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 4, 4).contiguous()
    return X, torch.arange(n)


def test_every_sample_exactly_once_per_epoch_in_a_new_order():
    X, y = _indexed(50)
    loader = data.InMemoryLoader(X, y, batch_size=16, seed=1)
    assert len(loader) == 4
    epochs = []
    for _ in range(2):
        seen = torch.cat([yb for _, yb in loader])
        assert sorted(seen.tolist()) == list(range(50))
        epochs.append(seen.tolist())
    assert epochs[0] != epochs[1]
    for xb, yb in loader:  # images travel with their labels
        assert torch.equal(xb[:, 0, 0, 0], yb.float())


def test_drop_last_and_no_shuffle():
    X, y = _indexed(50)
    loader = data.InMemoryLoader(X, y, batch_size=16, drop_last=True, shuffle=False)
    batches = [yb.tolist() for _, yb in loader]
    assert len(loader) == len(batches) == 3 and batches[0] == list(range(16))


def test_normalisation_matches_torchvision(patched_checksums):
    X, y = data.load_tensors("mnist", train=False)
    loader = data.InMemoryLoader(X, y, 200, shuffle=False, mean=data.MNIST_MEAN, std=data.MNIST_STD)
    xb, _ = next(iter(loader))
    ds = data.mnist(False, transform=data.standard_transform("mnist"))
    reference = torch.stack([ds[i][0] for i in range(200)])
    assert torch.allclose(xb, reference, atol=1e-6)


def test_augmentation_keeps_shapes_and_content():
    X = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    flip = data.InMemoryLoader(X, torch.zeros(64), 64, shuffle=False, flip=True)
    xb, _ = next(iter(flip))
    plain = X.float() / 255
    flipped = (xb == plain.flip(3)).flatten(1).all(1)
    same = (xb == plain).flatten(1).all(1)
    assert (flipped | same).all() and 10 < int(flipped.sum()) < 54
    shifted, _ = next(iter(data.InMemoryLoader(X, torch.zeros(64), 64, shuffle=False, crop_padding=2,
                                               channels_last=True)))
    assert shifted.shape == (64, 3, 8, 8) and shifted.is_contiguous(memory_format=torch.channels_last)
    assert not torch.equal(shifted, plain)
    centred = data.random_translate(plain, 0)
    assert torch.equal(centred, plain)


def test_loader_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        data.InMemoryLoader(torch.zeros(5, 4, 4), torch.zeros(5))
    with pytest.raises(ValueError, match="5 samples but y has 4"):
        data.InMemoryLoader(torch.zeros(5, 1, 4, 4), torch.zeros(4))
    with pytest.raises(ValueError, match="3 values for 1 channels"):
        data.InMemoryLoader(torch.zeros(5, 1, 4, 4), torch.zeros(5), mean=(0, 0, 0), std=(1, 1, 1))


def test_in_memory_loader_from_dataset_and_subsets(patched_checksums):
    loader = data.in_memory_loader("cifar10", train=True, batch_size=100, subset_size=300, flip=True)
    xb, yb = next(iter(loader))
    assert loader.dataset_size == 300 and xb.shape == (100, 3, 32, 32) and xb.dtype == torch.float32
    ds = data.mnist(False)
    assert len(data.subset(ds, 50)) == 50 and data.subset(ds, None) is ds
    X, y = data.subset(data.load_tensors("mnist", False), 20)
    assert len(X) == len(y) == 20


def test_num_workers_defaults(monkeypatch):
    import sys

    monkeypatch.setattr(sys, "platform", "win32")
    assert data.default_num_workers() == 0
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)  # a script, not a notebook
    for cores, workers in [(None, 0), (1, 0), (2, 1), (4, 3), (64, 4)]:
        monkeypatch.setattr(data.os, "cpu_count", lambda cores=cores: cores)
        assert data.default_num_workers() == workers, cores
    monkeypatch.setitem(sys.modules, "ipykernel", sys)  # in a notebook: only fork may use workers
    monkeypatch.setattr("multiprocessing.get_start_method", lambda allow_none=False: "spawn")
    assert data.default_num_workers() == 0
    monkeypatch.setattr("multiprocessing.get_start_method", lambda allow_none=False: "fork")
    assert data.default_num_workers() == 4


def test_same_seed_same_batches_and_generator_on_the_loader_device():
    X = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8)
    y = torch.arange(50)

    def epochs(seed):
        loader = data.InMemoryLoader(X, y, 16, seed=seed, flip=True, crop_padding=2, device="cpu")
        assert loader.generator.device == loader.device
        return [(xb.clone(), yb.clone()) for _ in range(2) for xb, yb in loader]

    a, b, other = epochs(3), epochs(3), epochs(4)
    assert len(a) == len(b) == 8
    assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b))
    assert not all(torch.equal(ya, yo) for (_, ya), (_, yo) in zip(a, other))


def test_loader_draws_no_random_numbers_on_the_host(monkeypatch):
    """Permutation, flip mask and shifts are drawn with the loader's generator on its device."""
    X = torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8)
    loader = data.InMemoryLoader(X, torch.arange(20), 8, flip=True, crop_padding=1)
    calls = []
    for name in ("randperm", "rand", "randint"):
        real = getattr(torch, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            calls.append((_name, kwargs.get("generator"), kwargs.get("device")))
            return _real(*args, **kwargs)

        monkeypatch.setattr(torch, name, spy)
    list(loader)
    assert {name for name, _, _ in calls} == {"randperm", "rand", "randint"}
    assert all(g is loader.generator and torch.device(d) == loader.device for _, g, d in calls)


# ------------------------------------------------------------------------------ checksum override
def _override(monkeypatch, tmp_path, content):
    path = tmp_path / "sums.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    monkeypatch.setenv(data.CHECKSUMS_ENV_VAR, str(path))
    return path


def test_override_replaces_only_the_named_checksums(monkeypatch, tmp_path, fake_data):
    from torchvision.datasets import CIFAR10

    sums = json.loads((fake_data / "checksums.json").read_text())
    monkeypatch.setenv("COURSE_DATA_DIR", str(fake_data))
    monkeypatch.delenv(data.CHECKSUMS_ENV_VAR, raising=False)
    status = data.cache_status()
    assert status["cifar10"].startswith("present, but fails") and status["titanic"].startswith("corrupt")
    with pytest.raises(data.DataUnavailableError):
        data.cifar10(False, download=False)  # the real md5s refuse the stand-ins
    _override(monkeypatch, tmp_path, {"cifar10_md5": sums["cifar10_md5"],
                                      "tabular_sha256": {"titanic": sums["tabular_sha256"]["titanic"]}})
    status = data.cache_status()
    assert status["cifar10"] == status["titanic"] == "ok"
    assert status["pima"].startswith("corrupt")  # not in the override: still the real pin
    ds = data.cifar10(False, download=False)
    assert len(ds) == 200 and isinstance(ds, CIFAR10)
    # torchvision's class and the course's pins are left as they were
    assert CIFAR10.test_list[0][1] != sums["cifar10_md5"]["test_batch"]
    assert data.TABULAR["titanic"].sha256 == "4a437fde05fe5264e1701a7387ac6fb75393772ba38bb2c9c566405af5af4bd7"
    assert data.fetch("titanic") == fake_data / "tabular" / "titanic_train.csv"


def test_override_of_mnist_archives(monkeypatch, tmp_path):
    from torchvision.datasets import MNIST

    archive = MNIST.resources[0][0]
    _override(monkeypatch, tmp_path, {"mnist_md5": {archive: "ab" * 16}})
    resources = dict(data._vision_class("mnist").resources)
    assert resources[archive] == "ab" * 16 and dict(MNIST.resources)[archive] != "ab" * 16
    assert data._vision_class("mnist").__name__ == "MNIST"  # torchvision's folder name depends on it


@pytest.mark.parametrize("content, message", [
    (None, "cannot read it"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON list, not an object"),
    ({"cifar_md5": {}}, "unknown key 'cifar_md5'"),
    ({"tabular_sha256": ["titanic"]}, "must map file names to digests"),
    ({"tabular_sha256": {"iris": "00"}}, "names 'iris', which is not one of diabetes, pima, titanic"),
    ({"cifar10_md5": {"test_batch": 5}}, "test_batch'] is 5, not a hex digest"),
])
def test_bad_override_file_is_a_clear_error(monkeypatch, tmp_path, content, message):
    if content is None:
        monkeypatch.setenv(data.CHECKSUMS_ENV_VAR, str(tmp_path / "missing.json"))
    else:
        _override(monkeypatch, tmp_path, content)
    with pytest.raises(data.ChecksumOverrideError) as err:
        data.fetch("titanic", tmp_path)
    msg = str(err.value)
    assert message in msg and "$COURSE_DATA_CHECKSUMS=" in msg and "unset $COURSE_DATA_CHECKSUMS" in msg
    with pytest.raises(data.ChecksumOverrideError):
        data.cache_status(tmp_path)


def test_no_override_means_real_checksums(monkeypatch):
    monkeypatch.setenv(data.CHECKSUMS_ENV_VAR, "")
    assert data.checksum_override() == {}
    assert data._sha256_of(data.TABULAR["pima"]) == data.TABULAR["pima"].sha256
    from torchvision.datasets import CIFAR10

    assert data._vision_class("cifar10") is CIFAR10

