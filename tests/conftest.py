"""Shared fixtures: the CI copy of full MNIST and small in-memory splits."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The four IDX files: MNIST_DIR if set, else ../shared/data/mnist beside the project."""
    folder = Path(os.environ.get("MNIST_DIR") or SHARED_MNIST)
    if not (folder / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"full MNIST not found in {folder}")
    return folder


@pytest.fixture(scope="session")
def embedded_splits():
    from shared.data import load_embedded

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_embedded()


@pytest.fixture()
def tiny_splits(embedded_splits):
    """128 real training digits, 64 validation, 64 test: for one-step and loop tests."""
    from shared.data import MNISTSplits

    s = embedded_splits
    return MNISTSplits(
        train_x=s.train_x[:128].clone(),
        train_y=s.train_y[:128].clone(),
        val_x=s.val_x[:64].clone(),
        val_y=s.val_y[:64].clone(),
        test_x=s.test_x[:64].clone(),
        test_y=s.test_y[:64].clone(),
        source=s.source,
        is_full_mnist=False,
    )


@pytest.fixture(autouse=True)
def _one_thread():
    """Tests run on 2-core CI machines: keep torch from oversubscribing."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
