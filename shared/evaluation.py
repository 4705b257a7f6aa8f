"""Evaluate a trained model: every number of the study plus the mean-code variants (docs/PROTOCOL.md#6-evaluation-protocol).

The evaluation subsets are drawn once from ``EVAL_SEED`` and depend only on the size of the test
split, so every model is measured on the same images. Reconstruction metrics are computed for
the whole test split (SSIM ``metrics.SSIM_CHUNK`` images at a time); the study's 100-image
protocol is the subset at ``indices["reconstruction"]`` of those per-image values (same draws of z).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from shared import beyond_study, latent, metrics, registry
from shared.collapse import collapse_verdict
from shared.data import MNISTSplits

EVAL_SEED = 2025
N_PROTOCOL_IMAGES = 100
N_PAIRS = 25
N_FRAMES = 10
N_LATENT = 1000
BATCH = 500


def evaluation_indices(n_test: int, seed: int = EVAL_SEED) -> dict[str, np.ndarray]:
    """The fixed subsets: 100 reconstruction images, 25 interpolation pairs, <=1000 latent codes."""
    rng = np.random.default_rng(seed)
    n_pairs = min(N_PAIRS, n_test // 2)
    return {
        "reconstruction": np.sort(rng.choice(n_test, size=min(N_PROTOCOL_IMAGES, n_test), replace=False)),
        "interpolation": rng.choice(n_test, size=2 * n_pairs, replace=False).reshape(n_pairs, 2),
        "latent": np.sort(rng.choice(n_test, size=min(N_LATENT, n_test), replace=False)),
    }


def _batched(fn, x: torch.Tensor, batch: int = BATCH) -> torch.Tensor:
    return torch.cat([fn(x[i : i + batch]) for i in range(0, len(x), batch)])


def _mean_std(v: np.ndarray) -> tuple[float, float]:
    """float64 mean and std (ddof 1) over the finite values (path excess is NaN where undefined)."""
    finite = v[np.isfinite(v)] if np.isnan(v).any() else v
    if len(finite) == 0:
        return float("nan"), float("nan")
    std = float(finite.std(ddof=1, dtype=np.float64)) if len(finite) > 1 else float("nan")
    return float(finite.mean(dtype=np.float64)), std


@torch.no_grad()
def mean_codes(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean codes [N, D] of many images, in batches."""
    return _batched(lambda b: latent.encode_mean(model, b), x)


def _summarise(per_item: dict[str, torch.Tensor], key: str = "per_image") -> dict:
    """Per-item float32 arrays under ``key`` plus their float64 mean and std (ddof 1)."""
    arrays = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in per_item.items()}
    stats = {k: _mean_std(v) for k, v in arrays.items()}
    return {
        key: arrays,
        "mean": {k: m for k, (m, _) in stats.items()},
        "std": {k: sd for k, (_, sd) in stats.items()},
    }


