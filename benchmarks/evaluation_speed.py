"""How long the evaluation notebook takes on a full study's worth of results (target: <= 2 minutes).

Builds a synthetic results folder of 22 models x 3 seeds with the array sizes of a paper-profile
run (per-image metrics for 100 protocol images and a 10,000-image test split, 25 interpolation
sequences of 10 frames, 1,000 latent codes, 60 epochs of history, real model weights), starting
from one real smoke run of the VAE whose metrics are then perturbed per model and seed. Then it
times ``shared.report.build_report`` in this process and the whole notebook under papermill
(kernel start included)::

    python benchmarks/evaluation_speed.py                 # build in a temp folder, time, clean up
    python benchmarks/evaluation_speed.py --keep DIR      # keep the synthetic results and outputs
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared import analysis, evaluation, experiment, registry, results  # noqa: E402

SEEDS = (42, 123, 456)
N_FULL, N_PROTOCOL, N_LATENT, N_EPOCHS = 10_000, 100, 1_000, 60
LIMIT_S = 120.0


def real_smoke_run() -> dict:
    """One real VAE run (smoke profile, 1 epoch), as saved by the training notebooks."""
    import torch

    from shared.training import train_model

    torch.set_num_threads(1)
    budget = experiment.run_budget("VAE", "smoke")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        splits = experiment.load_data(budget, None, profile="smoke")
    result = train_model("VAE", splits, experiment.settings_for(budget, 42, "cpu", 1, progress=False))
    ev = evaluation.evaluate_model(result.model, splits, seed=42)
    return results.to_plain(experiment.run_record("VAE", "smoke", budget, splits, result, ev))


def _block(per_image: dict[str, np.ndarray], per: str = "per_image") -> dict:
    return {
        per: per_image,
        "mean": {k: float(v.mean()) for k, v in per_image.items()},
        "std": {k: float(v.std(ddof=1)) for k, v in per_image.items()},
    }


def _recon(rng: np.random.Generator, quality: float, n: int) -> dict:
    ssim = np.clip(rng.normal(quality, 0.08, n), 0.05, 0.999)
    mse = np.clip(rng.normal(0.06 * (1 - ssim) + 0.002, 0.003), 1e-4, None)
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    return _block(
        {
            "ssim": f32(ssim),
            "mse": f32(mse),
            "psnr": f32(10 * np.log10(1 / mse)),
            "mae": f32(np.sqrt(mse) * 0.8),
            "sharpness": f32(rng.uniform(0.01, 0.05, n)),
        }
    )


def synthetic_run(base: dict, model: str, seed: int, index: int) -> dict:
    """``base`` renamed to ``model``/``seed`` with paper-sized arrays and perturbed metrics."""
    rng = np.random.default_rng(1000 * index + seed)
    run = copy.deepcopy(base)
    spec = registry.get_spec(model)
    run["seed"], run["profile"] = seed, "paper"
    run["config"].update(model=model, display_name=spec.display_name, family=spec.family)
    run["config"]["data"].update(source="full MNIST (synthetic benchmark)", is_full_mnist=True, n_test=N_FULL)
    quality = 0.6 + 0.3 * index / 21 + rng.normal(0, 0.01)
    smooth = 1e-3 * (1 + 1.5 * quality + rng.normal(0, 0.1))
    run["metrics"]["reconstruction"] = {
        f"{where}_{kind}": _recon(rng, quality, N_PROTOCOL if where == "protocol" else N_FULL)
        for where in ("protocol", "full")
        for kind in ("sampled", "mean")
    }
    d = np.abs(rng.normal(smooth, smooth / 3, (25, 9)))
    run["metrics"]["interpolation"] = _block(
        {
            "piq": d.mean(1).astype(np.float32),
            "iss": d.var(1).astype(np.float32),
            "issim": np.clip(rng.normal(0.96, 0.01, 25), 0, 1).astype(np.float32),
        },
        per="per_sequence",
    )
    labels = np.arange(N_LATENT) % 10
    centres = rng.normal(0, 3, (10, 16))
    run["samples"]["latent_codes"] = (centres[labels] + rng.normal(0, 1, (N_LATENT, 16))).astype(np.float32)
    run["samples"]["latent_labels"] = labels.astype(np.int64)
    run["eval_indices"]["latent"] = np.arange(N_LATENT, dtype=np.int64)
    loss = 200 / np.sqrt(np.arange(1, N_EPOCHS + 1)) + rng.normal(0, 1, N_EPOCHS)
    run["history"] = {
        "epoch": list(range(1, N_EPOCHS + 1)),
        "train_loss": loss.tolist(),
        "val_loss": (loss + 3).tolist(),
        "seconds": [20.0] * N_EPOCHS,
    }
    run["training"].update(epochs_run=N_EPOCHS, best_epoch=N_EPOCHS - 10, early_stopped=True)
    return run


def build_folder(folder: Path) -> float:
    """Write 22 models x 3 seeds into ``folder``; returns the size in MB."""
    base = real_smoke_run()
    for index, model in enumerate(analysis.REGISTRY_MODELS):
        for seed in SEEDS:
            results.save_run(folder, model, seed, synthetic_run(base, model, seed, index))
    return sum(p.stat().st_size for p in folder.glob("*.pkl")) / 1e6


def time_report(folder: Path, out: Path) -> float:
    from shared import report

    start = time.perf_counter()
    rep = report.build_report(folder, out / "figures", out / "tables")
    elapsed = time.perf_counter() - start
    skipped = [o.name for o in rep.outputs if not o.built]
    print(f"  built {sum(o.built for o in rep.outputs)} outputs, skipped {skipped or 'none'}")
    return elapsed


def time_notebook(folder: Path, out: Path) -> float:
    import papermill

    os.environ["VAE_BENCH_ROOT"] = str(ROOT)
    start = time.perf_counter()
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "evaluation.ipynb"),
        str(out / "evaluation.ipynb"),
        parameters={
            "results_dir": str(folder),
            "figures_dir": str(out / "nb_figures"),
            "tables_dir": str(out / "nb_tables"),
        },
        kernel_name="python3",
        cwd=str(out),
        progress_bar=False,
    )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keep", type=Path, help="folder to build in and keep (default: a temp folder)")
    parser.add_argument("--no-notebook", action="store_true", help="time build_report only")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="evaluation_speed_"))
    folder = work / "results"
    try:
        start = time.perf_counter()
        size = build_folder(folder)
        print(
            f"synthetic results: 22 models x 3 seeds, {size:.0f} MB, built in {time.perf_counter() - start:.0f} s"
        )
        t_report = time_report(folder, work)
        print(f"build_report (in process):        {t_report:6.1f} s")
        ok = t_report <= LIMIT_S
        if not args.no_notebook:
            t_nb = time_notebook(folder, work)
            print(f"notebook under papermill (total): {t_nb:6.1f} s")
            ok = ok and t_nb <= LIMIT_S
        print(f"{'OK' if ok else 'TOO SLOW'}: limit {LIMIT_S:.0f} s")
        return 0 if ok else 1
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
