"""A small LeNet-like MNIST classifier: its penultimate layer is the feature space of the
distribution metrics (Fréchet distance, precision/recall of generated digits).

Why our own network: Inception features (FID) describe natural photographs, not 28x28
digits. This network is trained on the study's 50,000 training images only, and its
weights ship with the package (``shared/weights/mnist_classifier.npz``, float32 arrays
keyed by ``state_dict`` names). ``classifier_id`` names the exact weights file, and is
stored with every result so a number always says which feature network made it.

Rebuild the weights with ``python tools/train_classifier.py`` (fixed seed, deterministic).
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

FEATURE_DIM = 128
WEIGHTS_PATH = Path(__file__).parent / "weights" / "mnist_classifier.npz"
REBUILD_HINT = "rebuild it with `python tools/train_classifier.py`"


class ClassifierError(RuntimeError):
    """The classifier weights are missing, unreadable or do not fit the network (one line)."""


def _fail(path: Path, problem: str) -> ClassifierError:
    problem = " ".join(str(problem).split())  # one line, whatever the underlying message
    return ClassifierError(f"{path}: {problem}; {REBUILD_HINT}")


class MNISTClassifier(nn.Module):
    """Two conv+pool blocks, a ReLU feature layer of ``FEATURE_DIM`` units, then 10 logits.

    Input: images [N, 1, 28, 28] in [0, 1] (the study's scaling, no normalisation).
    About 185,000 parameters: small enough to ship, accurate enough (>= 99 % on the test
    split) that its features separate the digits.
    """

    def __init__(self) -> None:
        super().__init__()
        self.num_features = FEATURE_DIM
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=5),  # 28 -> 24
            nn.ReLU(),
            nn.MaxPool2d(2),  # -> 12
            nn.Conv2d(32, 64, kernel_size=5),  # -> 8
            nn.ReLU(),
            nn.MaxPool2d(2),  # -> 4
        )
        self.fc = nn.Linear(64 * 4 * 4, FEATURE_DIM)
        self.dropout = nn.Dropout(0.5)  # training only; features are taken before it
        self.head = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations [N, FEATURE_DIM] (after the ReLU): the metric space."""
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"expected images of shape [N, 1, 28, 28], got {list(x.shape)}")
        return torch.relu(self.fc(self.conv(x.float()).flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits [N, 10]."""
        return self.head(self.dropout(self.features(x)))


def load_classifier(path: str | Path = WEIGHTS_PATH) -> MNISTClassifier:
    """The trained network, in eval mode with frozen parameters.

    Reads the npz without pickle and checks that it holds exactly the network's arrays with
    the right shapes; anything else raises a one-line ``ClassifierError`` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "classifier weights not found")
    readable = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)
    try:
        archive = np.load(path, allow_pickle=False)
    except readable as exc:
        raise _fail(path, f"not a readable .npz file ({type(exc).__name__}: {exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise _fail(path, "a single .npy array, not an .npz archive of the network's arrays")
    try:
        with archive:
            arrays = {name: archive[name] for name in archive.files}  # reads and CRC-checks all
    except readable as exc:
        raise _fail(path, f"not a readable .npz file ({type(exc).__name__}: {exc})") from None

    net = MNISTClassifier()
    expected = net.state_dict()
    if set(arrays) != set(expected):
        missing, extra = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
        raise _fail(path, f"wrong arrays (missing {missing}, unexpected {extra})")
    state = {}
    for name, ref in expected.items():
        a = arrays[name]
        if tuple(a.shape) != tuple(ref.shape) or a.dtype.kind != "f":
            raise _fail(path, f"'{name}' is {a.dtype} {list(a.shape)}, expected float {list(ref.shape)}")
        if not np.isfinite(a).all():
            raise _fail(path, f"'{name}' holds non-finite values")
        state[name] = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    net.load_state_dict(state)
    net.eval()
    net.requires_grad_(False)
    return net


def classifier_id(path: str | Path = WEIGHTS_PATH) -> str:
    """'mnist-lenet-' + the first 12 hex digits of the weights file's sha256."""
    path = Path(path)
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        raise _fail(path, "classifier weights not found") from None
    except OSError as exc:
        raise _fail(path, f"cannot read the file ({exc})") from None
    return f"mnist-lenet-{digest[:12]}"


def batched_features(net: MNISTClassifier, x: torch.Tensor, batch: int = 100) -> torch.Tensor:
    """Features of many images [N, FEATURE_DIM] float32, ``batch`` at a time, without autograd.

    Chunks go to the network's device; the result stays there. 100 images a chunk keep the
    32-channel 28 x 28 activations (10 MB) in cache: twice as fast on one CPU thread as 1,000
    (benchmarks/evaluation_batch.py), and each image's features are the same bits either way.
    """
    if batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch}")
    device = next(net.parameters()).device
    with torch.no_grad():
        parts = [net.features(x[i : i + batch].to(device)) for i in range(0, len(x), batch)]
    if not parts:
        return torch.empty(0, net.num_features, device=device)
    return torch.cat(parts).float()
