"""How long ``shared.evaluation.evaluate_model`` takes for one model on the full test set.

The README's "about N s" for evaluating one VAE on the 10,000 test images (both reconstruction
variants, interpolations, latent codes) comes from this script. Weights do not change the cost, so
the VAE is evaluated as initialised from seed 42. Needs full MNIST (``MNIST_DIR`` or ``--data-dir``)::

    MNIST_DIR=../shared/data/mnist .venv/bin/python benchmarks/model_evaluation_speed.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import evaluation, registry  # noqa: E402
from shared.data import load_mnist  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="VAE")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        registry.get_spec(args.model)
    except registry.UnknownModelError as exc:
        raise SystemExit(str(exc)) from None
    splits = load_mnist(args.data_dir)
    if not splits.is_full_mnist:
        raise SystemExit("needs full MNIST: set MNIST_DIR or pass --data-dir")
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    model = registry.build_model(args.model).eval()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        evaluation.evaluate_model(model, splits, seed=42)
        times.append(time.perf_counter() - start)
    print(
        f"{args.model}: evaluate_model on {len(splits.test_x):,} test images, {args.threads} thread(s): "
        f"median {sorted(times)[len(times) // 2]:.1f} s of {args.repeats} ({', '.join(f'{t:.1f}' for t in times)})"
    )


if __name__ == "__main__":
    main()
