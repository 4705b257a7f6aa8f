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
