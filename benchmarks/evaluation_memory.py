"""Peak resident memory of evaluating each model on the 10,000 test images (one fresh process per
model, so every peak is that model's own): the check that evaluation keeps no autograd graph.

Weights do not change the memory an evaluation needs, so each model is evaluated as initialised
from seed 42. The peak is the process's maximum resident set (``ru_maxrss``), data and libraries
included; the target is under 1.5 GB for every model. Needs full MNIST::

    MNIST_DIR=../shared/data/mnist .venv/bin/python benchmarks/evaluation_memory.py [--models VAE,IWAE]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LIMIT_GB = 1.5


def measure_one(model: str, data_dir: str | None) -> None:
    """In this process: evaluate ``model`` and print 'peak_gb seconds'."""
    import torch

    from shared import evaluation, registry
    from shared.data import load_mnist

    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        splits = load_mnist(data_dir)
        if not splits.is_full_mnist:
            raise SystemExit("needs full MNIST: set MNIST_DIR or pass --data-dir")
        torch.manual_seed(42)
        net = registry.build_model(model)
        start = time.perf_counter()
        evaluation.evaluate_model(net, splits, seed=42)
    seconds = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB
    print(f"{peak_gb:.3f} {seconds:.1f}")


def main(argv: list[str] | None = None) -> int:
    from shared import registry

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="all")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.one:
        measure_one(args.one, args.data_dir)
        return 0
    models = registry.parse_model_list(args.models)
    print(
        "| model | peak resident memory (GB) | evaluation (s) | under 1.5 GB |\n|---|---:|---:|---|",
        flush=True,
    )
    worst = 0.0
    for model in models:
        cmd = [sys.executable, __file__, "--one", model] + (
            ["--data-dir", args.data_dir] if args.data_dir else []
        )
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"| {model} | failed: {out.stderr.strip().splitlines()[-1:]} | | |", flush=True)
            continue
        peak, seconds = map(float, out.stdout.split()[-2:])
        worst = max(worst, peak)
        print(f"| {model} | {peak:.2f} | {seconds:.0f} | {'yes' if peak < LIMIT_GB else 'NO'} |", flush=True)
    print(f"\nlargest peak: {worst:.2f} GB ({'under' if worst < LIMIT_GB else 'OVER'} {LIMIT_GB} GB)")
    return 0 if worst < LIMIT_GB else 1


if __name__ == "__main__":
    sys.exit(main())
