"""Data sets: real files first (checked), loud stand-ins, disjoint splits, clear errors."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from helpers import data
from helpers.config import data_dir
from helpers.data import DataFileError, DatasetInfo, SyntheticDataWarning, get_dataset, staging
from helpers.data.staging import check_idx_file

STAGED = all((data_dir() / folder / "raw" / f).exists() for folder in ("MNIST", "FashionMNIST")
             for f in staging.MNIST_FILES)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Tests never try the network."""
    monkeypatch.setenv(data.OFFLINE_ENV, "1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(name="imagenet", split="train"), r"name must be one of \('mnist', 'fashion-mnist'"),
        (dict(name="mnist", split="validation"), r"split must be one of \('train', 'val', 'test'\)"),
        (dict(name="mnist", split="val", mode="fake"), r"mode must be one of \('auto', 'real', 'synth"),
        (dict(name="mnist", split="val", size=0), "size must be a positive int or None; got 0"),
        (dict(name="pseudo-diffraction", split="val", mode="real"), "private"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        get_dataset(**kwargs)


def test_real_mode_without_files_says_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"python -m helpers.data stage"):
        get_dataset("mnist", "train", root=tmp_path, mode="real")


def test_synthetic_stand_in_is_announced_and_marked(tmp_path):
    with pytest.warns(SyntheticDataWarning, match="SYNTHETIC stand-in for CIFAR-10"):
        ds, info = get_dataset("cifar10", "val", root=tmp_path)
    assert not info.is_real and info.label == "synthetic stand-in for CIFAR-10"
    assert info.shape == (3, 32, 32) and len(ds) == info.size == 5000 and len(info.classes) == 10
    image, label = ds[13]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert 0 <= image.min() and image.max() <= 1 and label == (50000 + 13) % 10
    assert torch.equal(image, ds[13][0])  # made from the index: the same every time
    with pytest.warns(SyntheticDataWarning, match="requested with mode='synthetic'"):
        train, _ = get_dataset("cifar10", "train", root=tmp_path, mode="synthetic")
    assert not torch.equal(train[13][0], image)  # splits are different images


def test_size_keeps_a_fixed_prefix(tmp_path):
    with pytest.warns(SyntheticDataWarning):
        small, info = get_dataset("fashion-mnist", "test", root=tmp_path, size=7)
        full, _ = get_dataset("fashion-mnist", "test", root=tmp_path)
    assert len(small) == info.size == 7 and torch.equal(small[6][0], full[6][0])
    with pytest.raises(IndexError):
        small[7]


def test_pseudo_diffraction_splits_are_disjoint_ranges():
    train, info = get_dataset("pseudo-diffraction", "train", size=3)
    val, _ = get_dataset("pseudo-diffraction", "val")
    assert not info.is_real and info.shape == (1, 128, 128) and len(val) == 1500
    assert val.offset == 9454 and get_dataset("pseudo-diffraction", "test")[0].offset == 9454 + 1500
    assert train[0][0].shape == (1, 128, 128)


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _fake_mnist(root, n_train=12, n_test=10):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    return raw


def test_files_under_data_come_first_and_splits_are_disjoint(tmp_path):
    _fake_mnist(tmp_path)
    train, info = get_dataset("mnist", "train", root=tmp_path, mode="real")
    val, _ = get_dataset("mnist", "val", root=tmp_path)
    test, _ = get_dataset("mnist", "test", root=tmp_path)
    assert info.is_real and "official training set" in info.source and len(train) == 12
    assert len(val) == len(test) == 5
    assert set(val.indices).isdisjoint(test.indices)
    assert set(val.indices) | set(test.indices) == set(range(10))
    assert train[3][0].shape == (1, 28, 28) and train[3][1] == 3


def test_partial_file_is_named_with_the_fix(tmp_path):
    raw = _fake_mnist(tmp_path)
    victim = raw / "train-images-idx3-ubyte"
    victim.write_bytes(victim.read_bytes()[:-100])
    with pytest.raises(DataFileError, match=r"ubyte is partial or corrupt: .*python -m helpers.data stage"):
        get_dataset("mnist", "train", root=tmp_path)
    victim.write_bytes(b"not an idx file at all")
    with pytest.raises(DataFileError, match="is not an IDX file"):
        check_idx_file(victim)


def test_stage_copies_an_installed_debian_fashion_mnist(tmp_path, monkeypatch):
    source = tmp_path / "debian"
    source.mkdir()
    fake = _fake_mnist(tmp_path / "made")
    import gzip

    for f in staging.MNIST_FILES:
        (source / f"{f}.gz").write_bytes(gzip.compress((fake / f).read_bytes()))
    monkeypatch.setattr(staging, "FASHION_DEBIAN_DIR", source)
    report = staging.stage(tmp_path / "root", fetch=False)
    assert "staged from" in report["fashion-mnist"]
    ds, info = get_dataset("fashion-mnist", "train", root=tmp_path / "root", mode="real")
    assert info.is_real and len(ds) == 12
    shutil.rmtree(tmp_path / "root")


@pytest.mark.skipif(not STAGED, reason="packaged copies not staged: run `python -m helpers.data stage`")
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_offline_the_staged_packaged_copies_are_the_real_data(name):
    train, info = get_dataset(name, "train", mode="real")
    assert info.is_real and len(train) == 60000 and info.size == 60000
    image, label = train[0]
    assert image.shape == (1, 28, 28) and 0 <= label < 10
    counts = torch.bincount(train.labels, minlength=10)
    assert counts.min() >= 5000  # the real label distribution, not a stand-in's
    first = {"mnist": 5, "fashion-mnist": 9}[name]  # the first training label of each set
    assert label == first


# ---------------------------------------------------------------------------------------------
# Splits in memory
# ---------------------------------------------------------------------------------------------


def test_size_subsets_keep_their_class_names(tmp_path):
    with pytest.warns(SyntheticDataWarning):
        small, info = get_dataset("cifar10", "val", root=tmp_path, size=5)
    assert small.classes == info.classes and small.classes[0] == "airplane"
    assert get_dataset("pseudo-diffraction", "val", size=2)[0].classes == ("P", "I", "F")


def test_load_split_gives_the_images_get_dataset_gives(tmp_path):
    from helpers.data.loader import TensorLoader

    _fake_mnist(tmp_path)
    split = data.load_split("mnist", "val", root=tmp_path, progress=False)
    dataset, info = get_dataset("mnist", "val", root=tmp_path)
    assert split.images.dtype == torch.uint8 and split.images.shape == (5, 1, 28, 28)
    assert split.info == info and split.densities is None
    images, labels = next(iter(TensorLoader(split.images, split.labels, batch_size=5)))
    for i in range(5):
        assert torch.equal(images[i], dataset[i][0]) and labels[i].item() == dataset[i][1]
    with pytest.warns(SyntheticDataWarning):
        stand_in = data.load_split("cifar10", "test", root=tmp_path, size=3, progress=False)
    assert stand_in.images.dtype == torch.float32 and not stand_in.info.is_real


def test_pseudo_diffraction_is_made_once_and_cached_by_version_and_seed(tmp_path):
    from helpers.data import diffraction

    fresh = diffraction.generate(250, 10, cache=None, progress=False)  # crosses a block boundary
    cached = diffraction.generate(250, 10, cache=tmp_path, progress=False)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["chunk-000000.npz", "chunk-000256.npz"]
    again = diffraction.generate(250, 10, cache=tmp_path, progress=False)  # read back, not made
    for a, b, c in zip(fresh, cached, again, strict=True):
        assert torch.equal(a, b) and torch.equal(b, c)
    patterns, densities, labels = fresh
    for i in (0, 9):
        pattern, density, label = diffraction.pseudo_diffraction(250 + i)
        assert (patterns[i, 0] - torch.from_numpy(pattern)).abs().max() <= 0.5 / 65535 + 1e-7
        assert (densities[i, 0] - torch.from_numpy(density)).abs().max() <= 0.5 / 65535 + 1e-7
        assert labels[i].item() == label
    folder = diffraction.cache_folder(tmp_path, seed=3)
    assert folder.name == f"v{diffraction.GENERATOR_VERSION}-seed3"


def test_splits_hold_pairs_and_keep_the_first_training_pairs():
    info = DatasetInfo("mnist", "train", "test bytes", False, tuple("0123456789"), (1, 28, 28), 10)
    images, labels = torch.zeros(10, 1, 28, 32, dtype=torch.uint8), torch.arange(10)
    splits = data.Splits(train=(images, labels), val=(images[:4], labels[:4]), info=info,
                         val_info=replace(info, split="val", size=4))
    assert splits.side == 32 and splits.label == "synthetic stand-in for MNIST" and splits.test is None
    small = splits.first(3)
    assert torch.equal(small.train[1], labels[:3]) and small.info.size == 3 and small.val is splits.val
    with pytest.raises(ValueError, match="count must be at most the 10 training pairs; got 11"):
        splits.first(11)
    with pytest.raises(ValueError, match="count must be a positive int; got 0"):
        splits.first(0)
    with pytest.raises(ValueError, match="train must be a pair"):
        data.Splits(train=(images, labels[:9]), val=(images, labels), info=info, val_info=info)
