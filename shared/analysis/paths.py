"""The extra interpolation paths some models store (SVAE's chord, VQ-VAE's re-quantised frames)
beside each model's main path; Tables I and II use the main path only."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from shared import catalogue
from shared.analysis.common import INTERPOLATION_METRICS, ok_rows
from shared.results import INTERPOLATION_PATH_SETS

MAIN_INTERPOLATION_SET = "interpolation"
EXTRA_PATH_PREFIX = "interpolation_"  # eval set of an extra path: "interpolation_<path>"

DEFAULT_MAIN_PATH_LABEL = catalogue.PATH_LABELS["line"]
#: Paths in words (shared.catalogue), for the main path and the extra paths.
PATH_NAME_LABELS: dict[str, str] = catalogue.PATH_LABELS
EXTRA_PATH_LABELS: dict[str, str] = {p: catalogue.PATH_LABELS[p] for p in INTERPOLATION_PATH_SETS}
INTERPOLATION_PATHS_COLUMNS: list[str] = [
    "model", "path", "extra_path", "main_path", "n_seeds",
    *(f"{m}_{s}" for m in INTERPOLATION_METRICS for s in ("main", "extra", "difference")),
]  # fmt: skip


def main_path_label(model: str, frame: pd.DataFrame | None = None) -> str:
    """The main path of ``model`` in words: from the frame's ``interpolation_path`` column when
    present, else the catalogue's path of the model, else the straight line."""
    if frame is not None and "interpolation_path" in frame.columns:
        stored = frame.loc[frame["model"] == model, "interpolation_path"].dropna()
        if len(stored):
            name = str(sorted(set(stored))[0])
            return PATH_NAME_LABELS.get(name, name)
    entry = catalogue.CATALOGUE.get(model)
    return PATH_NAME_LABELS[entry.interpolation] if entry else DEFAULT_MAIN_PATH_LABEL


def _path_means(seeds: pd.DataFrame, extra_set: str) -> dict[str, float | int]:
    """Means over the seeds that have both paths, per metric, and their difference."""
    out: dict[str, float | int] = {}
    both = seeds.xs(MAIN_INTERPOLATION_SET, axis=1, level=0).notna().any(axis=1)
    both &= seeds.xs(extra_set, axis=1, level=0).notna().any(axis=1)
    out["n_seeds"] = int(both.sum())
    for metric in INTERPOLATION_METRICS:
        main = seeds.get((MAIN_INTERPOLATION_SET, metric), pd.Series(np.nan, index=seeds.index))
        extra = seeds.get((extra_set, metric), pd.Series(np.nan, index=seeds.index))
        pair = pd.DataFrame({"main": main, "extra": extra})[both].dropna()
        m, e = (pair[c].mean() if len(pair) else math.nan for c in ("main", "extra"))
        out.update({f"{metric}_main": m, f"{metric}_extra": e, f"{metric}_difference": e - m})
    return out


def interpolation_paths_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model with an extra interpolation path, and per path: PIQ, ISS and I-SSIM on the main
    path (the one Tables I/II use) and on the extra path, mean over seeds, and extra − main.

    Tells the reader how much the path choice matters (SVAE: the study's chord leaves the sphere;
    VQ-VAE: re-quantised frames are what the model can really emit) without touching Table II.
    Only seeds that have both paths count (paired), so the difference is over the same trainings.
    Sorted by (model, path); an empty frame with the same columns when no model has extra paths.
    """
    rows_in = ok_rows(frame)
    interp = rows_in[rows_in["eval_set"].str.startswith(MAIN_INTERPOLATION_SET)]
    interp = interp[interp["metric"].isin(INTERPOLATION_METRICS)].dropna(subset=["value"])
    extra_sets = sorted(s for s in interp["eval_set"].unique() if s.startswith(EXTRA_PATH_PREFIX))
    if not extra_sets or MAIN_INTERPOLATION_SET not in set(interp["eval_set"]):
        return pd.DataFrame(columns=INTERPOLATION_PATHS_COLUMNS)
    wide = interp.pivot_table(index=["model", "seed"], columns=["eval_set", "metric"], values="value")
    rows = []
    for model in sorted(interp["model"].unique()):
        seeds = wide.loc[model]
        for extra_set in extra_sets:
            if extra_set not in seeds.columns.get_level_values(0) or seeds[extra_set].isna().all().all():
                continue  # this model does not have that path
            path = extra_set[len(EXTRA_PATH_PREFIX) :]
            rows.append({
                "model": model, "path": path, "extra_path": EXTRA_PATH_LABELS.get(path, path),
                "main_path": main_path_label(model, frame), **_path_means(seeds, extra_set),
            })  # fmt: skip
    return pd.DataFrame(rows, columns=INTERPOLATION_PATHS_COLUMNS)
