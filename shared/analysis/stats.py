"""Significance against the baseline (paired t-tests, Bonferroni) and correlations across models."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from shared.analysis.common import ALPHA, BASELINE, METRIC_LABELS, ok_rows

#: Metric correlations the study reports: (x, y, study r, study two-sided p as printed or None).
STUDY_CORRELATIONS: tuple[tuple[str, str, float, str | None], ...] = (
    ("ssim", "piq", 0.769, "< 0.001"),
    ("ssim", "mse", 0.94, None),
    ("psnr", "ssim", 0.91, None),
    ("mae", "mse", 0.99, None),
    ("iss", "piq", 0.61, None),
    ("issim", "piq", 0.38, "0.08"),
)


# --------------------------------------------------------------------------- significance


def bonferroni(p: float | Sequence[float] | np.ndarray, m: int | Sequence[int] | np.ndarray) -> np.ndarray:
    """Bonferroni-adjusted p = min(1, p·m): controls the family-wise error over m comparisons
    (``m`` one number, or one per p)."""
    return np.minimum(1.0, np.asarray(p, dtype=float) * np.asarray(m, dtype=float))


def _paired_test(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Paired t statistic and two-sided p (scipy.stats.ttest_rel); NaN when n < 2."""
    if len(a) < 2:
        return math.nan, math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        res = stats.ttest_rel(a, b)
    return float(res.statistic), float(res.pvalue)


def _finish_significance(rows: list[dict], m: int | None, alpha: float) -> pd.DataFrame:
    """Add Bonferroni columns per metric; m defaults to the number of models actually tested."""
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    tested = out.groupby("metric")["p"].transform(lambda p: int(p.notna().sum()))
    out["m"] = tested if m is None else m
    out["p_bonferroni"] = bonferroni(out["p"], out["m"])
    out["alpha_per_test"] = alpha / out["m"].where(out["m"] > 0)
    out["significant"] = np.where(
        out["p"].isna(),
        np.where(out["n"] < 2, "n/a (n < 2)", "n/a"),
        np.where(out["p_bonferroni"] < alpha, "yes", "no"),
    )
    return out.sort_values(["metric", "model"], ignore_index=True)


def significance_across_seeds(
    frame: pd.DataFrame,
    eval_set: str,
    metrics: Sequence[str],
    baseline: str = BASELINE,
    m: int | None = None,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Paired t-test of each model's run means against the baseline's, paired by seed.

    n = number of seeds both models have (a test needs n >= 2; else "n/a (n < 2)"). Bonferroni
    over m models (default: the models tested for that metric; the study used m = 22).
    """
    rows_in = ok_rows(frame)
    rows_in = rows_in[(rows_in["eval_set"] == eval_set) & rows_in["metric"].isin(metrics)]
    table = rows_in.pivot_table(index=["metric", "seed"], columns="model", values="value")
    rows = []
    for metric in metrics:
        if metric not in table.index.get_level_values(0) or baseline not in table.columns:
            continue
        sub = table.loc[metric]
        for model in sorted(c for c in sub.columns if c != baseline):
            pair = sub[[model, baseline]].dropna()
            t, p = _paired_test(pair[model].to_numpy(), pair[baseline].to_numpy())
            seeds = ", ".join(str(s) for s in sorted(pair.index))
            rows.append(
                {
                    "model": model,
                    "metric": metric,
                    "baseline": baseline,
                    "eval_set": eval_set,
                    "test": "paired t-test (scipy.stats.ttest_rel)",
                    "paired": f"run mean of {model} vs run mean of {baseline}, same seed ({seeds})",
                    "n": len(pair),
                    "mean_model": pair[model].mean(),
                    "mean_baseline": pair[baseline].mean(),
                    "mean_difference": (pair[model] - pair[baseline]).mean(),
                    "t": t,
                    "p": p,
                }
            )
    return _finish_significance(rows, m, alpha)


def significance_per_item(
    per_item: pd.DataFrame,
    metrics: Sequence[str],
    baseline: str = BASELINE,
    m: int | None = None,
    alpha: float = ALPHA,
    item_name: str = "image",
) -> pd.DataFrame:
    """Paired t-test over items: each item's value (averaged over the seeds both models share)
    for the model vs the baseline, paired by item; n = number of items.

    Items are test images (reconstruction) or interpolation sequences (``item_name="sequence"``).
    """
    rows = []
    data = per_item[per_item["metric"].isin(metrics)]
    for metric in metrics:
        sub = data[data["metric"] == metric]
        seeds_of = sub.groupby("model")["seed"].apply(lambda s: set(s.unique()))
        if baseline not in seeds_of.index:
            continue
        for model in sorted(mod for mod in seeds_of.index if mod != baseline):
            common = sorted(seeds_of[model] & seeds_of[baseline])
            sel = sub[sub["seed"].isin(common) & sub["model"].isin([model, baseline])]
            pair = sel.pivot_table(index="item", columns="model", values="value", aggfunc="mean")
            pair = pair.dropna() if len(common) else pair.iloc[0:0]
            a = pair[model].to_numpy() if len(pair) else np.array([])
            b = pair[baseline].to_numpy() if len(pair) else np.array([])
            t, p = _paired_test(a, b)
            rows.append(
                {
                    "model": model,
                    "metric": metric,
                    "baseline": baseline,
                    "test": "paired t-test (scipy.stats.ttest_rel)",
                    "paired": f"per-{item_name} value of {model} vs {baseline}, averaged over "
                    f"common seeds ({', '.join(str(s) for s in common)}), paired by {item_name}",
                    "n": len(a),
                    "n_seeds": len(common),
                    "mean_model": float(np.mean(a)) if len(a) else math.nan,
                    "mean_baseline": float(np.mean(b)) if len(b) else math.nan,
                    "mean_difference": float(np.mean(a - b)) if len(a) else math.nan,
                    "t": t,
                    "p": p,
                }
            )
    return _finish_significance(rows, m, alpha)


# --------------------------------------------------------------------------- correlations


def pearson(x: pd.Series, y: pd.Series) -> tuple[float, float]:
    """Pearson r and two-sided p of paired values (no missing ones); NaN for fewer than three
    pairs or a constant side, where r is undefined."""
    if len(x) >= 3 and x.nunique() > 1 and y.nunique() > 1:
        r, p = stats.pearsonr(x, y)
        return float(r), float(p)
    return math.nan, math.nan


def metric_correlations(
    means: pd.DataFrame,
    pairs: Iterable[tuple[str, str, float, str | None]] = STUDY_CORRELATIONS,
) -> pd.DataFrame:
    """Pearson r and two-sided p across models for the study's metric pairs, beside its values.

    The study prints positive r for SSIM–MSE even though higher SSIM goes with lower MSE, so it
    probably reports |r|; we give the signed r and |r| so both readings can be checked.
    """
    rows = []
    for x, y, study_r, study_p in pairs:
        ok = means[[x, y]].dropna() if {x, y} <= set(means.columns) else pd.DataFrame(columns=[x, y])
        r, p = pearson(ok[x], ok[y])
        rows.append(
            {
                "pair": f"{METRIC_LABELS[x]}–{METRIC_LABELS[y]}",
                "x": x,
                "y": y,
                "n_models": len(ok),
                "r": r,
                "abs_r": abs(r),
                "p": p,
                "study_r": study_r,
                "study_p": study_p if study_p is not None else "not given",
            }
        )
    return pd.DataFrame(rows)
