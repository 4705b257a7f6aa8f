"""Seconds per full-MNIST epoch of every model on this machine: the numbers the reference profile's
budget is set from (shared.experiment, profile ``reference``).

Each model trains one epoch on the first ``--n-train`` training images and validates on the first
``--n-train / 5`` validation images (the 50,000 : 10,000 ratio of the full split), one thread, batch
64, as a ``run_all.sh --jobs 2`` run does; the time is scaled to 50,000 images. Models can be given
extra settings to time (``--also MODEL:key=value,...``), e.g. fewer importance samples.

    MNIST_DIR=... python benchmarks/reference_budget.py > benchmarks/reference_budget_results.md
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import registry  # noqa: E402
from shared.data import load_mnist  # noqa: E402
from shared.protocol import STUDY  # noqa: E402
from shared.training import TrainSettings, train_model  # noqa: E402


def epoch_seconds(model: str, splits, overrides: dict | None) -> float:
    """Wall seconds of one epoch (train + validation) scaled to the full split."""
    settings = TrainSettings(
        epochs=1, seed=42, device="cpu", threads=1, progress=False, model_overrides=overrides
    )
    t0 = time.perf_counter()
    train_model(model, splits, settings)
    return (time.perf_counter() - t0) * STUDY.n_train / len(splits.train_x)


def _parse_also(items: list[str]) -> list[tuple[str, dict]]:
    out = []
    for item in items:
        model, _, assignments = item.partition(":")
        out.append((model, {k: int(v) for k, v in (a.split("=") for a in assignments.split(","))}))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=1920)
    parser.add_argument("--models", nargs="*", default=list(registry.MODEL_NAMES))
    parser.add_argument("--also", nargs="*", default=[], help="MODEL:key=value,... extra settings to time")
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        splits = load_mnist(n_train=args.n_train, n_eval=args.n_train // 5)
    print(f"| model | settings | s / full epoch (1 thread, {args.n_train} images timed) |\n|---|---|---:|")
    for model, overrides in [(m, None) for m in args.models] + _parse_also(args.also):
        seconds = epoch_seconds(model, splits, overrides)
        print(f"| {model} | {overrides or 'study'} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
