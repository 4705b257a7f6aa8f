"""Model-fidelity sweep: does every model, as fixed in ``shared.fixes``, learn to reconstruct?

Trains each model with our loop (``shared.training.train_model``) on the embedded data
(4,000 / 500 / 500 real digits) and reports the validation MSE of the reconstruction from the
*mean* code (``shared.latent.encode_mean`` + ``decode``, eval mode) against the MSE of predicting
the mean training image. MIWAE and PIWAE (about 100x the cost of a VAE epoch on CPU) run fewer
epochs and are compared with a VAE trained for the same number of epochs (pass: within 1.5x).

Results go to a JSON file after every model, so an interrupted sweep loses nothing; a rerun
skips models already in it (``--force`` retrains). A model may carry a registry variant:
``RAE_GP:study_literal``.

    PYTHONPATH=. nice -n 19 .venv/bin/python benchmarks/fidelity_sweep.py --models VAE,AE --epochs 20
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from shared import evaluation
from shared.cli import comma_list
from shared.data import MNISTSplits, load_embedded
from shared.latent import decode, encode_mean
from shared.registry import MODEL_NAMES, UnknownModelError, get_spec
from shared.results import write_bytes_atomically
from shared.training import TrainSettings, train_model

SLOW_IW_MODELS = ("MIWAE", "PIWAE")  # compared with a VAE at the same (small) epoch budget
IW_TOLERANCE = 1.5
HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "fidelity_sweep_results.json"
DEFAULT_MD = HERE / "fidelity_sweep_results.md"


def read_json(path: Path) -> dict[str, Any]:
    """The results so far ({} for a new file); a damaged file is a one-line exit, not a traceback."""
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{path}: not valid JSON ({exc}); move it away or pass another --json") from None


def write_json(path: Path, obj: dict[str, Any]) -> None:
    """Written whole or not at all, so an interrupt never damages hours of results."""
    write_bytes_atomically(path, (json.dumps(obj, indent=1) + "\n").encode())


def mean_image_mse(splits: MNISTSplits) -> float:
    """Validation MSE of predicting the mean training image for every image: the bar to beat
    (the same quantity the collapse rule uses, shared.evaluation.mean_image_mse)."""
    return evaluation.mean_image_mse(splits.train_x, splits.val_x)


@torch.no_grad()
def mean_code_mse(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 250) -> float:
    """Per-pixel MSE of Decoder(mean code) against ``x``, eval mode, averaged over images."""
    model.eval()
    total = 0.0
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size]
        recon = decode(model, encode_mean(model, xb))
        total += float(((recon - xb) ** 2).sum())
    return total / x.numel()


def parse_entry(entry: str) -> tuple[str, str | None]:
    """'RAE_GP:study_literal' -> ('RAE_GP', 'study_literal'), validating both parts."""
    name, _, variant = entry.partition(":")
    try:
        spec = get_spec(name)
    except UnknownModelError as exc:
        raise SystemExit(str(exc)) from None
    if variant and variant not in spec.variants:
        raise SystemExit(f"{name} has no variant {variant!r}; variants: {sorted(spec.variants)}")
    return name, variant or None


def run_one(entry: str, splits: MNISTSplits, epochs: int, seed: int) -> dict[str, Any]:
    """Train one model for ``epochs`` (patience = epochs: no early stop) and measure it."""
    name, variant = parse_entry(entry)
    settings = TrainSettings(
        epochs=epochs, patience=epochs, threads=1, progress=False, seed=seed, device="cpu", variant=variant
    )
    t0 = time.perf_counter()
    result = train_model(name, splits, settings)
    history = result.history
    extra = {
        k: history[k][-1]
        for k in history
        if not k.startswith(("train_", "val_")) and k not in ("epoch", "seconds")
    }
    return {
        "model": entry,
        "epochs": result.epochs_run,
        "best_epoch": result.best_epoch,
        "status": result.status,
        "failure": result.failure,
        "mse_mean_code": mean_code_mse(result.model, splits.val_x),
        "val_loss_last": history.get("val_loss", [None])[-1],
        "val_loss_best": min((v for v in history.get("val_loss", []) if v is not None), default=None),
        "seconds": time.perf_counter() - t0,
        "last_epoch_metrics": extra,
        "epoch_metrics_history": {k: history[k] for k in extra},
    }


def verdict(row: dict[str, Any], baseline: float, reference: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """(criterion text, PASS/FAIL) for one row."""
    name = row["model"].split(":")[0]
    if row["status"] != "ok":
        return "trained without failure", "FAIL"
    if name in SLOW_IW_MODELS:
        ref = reference.get(f"VAE@{row['epochs']}")
        if ref is None:
            return f"VAE@{row['epochs']} missing", "n/a"
        bar = IW_TOLERANCE * ref["mse_mean_code"]
        ok = row["mse_mean_code"] <= bar
        return f"<= {IW_TOLERANCE} x VAE@{row['epochs']} = {bar:.4f}", "PASS" if ok else "FAIL"
    return f"< mean image {baseline:.4f}", "PASS" if row["mse_mean_code"] < baseline else "FAIL"


def markdown(results: dict[str, Any], planned: list[str] | None = None) -> str:
    """The table for the issue note, one row per model in run order; planned-but-missing last."""
    baseline = results["mean_image_mse"]
    rows = results["rows"]
    reference = {k: v for k, v in rows.items() if k.startswith("VAE@")}
    lines = [
        f"Data: {results['data_source']}; seed {results['seed']}; CPU, 1 thread. "
        f"Validation MSE of Decoder(mean code), eval mode. Mean-image baseline: {baseline:.4f}.",
        "",
        "| model | epochs | best epoch | val MSE (mean code) | mean-image MSE | criterion | result | wall s | last-epoch extras |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, row in rows.items():
        crit, res = verdict(row, baseline, reference)
        extras = ", ".join(f"{k}={v:.3g}" for k, v in row["last_epoch_metrics"].items() if v is not None)
        lines.append(
            f"| {key} | {row['epochs']} | {row['best_epoch']} | {row['mse_mean_code']:.4f} | {baseline:.4f} "
            f"| {crit} | {res} | {row['seconds']:.0f} | {extras} |"
        )
    for key in planned or []:
        if key not in rows:
            lines.append(f"| {key} | - | - | - | {baseline:.4f} | - | not run | - | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="all", help="comma list (NAME or NAME:variant); 'all' = the 22")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--iw-epochs", type=int, default=5, help="epochs for MIWAE / PIWAE (and their VAE)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--md", type=Path, default=DEFAULT_MD)
    parser.add_argument("--force", action="store_true", help="retrain models already in the JSON")
    parser.add_argument("--table-only", action="store_true", help="train nothing; table from the JSON")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    entries = list(MODEL_NAMES) if args.models.strip() == "all" else comma_list(args.models)
    for e in entries:
        parse_entry(e)
    splits = load_embedded()  # the data, whatever MNIST_DIR says
    results = read_json(args.json)
    results.update(
        {"data_source": splits.source, "seed": args.seed, "mean_image_mse": mean_image_mse(splits)}
    )
    results.setdefault("rows", {})

    plan: list[tuple[str, str, int]] = []
    for e in entries:
        if e.split(":")[0] in SLOW_IW_MODELS:
            plan.append((f"VAE@{args.iw_epochs}", "VAE", args.iw_epochs))
            plan.append((e, e, args.iw_epochs))
        else:
            plan.append((e, e, args.epochs))
    for key, entry, epochs in dict.fromkeys(plan):
        if args.table_only:
            break
        done = results["rows"].get(key)
        if done and not args.force and done["epochs"] == epochs:
            continue
        print(f"[{time.strftime('%H:%M:%S')}] {key}: {epochs} epochs ...", flush=True)
        row = run_one(entry, splits, epochs, args.seed)
        row["model"] = key
        results["rows"][key] = row
        write_json(args.json, results)
        print(f"    MSE {row['mse_mean_code']:.4f} ({row['seconds']:.0f} s)", flush=True)
    table = markdown(results, [key for key, _, _ in dict.fromkeys(plan)])
    args.md.write_text(table + notes_after_table(args.md))
    print(table)


def notes_after_table(md: Path) -> str:
    """The hand-written notes below the generated table of ``md`` (kept when the table is redone)."""
    if not md.exists():
        return ""
    lines = md.read_text().splitlines(keepends=True)
    first = next((i for i, line in enumerate(lines) if line.startswith("|")), len(lines))
    end = next((i for i in range(first, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "".join(lines[end:])


if __name__ == "__main__":
    main()
