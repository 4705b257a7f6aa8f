"""What every part of the analysis shares: the metrics, their direction and names, the models.

Also the two frame helpers every table uses: successful runs only (:func:`ok_rows`) and a column
that may be absent in older runs frames (:func:`column`).
"""

from __future__ import annotations

import pandas as pd

from shared import catalogue

BASELINE = "VAE"
ALPHA = 0.05
RECONSTRUCTION_METRICS: tuple[str, ...] = ("ssim", "mse", "psnr", "mae")
INTERPOLATION_METRICS: tuple[str, ...] = ("piq", "iss", "issim")
#: Beyond the study (schema v2, docs/PROTOCOL.md#10-beyond-the-study): interpolation metrics free
#: of the path's scale (``shared.metrics.SCALE_FREE_METRICS``; path_excess NaN where undefined),
#: the distribution metrics of each sampler's images (eval sets ``distribution_<set>``) and what
#: the mean codes know about the digit (eval set ``codes``).
SCALE_FREE_METRICS: tuple[str, ...] = ("endpoint_distance", "path_excess", "step_cv")
DISTRIBUTION_METRICS: tuple[str, ...] = ("fd", "precision", "recall")
CODES_METRICS: tuple[str, ...] = ("probe_accuracy", "kmeans_accuracy")

REGISTRY_MODELS: tuple[str, ...] = catalogue.MODEL_NAMES  # the study's 22 (shared.catalogue)

#: Whether a higher value of the metric is better (used for ranks and recommendations).
HIGHER_IS_BETTER: dict[str, bool] = {
    "ssim": True,
    "psnr": True,
    "issim": True,
    "sharpness": True,
    "mse": False,
    "mae": False,
    "piq": False,
    "iss": False,
    # beyond the study; endpoint_distance is a scale, neither better nor worse: no entry
    "path_excess": False,
    "step_cv": False,
    "fd": False,
    "precision": True,
    "recall": True,
    "probe_accuracy": True,
    "kmeans_accuracy": True,
}

#: Display names of the metrics.
METRIC_LABELS: dict[str, str] = {
    "ssim": "SSIM",
    "mse": "MSE",
    "psnr": "PSNR",
    "mae": "MAE",
    "sharpness": "sharpness",
    "piq": "PIQ",
    "iss": "ISS",
    "issim": "I-SSIM",
    "endpoint_distance": "endpoint distance",
    "path_excess": "path excess",
    "step_cv": "step CV",
    "fd": "FD (MNIST-classifier features)",
    "precision": "precision",
    "recall": "recall",
    "probe_accuracy": "linear-probe accuracy",
    "kmeans_accuracy": "k-means accuracy",
}


def ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep successful runs only: failed runs are excluded from every table (docs/PROTOCOL.md#7-tables-figures-and-statistics)."""
    if "status" in frame.columns:
        frame = frame[frame["status"] == "ok"]
    return frame


def column(frame: pd.DataFrame, name: str) -> pd.Series:
    """``frame[name]``, or an empty (all-None) column where the frame lacks it (older results)."""
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)
