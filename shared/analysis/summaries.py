"""Summaries over seeds (and items), model means, and the 95% intervals of a model mean."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from shared.analysis.common import ok_rows


def _wide_stats(grouped: pd.core.groupby.SeriesGroupBy, metrics: Sequence[str]) -> pd.DataFrame:
    """Pivot (model, metric) mean/std/n into one row per model with ``{metric}_{stat}`` columns."""
    agg = grouped.agg(mean="mean", std=lambda v: v.std(ddof=1), n="count").reset_index()
    out = pd.DataFrame({"model": sorted(agg["model"].unique())})
    for metric in metrics:
        part = agg[agg["metric"] == metric].set_index("model")
        for stat in ("mean", "std", "n"):
            out[f"{metric}_{stat}"] = out["model"].map(part[stat]).to_numpy()
        out[f"{metric}_n"] = out[f"{metric}_n"].fillna(0).astype(int)
    return out


def summarise(frame: pd.DataFrame, eval_set: str, metrics: Sequence[str]) -> pd.DataFrame:
    """Mean, std (ddof=1, NaN for one seed) and number of seeds per model, from run means.

    This is the study's "mean ± std over seeds": the spread of the per-run aggregated means.
    Returns one row per model (sorted by name) with columns ``{metric}_mean``, ``{metric}_std``
    and ``{metric}_n`` for each metric.
    """
    rows = ok_rows(frame)
    rows = rows[(rows["eval_set"] == eval_set) & rows["metric"].isin(metrics)].dropna(subset=["value"])
    return _wide_stats(rows.groupby(["model", "metric"])["value"], metrics)


def summarise_items(per_item: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Mean and std pooled over items and seeds (the study's Table II "over sequences and seeds").

    ``{metric}_n`` counts item x seed values; ``n_seeds`` and ``n_items`` say how they were made.
    """
    rows = per_item[per_item["metric"].isin(metrics)].dropna(subset=["value"])
    out = _wide_stats(rows.groupby(["model", "metric"])["value"], metrics)
    by_model = rows.groupby("model")
    out["n_seeds"] = out["model"].map(by_model["seed"].nunique()).to_numpy()
    out["n_items"] = out["model"].map(by_model["item"].nunique()).to_numpy()
    return out


def model_means(
    frame: pd.DataFrame,
    recon_set: str = "protocol_sampled",
    interp_set: str = "interpolation",
) -> pd.DataFrame:
    """One row per model, one column per metric (mean over seeds), plus ``n_seeds``.

    The model-level view used for correlations across models, ranks, Pareto and Table III.
    """
    rows = ok_rows(frame)
    rows = rows[rows["eval_set"].isin([recon_set, interp_set])].dropna(subset=["value"])
    wide = rows.pivot_table(index="model", columns="metric", values="value", aggfunc="mean")
    wide.columns.name = None
    wide["n_seeds"] = rows.groupby("model")["seed"].nunique()
    return wide.reset_index().sort_values("model", ignore_index=True)


def summary_long(summary: pd.DataFrame) -> pd.DataFrame:
    """Turn a wide summary (``{metric}_mean/_std/_n``) into rows of model, metric, mean, std, n."""
    metrics = [c[: -len("_mean")] for c in summary.columns if c.endswith("_mean")]
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "model": summary["model"],
                    "metric": m,
                    "mean": summary[f"{m}_mean"],
                    "std": summary[f"{m}_std"],
                    "n": summary[f"{m}_n"],
                }
            )
            for m in metrics
        ],
        ignore_index=True,
    )


# --------------------------------------------------------------------------- intervals


def _halfwidth(std: float | np.ndarray, n: int | np.ndarray, critical: Callable) -> np.ndarray:
    """critical(n)·SD/√n where n >= 2, else NaN."""
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n >= 2, critical(n) * np.asarray(std, dtype=float) / np.sqrt(n), np.nan)


def ci_halfwidth_normal(std: float | np.ndarray, n: int | np.ndarray) -> np.ndarray:
    """The study's 95% half-width 1.96·SD/√n (too narrow for n = 3; kept for comparison)."""
    return _halfwidth(std, n, lambda n: 1.96)


def ci_halfwidth_t(std: float | np.ndarray, n: int | np.ndarray) -> np.ndarray:
    """The correct small-sample 95% half-width t_{0.975, n-1}·SD/√n (NaN when n < 2)."""
    return _halfwidth(std, n, lambda n: stats.t.ppf(0.975, np.where(n >= 2, n - 1, np.nan)))


def confidence_intervals(summary: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Long table of mean, std, n and both 95% intervals (study's 1.96 and t-based) per model."""
    rows = []
    for metric in metrics:
        mean, std, n = (summary[f"{metric}_{s}"].to_numpy() for s in ("mean", "std", "n"))
        z, t = ci_halfwidth_normal(std, n), ci_halfwidth_t(std, n)
        rows.append(
            pd.DataFrame(
                {
                    "model": summary["model"],
                    "metric": metric,
                    "mean": mean,
                    "std": std,
                    "n": n,
                    "ci95_study_low": mean - z,
                    "ci95_study_high": mean + z,
                    "ci95_t_low": mean - t,
                    "ci95_t_high": mean + t,
                }
            )
        )
    return pd.concat(rows, ignore_index=True).sort_values(["metric", "model"], ignore_index=True)


def value_in_interval(value, mean, half, n) -> np.ndarray:
    """Whether ``value`` (the study's) lies in mean ± half, row by row: "yes" / "no", or
    "n/a (n < 2)" with fewer than two seeds (missing n counts as 0) and "n/a (no comparable study
    value)" where ``value`` is missing. Array-likes of one length."""
    value, mean, half = (np.asarray(v, dtype=float) for v in (value, mean, half))
    n = np.nan_to_num(np.asarray(n, dtype=float))
    inside = (value >= mean - half) & (value <= mean + half)
    return np.select(
        [n < 2, np.isnan(value), inside],
        ["n/a (n < 2)", "n/a (no comparable study value)", "yes"],
        "no",
    )
