"""Retrain the feature network of the distribution metrics (shared/classifier.py), reproducibly.

    python tools/train_classifier.py --data-dir /path/to/mnist     # or set MNIST_DIR

Trains on the study's 50,000 training images only (Adam, small random shifts, fixed seed,
fixed thread count, deterministic kernels), keeps the epoch with the best validation accuracy,
reports its test accuracy and writes float32 arrays keyed by state_dict names to
shared/weights/mnist_classifier.npz (atomically). Same seed and thread count -> same bytes.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.classifier import WEIGHTS_PATH, MNISTClassifier, classifier_id, load_classifier  # noqa: E402
from shared.data import DataError, find_mnist_folder, load_idx_folder  # noqa: E402

SEED = 2025
THREADS = 1  # measured: on 2 shared cores one thread trains ~3x faster than two
EPOCHS = 12
BATCH = 128
LR = 1e-3
LR_DECAY = 0.8  # per epoch: large steps first, fine ones at the end
MAX_SHIFT = 2  # pixels; light augmentation (digits are roughly centred, not exactly)


def shift_batch(x: torch.Tensor, generator: torch.Generator, max_shift: int = MAX_SHIFT) -> torch.Tensor:
    """Translate each image by up to ``max_shift`` pixels in each direction (zero fill)."""
    if max_shift == 0:
        return x
    n, size = len(x), x.shape[-1]
    padded = nn.functional.pad(x, (max_shift,) * 4)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n, 1), generator=generator)
    rows = (dy + torch.arange(size))[:, :, None]  # [N, 28, 1]
    cols = (dx + torch.arange(size))[:, None, :]  # [N, 1, 28]
    return padded[torch.arange(n)[:, None, None], 0, rows, cols].unsqueeze(1)


def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    """Fraction of correctly classified images (eval mode, no autograd)."""
    was_training = net.training
    net.eval()
    with torch.no_grad():
        correct = sum(
            int((net(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum()) for i in range(0, len(x), batch)
        )
    net.train(was_training)
    return correct / len(x)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global RNG and force deterministic kernels; restore both on exit."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(deterministic)


def train(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    *,
    epochs: int = EPOCHS,
    seed: int = SEED,
    batch: int = BATCH,
    log: Callable[[str], None] | None = None,
) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Train from scratch; return the best-validation state_dict and the per-epoch history.

    Everything random (initialisation, dropout, shuffling, shifts) follows ``seed``; with the
    same thread count the result is bit-identical. Ties in validation accuracy keep the earlier
    epoch.
    """
    with seeded(seed):
        net = MNISTClassifier()
        generator = torch.Generator().manual_seed(seed)
        optimiser = torch.optim.Adam(net.parameters(), lr=LR)
        schedule = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=LR_DECAY)
        loss_fn = nn.CrossEntropyLoss()
        best_acc, best_state, history = -1.0, None, []
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            net.train()
            order = torch.randperm(len(train_x), generator=generator)
            total, seen = 0.0, 0
            for i in range(0, len(order), batch):
                idx = order[i : i + batch]
                xb = shift_batch(train_x[idx], generator)
                loss = loss_fn(net(xb), train_y[idx])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                total += loss.item() * len(idx)
                seen += len(idx)
            schedule.step()
            val_acc = accuracy(net, val_x, val_y)
            seconds = time.perf_counter() - start
            history.append({"epoch": epoch, "loss": total / seen, "val_acc": val_acc, "seconds": seconds})
            if val_acc > best_acc:
                best_acc, best_state = val_acc, copy.deepcopy(net.state_dict())
            if log is not None:
                log(
                    f"epoch {epoch:2d}/{epochs}  loss {total / seen:.4f}  val acc {100 * val_acc:.2f} %  "
                    f"{seconds:.1f} s"
                )
    return best_state, history


def save_weights(state: dict[str, torch.Tensor], out: Path) -> None:
    """Write float32 arrays keyed by state_dict names (np.savez_compressed), atomically.

    The bytes depend on the weights only: numpy writes each member through
    ``ZipFile.open(name, "w")``, which stamps it 1980-01-01, not the build time.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        name: np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float32) for name, t in state.items()
    }
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, allow_pickle=False, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; this is a shipped data file
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("MNIST_DIR") or None,
        help="folder with the four MNIST IDX .gz files (default: $MNIST_DIR)",
    )
    parser.add_argument("--epochs", type=_positive_int, default=EPOCHS, help=f"default {EPOCHS}")
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH, help="default: %(default)s")
    args = parser.parse_args(argv)
    if args.data_dir is None:
        parser.error("no MNIST folder: pass --data-dir or set MNIST_DIR (the full IDX files are required)")
    try:  # fail now, not after training
        args.out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"--out {args.out}: cannot create its folder ({exc.strerror})")
    if not os.access(args.out.parent, os.W_OK):
        parser.error(f"--out {args.out}: its folder is not writable")
    try:
        splits = load_idx_folder(find_mnist_folder(args.data_dir))
    except DataError as exc:
        parser.error(str(exc))

    torch.set_num_threads(THREADS)
    n_params = sum(p.numel() for p in MNISTClassifier().parameters())
    print(
        f"training on {len(splits.train_x)} images, validating on {len(splits.val_x)}; "
        f"{n_params} parameters, seed {SEED}, threads {THREADS}"
    )
    start = time.perf_counter()
    state, history = train(
        splits.train_x, splits.train_y, splits.val_x, splits.val_y, epochs=args.epochs, log=print
    )
    best = max(history, key=lambda h: (h["val_acc"], -h["epoch"]))
    save_weights(state, args.out)
    net = load_classifier(args.out)  # what was written is what is measured
    test_acc = accuracy(net, splits.test_x, splits.test_y)
    print(
        f"best epoch {best['epoch']} (val acc {100 * best['val_acc']:.2f} %); "
        f"test acc {100 * test_acc:.2f} %; {time.perf_counter() - start:.0f} s in all"
    )
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {classifier_id(args.out)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