def reconstructions(
    model: nn.Module, x: torch.Tensor, seed: int, codes: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Mean-code and sampled reconstructions of ``x`` (sampling seeded by ``seed``); ``codes``:
    the mean codes of ``x`` when already computed."""
    if codes is None:
        codes = mean_codes(model, x)
    with torch.no_grad():
        mean = _batched(lambda z: latent.decode(model, z), codes)
    torch.manual_seed(seed)
    sampled = _batched(lambda b: latent.reconstruct_sampled(model, b), x)
    return {"mean": mean.float(), "sampled": sampled.float()}


@torch.no_grad()
def _frames_along(model: nn.Module, z1: torch.Tensor, z2: torch.Tensor, path: str) -> torch.Tensor:
    codes = latent.path_codes(model, z1, z2, N_FRAMES, path)  # [S, K, D]
    frames = latent.decode(model, codes.reshape(-1, codes.shape[-1]))
    return frames.reshape(len(z1), N_FRAMES, 28, 28).float()


@torch.no_grad()
def _pair_codes(model: nn.Module, x: torch.Tensor, pairs: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return latent.encode_mean(model, x[pairs[:, 0]]), latent.encode_mean(model, x[pairs[:, 1]])


def interpolation_frames(
    model: nn.Module, x: torch.Tensor, pairs: np.ndarray, path: str = "line"
) -> torch.Tensor:
    """Frames [S, K, 28, 28] decoded along ``path`` between the pairs' mean codes."""
    return _frames_along(model, *_pair_codes(model, x, pairs), path)


def mean_image_mse(train_x: torch.Tensor, x: torch.Tensor) -> float:
    """MSE (per-image pixel mean, averaged) of predicting the mean training image for every x."""
    mean = train_x.to(x.device, torch.float64).mean(dim=0, keepdim=True)
    return float(((x.double() - mean) ** 2).flatten(1).mean(1).mean())


def _interpolation_blocks(model: nn.Module, x: torch.Tensor, pairs: np.ndarray, spec) -> tuple:
    """Frames and metrics on the model's own path, and the metrics of its extra paths."""
    z1, z2 = _pair_codes(model, x, pairs)  # encoded once for every path
    frames = _frames_along(model, z1, z2, spec.interpolation)
    main = _summarise(metrics.interpolation_metrics(frames), key="per_sequence")
    extra = {
        path: _summarise(
            metrics.interpolation_metrics(_frames_along(model, z1, z2, path)), key="per_sequence"
        )
        for path in spec.extra_interpolations
    }
    return frames, main, extra


def _beyond_blocks(
    model: nn.Module, splits: MNISTSplits, x: torch.Tensor, test_codes: torch.Tensor, recon: dict, seed: int
) -> tuple[dict, dict]:
    """``metrics.generation``, ``metrics.codes`` and the sample grids (docs/PROTOCOL.md#10-beyond-the-study)."""
    n = beyond_study.N_TRAIN_CODES  # a fixed subset: encoding all 50,000 would double the cost
    train_x = splits.train_x[:n].to(x.device).contiguous(memory_format=torch.channels_last)
    train_codes = mean_codes(model, train_x)
    generation, grids = beyond_study.generation_block(model, train_codes, x, recon["mean"], seed)
    codes = beyond_study.codes_block(train_codes, splits.train_y[:n], test_codes, splits.test_y, seed)
    return {"generation": generation, "codes": codes}, grids


def evaluate_model(
    model: nn.Module, splits: MNISTSplits, seed: int, device: str | torch.device = "cpu", beyond: bool = True
) -> dict:
    """Metrics, evaluation indices and sample outputs of one trained model (schema v2 blocks).

    Model and images are put in channels_last memory format first, whatever training used:
    faster convolutions on CPU, and a model restored from a results file gives bit-identical
    numbers (the format changes the float rounding). ``beyond=False`` leaves out the blocks
    beyond the study (generation, codes; benchmarks/beyond_cost.py measures what they cost).
    """
    model.to(device=device, memory_format=torch.channels_last).eval()
    x = splits.test_x.to(device).contiguous(memory_format=torch.channels_last)
    idx = evaluation_indices(len(x))
    test_codes = mean_codes(model, x)
    recon = reconstructions(model, x, seed, test_codes)
    full = {kind: metrics.reconstruction_metrics(x, r) for kind, r in recon.items()}
    protocol = torch.as_tensor(idx["reconstruction"], device=x.device)
    rec_block = {}
    for kind, per_image in full.items():
        rec_block[f"full_{kind}"] = _summarise(per_image)
        rec_block[f"protocol_{kind}"] = _summarise({k: v[protocol] for k, v in per_image.items()})
    spec = registry.get_spec(latent.model_name(model))
    frames, interpolation, extra_paths = _interpolation_blocks(model, x, idx["interpolation"], spec)
    collapse = collapse_verdict(rec_block["full_mean"]["mean"]["mse"], mean_image_mse(splits.train_x, x))
    extra_metrics, grids = _beyond_blocks(model, splits, x, test_codes, recon, seed) if beyond else ({}, {})
    codes = test_codes[torch.as_tensor(idx["latent"], device=x.device)]
    f16 = lambda t: t.detach().cpu().reshape(-1, 28, 28).numpy().astype(np.float16)  # noqa: E731
    return {
        "metrics": {
            "reconstruction": rec_block,
            "interpolation": interpolation,
            "interpolation_path": spec.interpolation,
            "interpolation_paths": extra_paths,
            "collapse": collapse,
            **extra_metrics,
        },
        "eval_indices": idx,
        "samples": {
            "originals": f16(x[protocol]),
            "reconstructions_sampled": f16(recon["sampled"][protocol]),
            "reconstructions_mean": f16(recon["mean"][protocol]),
            "interpolations": frames.cpu().numpy().astype(np.float16),
            "latent_codes": codes.detach().cpu().numpy().astype(np.float32),
            "latent_labels": splits.test_y[idx["latent"]].cpu().numpy().astype(np.int64),
            **grids,
        },
    }
