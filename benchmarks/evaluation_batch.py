"""Chunk sizes of the two heaviest loops of an evaluation: the classifier features and the
decoding of generated codes (10,000 each per sampler), at the old sizes (1,000 / 500) and the
new (100 / 100), alternated so drift cancels, on one CPU thread as ``run_all.sh`` runs them.

Prints, per loop, the median seconds of each size, their ratio, and whether every image's
output is the same bits at both sizes (the reason the change leaves every number as it was)::

    .venv/bin/python benchmarks/evaluation_batch.py [--model VAE] [--repeats 3]

The model is built from seed 42 untrained: the cost and the bit-equality do not depend on its
weights. Results: ``benchmarks/evaluation_batch_results.md``.
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import beyond_study, classifier, generation, registry  # noqa: E402
from shared import precision as precisions  # noqa: E402
from shared.registry import build_model  # noqa: E402

N_IMAGES = 10_000  # generation.N_SAMPLES: codes decoded and images featurised per sampler
OLD = {"features": 1000, "decode": 500}


def _loops(model: torch.nn.Module) -> dict:
    net = beyond_study._feature_net()
    images = torch.rand(N_IMAGES, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    codes = torch.randn(N_IMAGES, model.latent_dim)
    return {
        "features": lambda batch: classifier.batched_features(net, images, batch),
        "decode": lambda batch: generation.decode_codes(model, codes, batch),
    }


def _default_batch(fn) -> int:
    """The chunk size the evaluation uses: the function's own default."""
    return inspect.signature(fn).parameters["batch"].default


def _timed(fn, batch: int) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    out = fn(batch)
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="VAE")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(42)
    try:
        model = build_model(args.model, epochs=1).to(memory_format=torch.channels_last).eval()
    except registry.UnknownModelError as exc:
        raise SystemExit(str(exc)) from None
    new = {
        "features": _default_batch(classifier.batched_features),
        "decode": _default_batch(generation.decode_codes),
    }
    print(f"cpu: {precisions.cpu_name()}, 1 thread, {args.model}, {N_IMAGES:,} images per loop")
    for name, fn in _loops(model).items():
        seconds = {OLD[name]: [], new[name]: []}
        outputs = {}
        for _ in range(args.repeats):
            for batch in (OLD[name], new[name]):
                dt, outputs[batch] = _timed(fn, batch)
                seconds[batch].append(dt)
        old_s, new_s = statistics.median(seconds[OLD[name]]), statistics.median(seconds[new[name]])
        same = torch.equal(outputs[OLD[name]], outputs[new[name]])
        print(
            f"{name}: batch {OLD[name]} {old_s:.2f} s, batch {new[name]} {new_s:.2f} s: "
            f"{old_s / new_s:.2f}x; same bits: {same}"
        )


if __name__ == "__main__":
    main()
