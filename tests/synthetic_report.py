"""A ``shared.report.Report`` over synthetic frames, for tests that build report steps directly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from shared import report


def synthetic_report(
    tmp_path: Path,
    metrics: pd.DataFrame,
    runs: pd.DataFrame,
    models: Sequence[str],
    seeds: Sequence[int],
    results: dict | None = None,
    per_item: pd.DataFrame | None = None,
) -> report.Report:
    """A Report whose outputs go under ``tmp_path``; ``per_item`` seeds the interpolation cache."""
    out = report.Report(
        results_dir=tmp_path / "res",
        figures_dir=tmp_path / "figures",
        tables_dir=tmp_path / "tables",
        results=results or {},
        expected_models=list(models),
        expected_seeds=list(seeds),
        problems=[],
        runs=runs,
        metrics=metrics,
    )
    if per_item is not None:
        out._cache[("per_item", "interpolation")] = per_item
    return out


def runs_of(frame: pd.DataFrame) -> pd.DataFrame:
    """The runs frame of a metrics frame: every (model, seed) ok, no collapse verdict, study setting."""
    runs = frame[["model", "seed", "status"]].drop_duplicates(ignore_index=True)
    return runs.assign(profile="smoke", data="synthetic", deviations="", collapsed=None, setting_differs="")


# --------------------------------------------------------------------------- whole results files

#: What a synthetic model stores: its run means (one value for every image / sequence, so every
#: mean equals the input), its collapse verdict and, unless ``beyond`` is False, the schema-v2
#: blocks. ``fd`` / ``precision`` / ``recall``: sampler or set -> value (a missing "prior" means
#: no prior sampler, as AE's); ``path_excess``: one value per sequence (NaN = undefined).
DEFAULT_SYNTHETIC = {
    "ssim": 0.8, "mse": 0.02, "psnr": 17.0, "mae": 0.08, "sharpness": 0.01,
    "piq": 2e-3, "iss": 2e-7, "issim": 0.9, "endpoint_distance": 0.05, "step_cv": 0.2,
    "probe": 0.9, "kmeans": (0.60, 0.62, 0.58, 0.61, 0.59),
    "fd": {"prior": 20.0, "gmm": 15.0, "reconstruction_mean": 5.0, "reconstruction_sampled": 6.0},
    "precision": {"prior": 0.5, "gmm": 0.6, "reconstruction_mean": 0.8, "reconstruction_sampled": 0.75},
    "recall": {"prior": 0.4, "gmm": 0.5, "reconstruction_mean": 0.7, "reconstruction_sampled": 0.65},
}  # fmt: skip
PRIOR_OF = {"AE": "none", "RAE_L2": "none", "RAE_GP": "none", "VQVAE": "code_frequencies"}
PRIOR_LABEL = {
    "normal": "N(0, I)", "none": "none (trained without a prior)",
    "code_frequencies": "training-set code frequencies, per position (no learned prior)",
}  # fmt: skip
N_IMAGES, N_SEQUENCES, N_GRID = 8, 5, 64
FEATURE_NET = "mnist-lenet-000000000000"


def _block(per: str, values: dict[str, np.ndarray]) -> dict:
    def mean(v):  # NaN-skipping, as shared.evaluation stores path excess
        return float(np.nanmean(v.astype(np.float64))) if np.isfinite(v).any() else float("nan")

    def std(v):
        finite = v[np.isfinite(v)].astype(np.float64)
        return float(finite.std(ddof=1)) if len(finite) > 1 else float("nan")

    return {
        per: values,
        "mean": {k: mean(v) for k, v in values.items()},
        "std": {k: std(v) for k, v in values.items()},
    }


def synthetic_run(
    model: str, seed: int, values: dict | None = None, collapsed: bool = False, beyond: bool = True
) -> dict:
    """A schema-valid ok run of ``model`` (``shared.results.validate_run``); ``values`` override
    :data:`DEFAULT_SYNTHETIC`; ``beyond=False`` gives a version-1 run (no new blocks)."""
    v = {**DEFAULT_SYNTHETIC, **(values or {})}
    full = lambda x, n: np.full(n, x, dtype=np.float32)  # noqa: E731
    recon = {m: full(v[m], N_IMAGES) for m in ("ssim", "mse", "psnr", "mae", "sharpness")}
    interp = {m: full(v[m], N_SEQUENCES) for m in ("piq", "iss", "issim")}
    if beyond:
        excess = v.get("path_excess", np.full(N_SEQUENCES, 1.5))
        interp.update(
            endpoint_distance=full(v["endpoint_distance"], N_SEQUENCES),
            path_excess=np.asarray(excess, dtype=np.float32),
            step_cv=full(v["step_cv"], N_SEQUENCES),
        )
    ratio = 0.95 if collapsed else 0.5
    metrics = {
        "reconstruction": {  # the mean-code SSIM differs, so a table reading the wrong set is caught
            "protocol_sampled": _block("per_image", recon),
            "protocol_mean": _block("per_image", {**recon, "ssim": full(v["ssim"] ** 2, N_IMAGES)}),
        },
        "interpolation": _block("per_sequence", interp),
        "interpolation_path": "line",
        "collapse": {
            "mean_code_mse": ratio * 0.06,
            "mean_image_mse": 0.06,
            "ratio": ratio,
            "collapsed": collapsed,
        },
    }
    rng = np.random.default_rng(seed)
    samples = {
        "originals": rng.uniform(size=(N_IMAGES, 28, 28)).astype(np.float16),
        "reconstructions_sampled": rng.uniform(size=(N_IMAGES, 28, 28)).astype(np.float16),
        "reconstructions_mean": rng.uniform(size=(N_IMAGES, 28, 28)).astype(np.float16),
        "interpolations": rng.uniform(size=(N_SEQUENCES, 10, 28, 28)).astype(np.float16),
        "latent_codes": rng.normal(size=(40, 16)).astype(np.float32),
        "latent_labels": rng.integers(0, 10, 40),
    }
    if beyond:
        prior = PRIOR_OF.get(model, "normal")
        sets = {
            s: {"fd": float(v["fd"][s]), "precision": float(v["precision"][s]), "recall": float(v["recall"][s]),
                "n_fake": 1000}
            for s in v["fd"] if not (s == "prior" and prior == "none")
        }  # fmt: skip
        notes = {"prior": PRIOR_LABEL["none"]} if prior == "none" else {}
        metrics["generation"] = {
            "prior": prior, "prior_label": PRIOR_LABEL.get(prior, prior), "n_samples": 1000,
            "gmm_components": 10, "notes": notes, "feature_net": FEATURE_NET, "k": 3,
            "n_real": 500, "n_pr": 500, "sets": sets,
        }  # fmt: skip
        kmeans = np.asarray(v["kmeans"], dtype=np.float32)
        metrics["codes"] = {
            "probe_accuracy": float(v["probe"]), "kmeans_accuracy": kmeans,
            "kmeans_mean": float(kmeans.astype(np.float64).mean()),
            "kmeans_std": float(kmeans.astype(np.float64).std(ddof=1)),
            "n_train_codes": 4000, "n_test_codes": 500, "restarts": len(kmeans),
        }  # fmt: skip
        for sampler in sets.keys() & {"prior", "gmm"}:
            samples[f"generated_{sampler}"] = rng.uniform(size=(N_GRID, 28, 28)).astype(np.float16)
    return {
        "seed": seed, "status": "ok", "failure": None, "profile": "smoke",
        "config": {
            "model": model, "display_name": model, "family": "baseline", "model_config": {"latent_dim": 16},
            "training": {"epochs": 1}, "deviations": [], "setting_differs": "",
            "data": {"source": "synthetic", "is_full_mnist": False, "n_train": 4000, "n_val": 500, "n_test": 500},
            "device": "cpu", "versions": {"python": "3.11"}, "git_commit": "synthetic", "created": "2026-01-01T00:00:00+00:00",
        },
        "history": {"epoch": [1], "train_loss": [1.0], "val_loss": [1.1], "seconds": [1.0]},
        "training": {"epochs_run": 1, "best_epoch": 1, "early_stopped": False, "wall_seconds": 1.0},
        "metrics": metrics,
        "eval_indices": None,
        "samples": samples,
        "weights": None,
    }  # fmt: skip


def write_synthetic_results(
    results_dir: Path,
    models: dict[str, dict],
    seeds: Sequence[int] = (42,),
    collapsed: Sequence[str] = (),
    beyond: bool | Sequence[str] = True,
) -> Path:
    """Save one synthetic run per model and seed with ``shared.results.save_run`` (so the schema is
    checked) and return the folder; ``models``: model -> overrides of :data:`DEFAULT_SYNTHETIC`, the
    same for every seed, or seed -> overrides (int keys) where the seeds differ; ``beyond``: all
    models (True), none (False: version-1 results) or the models named."""
    from shared import results

    for model, values in models.items():
        has_beyond = beyond if isinstance(beyond, bool) else model in beyond
        for seed in seeds:
            own = values.get(seed, {}) if values and all(isinstance(k, int) for k in values) else values
            run = synthetic_run(model, seed, own, model in collapsed, has_beyond)
            results.save_run(results_dir, model, seed, run)
    return results_dir
