"""Learning curves of the importance-weighted models: why MIWAE/PIWAE lag a VAE after 5 epochs.

Trains one model (``shared.training.train_model``, one CPU thread unless ``--threads``, embedded
4,000 digits, the study's lr 1e-4) and, after every epoch, measures on the 500 validation images: the MSE of
Decoder(mean code), the MSE of Decoder(z) for one seeded z ~ q(z|x), the mean posterior standard
deviation and the mean KL(q(z|x) || N(0, I)). Each epoch is written to the JSON at once, so an
interrupted run keeps its curve. ``--set`` changes a config value (e.g. IWAE's number of samples).

    PYTHONPATH=. nice -n 19 .venv/bin/python benchmarks/iw_learning_curves.py MIWAE --epochs 20
    PYTHONPATH=. .venv/bin/python benchmarks/iw_learning_curves.py IWAE --epochs 5 --set number_samples=10
    PYTHONPATH=. .venv/bin/python benchmarks/iw_learning_curves.py MIWAE:pythae_axes --epochs 5
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.fidelity_sweep import parse_entry, read_json, write_json
from shared import registry
from shared.data import load_embedded
from shared.latent import decode
from shared.training import TrainSettings, train_model

DEFAULT_JSON = Path(__file__).resolve().parent / "iw_learning_curves.json"


@torch.no_grad()
def posterior_metrics(model: torch.nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Mean-code and sampled-code MSE, posterior std and KL of a Gaussian-encoder model on ``x``."""
    model.eval()
    out = model.encoder(x)
    mu, log_var = out.embedding, out.log_covariance
    std = (0.5 * log_var).exp()
    z = mu + std * torch.randn(mu.shape, generator=torch.Generator().manual_seed(0))
    kl = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(dim=1)
    return {
        "mse_mean_code": float(((decode(model, mu) - x) ** 2).mean()),
        "mse_sampled": float(((decode(model, z) - x) ** 2).mean()),
        "posterior_std": float(std.mean()),
        "kl": float(kl.mean()),
    }


def parse_sets(items: list[str]) -> dict[str, Any]:
    """['number_samples=10'] -> {'number_samples': 10} (values parsed as JSON when they can be)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set wants key=value, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="NAME or NAME:variant")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--force", action="store_true", help="replace a curve already in the JSON")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args(argv)

    name, variant = parse_entry(args.model)
    spec = registry.get_spec(name)
    overrides = parse_sets(args.set) or None
    label = args.model + "".join(f" {k}={v}" for k, v in (overrides or {}).items()) + f" @{args.epochs}"
    results = read_json(args.json)
    if label in results and not args.force:
        raise SystemExit(f"{args.json} already holds {label!r}: pass --force to replace it, or --json")
    curve: list[dict[str, float]] = []
    results[label] = {"epochs": args.epochs, "seed": args.seed, "threads": args.threads, "curve": curve}
    start = time.perf_counter()

    def per_epoch(model: torch.nn.Module, val_x: torch.Tensor) -> dict[str, float]:
        row = {"epoch": len(curve) + 1, **posterior_metrics(model, val_x)}
        row["elapsed_s"] = round(time.perf_counter() - start, 1)
        curve.append(row)
        write_json(args.json, results)
        print(time.strftime("%H:%M:%S"), label, {k: round(v, 4) for k, v in row.items()}, flush=True)
        return {}

    registry.REGISTRY[name] = dataclasses.replace(spec, epoch_metrics=per_epoch)
    torch.set_num_threads(args.threads)
    settings = TrainSettings(
        epochs=args.epochs,
        patience=args.epochs,
        threads=args.threads,
        progress=False,
        seed=args.seed,
        device="cpu",
        variant=variant,
        model_overrides=overrides,
    )
    train_model(name, load_embedded(), settings)


if __name__ == "__main__":
    main()
