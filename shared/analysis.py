"""Statistics and tables of the benchmark, computed from the tidy frames of ``shared.results``.

Everything here is pure pandas / numpy / scipy and deterministic: ties are always broken by model
name, so the same results give the same tables byte for byte. The frames it expects:

- metrics frame: one row per model x seed x eval_set x metric, columns
  ``[model, seed, status, profile, data_source, eval_set, metric, value]`` (value = the run's mean);
- per-item frame: columns ``[model, seed, item, metric, value]`` for one eval_set (item = test image
  or interpolation sequence, the same items for every model);
- runs frame: one row per model x seed with status, failure reason, epochs and timing, and (newer
  files) the posterior-collapse verdict ``collapsed`` and the ``setting_differs`` text.

"Model means" (see :func:`model_means`) are one row per model with one column per metric, the mean
over seeds; most model-level analyses (correlations, Pareto, ranks, Table III) start from it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from shared import catalogue
from shared.collapse import COLLAPSE_RULE
from shared.results import INTERPOLATION_PATH_SETS

BASELINE = "VAE"
ALPHA = 0.05
RECONSTRUCTION_METRICS: tuple[str, ...] = ("ssim", "mse", "psnr", "mae")
INTERPOLATION_METRICS: tuple[str, ...] = ("piq", "iss", "issim")
REFERENCE_DIR = Path(__file__).resolve().parent / "reference_data"
STUDY_TABLE_I = "paper_table1_reconstruction.csv"
STUDY_TABLE_II = "paper_table2_interpolation.csv"

REGISTRY_MODELS: tuple[str, ...] = catalogue.MODEL_NAMES  # the study's 22 (shared.catalogue)
#: The study's model names (as in its CSV tables) -> this project's registry names.
STUDY_NAME_TO_REGISTRY: dict[str, str] = catalogue.STUDY_NAME_TO_REGISTRY
#: Architectural families as the study groups them, by registry name.
STUDY_FAMILIES: dict[str, str] = catalogue.STUDY_FAMILIES

#: Metric correlations the study reports: (x, y, study r, study two-sided p as printed or None).
STUDY_CORRELATIONS: tuple[tuple[str, str, float, str | None], ...] = (
    ("ssim", "piq", 0.769, "< 0.001"),
    ("ssim", "mse", 0.94, None),
    ("psnr", "ssim", 0.91, None),
    ("mae", "mse", 0.99, None),
    ("iss", "piq", 0.61, None),
    ("issim", "piq", 0.38, "0.08"),
)

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

#: Study column -> (our metric, factor that turns the printed value into plain units or None).
STUDY_COLUMNS: dict[str, tuple[str, float | None]] = {
    "ssim_mean": ("ssim", 1.0),
    "mse_x1e3_mean": ("mse", 1e-3),
    "psnr_db_mean": ("psnr", 1.0),
    "mae": ("mae", 1.0),
    "piq_x1e3_mean": ("piq", 1e-3),
    "iss_x10_mean": (
        "iss",
        None,
    ),  # the study's "x10" label contradicts its text: no conversion
    "issim_mean": ("issim", 1.0),
}


# --------------------------------------------------------------------------- summaries


def _ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep successful runs only: failed runs are excluded from every table (docs/PROTOCOL.md#7-tables-figures-and-statistics)."""
    if "status" in frame.columns:
        frame = frame[frame["status"] == "ok"]
    return frame


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
    rows = _ok_rows(frame)
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
    rows = _ok_rows(frame)
    rows = rows[rows["eval_set"].isin([recon_set, interp_set])].dropna(subset=["value"])
    wide = rows.pivot_table(index="model", columns="metric", values="value", aggfunc="mean")
    wide.columns.name = None
    wide["n_seeds"] = rows.groupby("model")["seed"].nunique()
    return wide.reset_index().sort_values("model", ignore_index=True)


def format_mean_std(
    mean: float,
    std: float,
    n: int,
    scale: float = 1.0,
    digits: int = 3,
    notation: str = "fixed",
) -> str:
    """Write "0.912 ± 0.004", or "0.912 (n = 1)" for one value — never a made-up std.

    ``scale`` multiplies both numbers (e.g. 1e3 for "MSE ×10³"); ``notation`` is "fixed" or "sci".
    """
    if n is None or pd.isna(n) or int(n) == 0 or pd.isna(mean):
        return "n/a"
    spec = f".{digits}{'e' if notation == 'sci' else 'f'}"
    text = format(mean * scale, spec)
    if int(n) == 1:
        return f"{text} (n = 1)"
    if pd.isna(std):
        return f"{text} (n = {int(n)})"
    return f"{text} ± {format(std * scale, spec)}"


# --------------------------------------------------------------------------- Tables I and II

#: Display columns of the tables: metric -> (header, scale, digits, notation).
TABLE_I_COLUMNS: dict[str, tuple[str, float, int, str]] = {
    "ssim": ("SSIM", 1.0, 3, "fixed"),
    "mse": ("MSE (×10³)", 1e3, 2, "fixed"),
    "psnr": ("PSNR (dB)", 1.0, 2, "fixed"),
    "mae": ("MAE", 1.0, 3, "fixed"),
}
TABLE_II_COLUMNS: dict[str, tuple[str, float, int, str]] = {
    "piq": ("PIQ (×10³)", 1e3, 3, "fixed"),
    "iss": ("ISS", 1.0, 2, "sci"),
    "issim": ("I-SSIM", 1.0, 3, "fixed"),
}


def _n_label(row: pd.Series, metric: str) -> str:
    """Say what the ± is over: seeds, or items × seeds for pooled summaries."""
    if "n_items" in row.index:
        return f"{int(row['n_items'])} × {int(row['n_seeds'])}"
    return str(int(row[f"{metric}_n"]))


def _display_table(
    summary: pd.DataFrame,
    columns: dict[str, tuple[str, float, int, str]],
    rank_by: str,
) -> pd.DataFrame:
    """Rank models by one metric (direction from HIGHER_IS_BETTER, ties by name) and format."""
    ascending = not HIGHER_IS_BETTER[rank_by]
    ordered = summary.sort_values([f"{rank_by}_mean", "model"], ascending=[ascending, True])
    ordered = ordered[ordered[f"{rank_by}_n"] > 0].reset_index(drop=True)
    pooled = "n_items" in ordered.columns
    table = pd.DataFrame({"rank": np.arange(1, len(ordered) + 1), "model": ordered["model"]})
    for metric, (header, scale, digits, notation) in columns.items():
        table[header] = [
            format_mean_std(
                r[f"{metric}_mean"],
                r[f"{metric}_std"],
                r[f"{metric}_n"],
                scale,
                digits,
                notation,
            )
            for _, r in ordered.iterrows()
        ]
    label = "n (items × seeds)" if pooled else "n (seeds)"
    table[label] = [_n_label(r, rank_by) for _, r in ordered.iterrows()]
    return table


def table_reconstruction(summary: pd.DataFrame) -> pd.DataFrame:
    """Table I from a summary (of :func:`summarise` or :func:`summarise_items`), ranked by SSIM."""
    return _display_table(summary, TABLE_I_COLUMNS, "ssim")


def table_interpolation(summary: pd.DataFrame) -> pd.DataFrame:
    """Table II from a summary (of :func:`summarise` or :func:`summarise_items`), ranked by PIQ."""
    return _display_table(summary, TABLE_II_COLUMNS, "piq")


def table_i(frame: pd.DataFrame, eval_set: str = "protocol_sampled") -> pd.DataFrame:
    """Table I (SSIM, MSE ×10³, PSNR, MAE), mean ± std over seeds, ranked by SSIM (desc)."""
    return table_reconstruction(summarise(frame, eval_set, RECONSTRUCTION_METRICS))


def table_ii(per_item: pd.DataFrame) -> pd.DataFrame:
    """Table II (PIQ ×10³, ISS, I-SSIM) pooled over sequences and seeds, ranked by PIQ (asc).

    ``per_item`` is the per-sequence frame of the "interpolation" eval set.
    """
    return table_interpolation(summarise_items(per_item, INTERPOLATION_METRICS))


# --------------------------------------------------------------------------- extra interpolation paths

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
    rows_in = _ok_rows(frame)
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


# --------------------------------------------------------------------------- intervals and tests


def ci_halfwidth_normal(std: float | np.ndarray, n: int | np.ndarray) -> np.ndarray:
    """The study's 95% half-width 1.96·SD/√n (too narrow for n = 3; kept for comparison)."""
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n >= 2, 1.96 * np.asarray(std, dtype=float) / np.sqrt(n), np.nan)


def ci_halfwidth_t(std: float | np.ndarray, n: int | np.ndarray) -> np.ndarray:
    """The correct small-sample 95% half-width t_{0.975, n-1}·SD/√n (NaN when n < 2)."""
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = stats.t.ppf(0.975, np.where(n >= 2, n - 1, np.nan))
        return np.where(n >= 2, t * np.asarray(std, dtype=float) / np.sqrt(n), np.nan)


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


def bonferroni(p: float | Sequence[float] | np.ndarray, m: int) -> np.ndarray:
    """Bonferroni-adjusted p = min(1, p·m): controls the family-wise error over m comparisons."""
    return np.minimum(1.0, np.asarray(p, dtype=float) * m)


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
    out["p_bonferroni"] = np.minimum(1.0, out["p"] * out["m"])
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
    rows_in = _ok_rows(frame)
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
        ok = means[[x, y]].dropna() if {x, y} <= set(means.columns) else pd.DataFrame()
        r = p = math.nan
        if len(ok) >= 3 and ok[x].nunique() > 1 and ok[y].nunique() > 1:
            r, p = (float(v) for v in stats.pearsonr(ok[x], ok[y]))
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


# --------------------------------------------------------------------------- ranks and Pareto


def combined_rank(means: pd.DataFrame, top: int | None = None) -> pd.DataFrame:
    """Combined rank = mean of the SSIM rank (1 = highest) and the PIQ rank (1 = lowest).

    Tied values share their average rank; the order is combined rank, then model name.
    """
    out = means[["model", "ssim", "piq"]].dropna().copy()
    out["ssim_rank"] = out["ssim"].rank(ascending=False, method="average")
    out["piq_rank"] = out["piq"].rank(ascending=True, method="average")
    out["combined_rank"] = (out["ssim_rank"] + out["piq_rank"]) / 2
    out = out.sort_values(["combined_rank", "model"], ignore_index=True)
    out.insert(0, "position", np.arange(1, len(out) + 1))
    return out if top is None else out.head(top)


def pareto_mask(df: pd.DataFrame, maximize: str = "ssim", minimize: str = "piq") -> np.ndarray:
    """True for non-dominated rows: nobody else is >= on ``maximize`` and <= on ``minimize``
    with at least one strict inequality (exact duplicates do not dominate each other)."""
    hi, lo = df[maximize].to_numpy(float), df[minimize].to_numpy(float)
    geq = (hi[None, :] >= hi[:, None]) & (lo[None, :] <= lo[:, None])
    strict = (hi[None, :] > hi[:, None]) | (lo[None, :] < lo[:, None])
    return ~(geq & strict).any(axis=1)


def pareto_frontier(df: pd.DataFrame, maximize: str = "ssim", minimize: str = "piq") -> pd.DataFrame:
    """The non-dominated models on (``maximize`` ↑, ``minimize`` ↓), sorted along the frontier
    (``maximize`` descending, then ``minimize``, then model name)."""
    data = df.dropna(subset=[maximize, minimize])
    front = data[pareto_mask(data, maximize, minimize)]
    return front.sort_values([maximize, minimize, "model"], ascending=[False, True, True], ignore_index=True)


REGIMES: tuple[str, str, str] = ("reconstruction-first", "balanced", "smoothness-first")
REGIME_RULE = (
    "tilt = (PIQ rank - SSIM rank) / (number of models - 1), ranks 1 = best with ties averaged, "
    "so tilt lies in [-1, 1]; tilt > 1/3: reconstruction-first (much better placed on SSIM than "
    "on PIQ), tilt < -1/3: smoothness-first, otherwise balanced (no strong lean; this says "
    "nothing about being good at both)"
)


def assign_regimes(means: pd.DataFrame, collapsed: Collection[str] = ()) -> pd.DataFrame:
    """Add ranks, the Pareto flag, the tilt and a regime per model by ``REGIME_RULE``.

    The tilt says how much better a model is placed on reconstruction than on smooth
    interpolation relative to the other models; fixed thresholds (not quantiles) keep models
    with identical figures in the same regime and make the rule independent of group sizes.
    Models in ``collapsed`` keep their ranks but are left off the frontier (``pareto_optimal``
    False, ``collapsed`` True): a constant output is trivially smooth, so letting it dominate
    would push working models off the frontier. The frontier is that of the other models.
    """
    out = combined_rank(means)
    out["collapsed"] = out["model"].isin(set(collapsed))
    eligible = ~out["collapsed"].to_numpy()
    front = np.zeros(len(out), dtype=bool)
    front[eligible] = pareto_mask(out[eligible])
    out["pareto_optimal"] = front
    out["tilt"] = (out["piq_rank"] - out["ssim_rank"]) / max(len(out) - 1, 1)
    out["regime"] = np.select(
        [out["tilt"] > 1 / 3, out["tilt"] < -1 / 3], [REGIMES[0], REGIMES[2]], REGIMES[1]
    )
    return out.sort_values(["ssim", "model"], ascending=[False, True], ignore_index=True)


# --------------------------------------------------------------------------- Table III

#: Application -> (metric used, description of the rule). Combined rank uses "combined_rank".
APPLICATIONS: tuple[tuple[str, str], ...] = (
    ("High-fidelity reconstruction", "ssim"),
    ("Pixel-accurate reconstruction (low error)", "mse"),
    ("Smooth latent navigation / animation", "piq"),
    ("Uniform-speed interpolation", "iss"),
    ("Structurally consistent transitions", "issim"),
    ("Balanced / general purpose", "combined_rank"),
)


def _ordered_models(means: pd.DataFrame, metric: str) -> list[str]:
    """Models from best to worst on one metric (or combined rank), ties broken by name."""
    if metric == "combined_rank":
        return combined_rank(means)["model"].tolist()
    data = means[["model", metric]].dropna()
    ordered = data.sort_values([metric, "model"], ascending=[not HIGHER_IS_BETTER[metric], True])
    return ordered["model"].tolist()


def table_iii(
    means: pd.DataFrame,
    k: int = 3,
    excluded: Collection[str] = (),
    excluded_reason: str = "collapsed",
) -> pd.DataFrame:
    """Application -> recommended / avoid, derived from the measured model means.

    Rule per application: recommend the best k models on its criterion and advise against the
    worst k (k shrinks to half the models when fewer than 2k are available); ties by name.
    Models in ``excluded`` (collapsed ones, see ``shared.collapse``) are ranked nowhere, neither
    recommended nor avoided, since their near-zero PIQ is an artefact; the ``left_out`` column
    names them with ``excluded_reason``.
    """
    left_out = sorted(set(excluded) & set(means["model"]))
    means = means[~means["model"].isin(left_out)]
    note = ", ".join(f"{m} ({excluded_reason})" for m in left_out)
    rows = []
    for application, metric in APPLICATIONS:
        if metric != "combined_rank" and metric not in means.columns:
            continue
        ordered = _ordered_models(means, metric)
        kk = min(k, len(ordered) // 2)
        if metric == "combined_rank":
            crit = "combined rank (mean of SSIM rank and PIQ rank), lowest best"
        else:
            best = "highest" if HIGHER_IS_BETTER[metric] else "lowest"
            crit = f"{METRIC_LABELS[metric]} model mean, {best} best"
        rows.append(
            {
                "application": application,
                "criterion": metric,
                "rule": f"recommended = top {kk} by {crit}; avoid = bottom {kk}",
                "recommended": ", ".join(ordered[:kk]),
                "avoid": ", ".join(ordered[::-1][:kk]) if kk else "",
                "left_out": note,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- reproduction vs study


def load_study_tables(
    directory: str | Path = REFERENCE_DIR,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The study's Tables I and II as printed (strings kept exact), plus a ``registry_model``."""
    tables = []
    for name in (STUDY_TABLE_I, STUDY_TABLE_II):
        table = pd.read_csv(Path(directory) / name, dtype=str)
        table.insert(1, "registry_model", table["model"].map(STUDY_NAME_TO_REGISTRY))
        tables.append(table)
    return tables[0], tables[1]


def identical_study_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Groups of different models whose printed figures are identical to every digit.

    Compares the CSV text of every value column, so "0.60" and "0.6" would count as different.
    """
    value_cols = [c for c in table.columns if c not in ("model", "registry_model")]
    key = table[value_cols].astype(str).agg("|".join, axis=1)
    names = table.get("registry_model", table["model"])
    groups = [sorted(names[key == k]) for k in key.unique() if (key == k).sum() > 1]
    groups.sort(key=lambda g: (-len(g), g))
    return pd.DataFrame(
        {
            "group": np.arange(1, len(groups) + 1, dtype=int),
            "n_models": [len(g) for g in groups],
            "models": [", ".join(g) for g in groups],
        }
    )


def study_identity_flags(table_1: pd.DataFrame, table_2: pd.DataFrame) -> pd.DataFrame:
    """Per model (registry name): which other models have an identical row in Table I / II."""

    def partners(table: pd.DataFrame) -> dict[str, str]:
        out: dict[str, str] = {}
        for models in identical_study_rows(table)["models"]:
            group = models.split(", ")
            for model in group:
                out[model] = ", ".join(m for m in group if m != model)
        return out

    p1, p2 = partners(table_1), partners(table_2)
    models = sorted(set(table_1["registry_model"]) | set(table_2["registry_model"]))
    flags = pd.DataFrame({"model": models})
    flags["identical_in_table_i"] = flags["model"].map(p1).fillna("")
    flags["identical_in_table_ii"] = flags["model"].map(p2).fillna("")
    flags["duplicated_figures"] = (flags["identical_in_table_i"] != "") | (
        flags["identical_in_table_ii"] != ""
    )
    return flags


def study_values(table_1: pd.DataFrame, table_2: pd.DataFrame) -> pd.DataFrame:
    """Long frame of the study's means: model, metric, printed value, plain-unit value.

    ISS has no plain-unit value (NaN): the study's "×10" label contradicts its text (docs/PROTOCOL.md#8-where-the-study-is-wrong-or-silent-and-what-we-decided).
    """
    rows = []
    for table in (table_1, table_2):
        for column, (metric, factor) in STUDY_COLUMNS.items():
            if column not in table.columns:
                continue
            printed = table[column].astype(float)
            rows.append(
                pd.DataFrame(
                    {
                        "model": table["registry_model"],
                        "metric": metric,
                        "study_column": column,
                        "study_printed": printed,
                        "study_value": printed * factor if factor is not None else np.nan,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def _flag_column(metric: str) -> str:
    """Which study table a metric comes from, as the column name of the identity flags."""
    return "identical_in_table_i" if metric in RECONSTRUCTION_METRICS else "identical_in_table_ii"


def compare_with_study(
    frame: pd.DataFrame,
    recon_set: str = "protocol_sampled",
    reference_dir: str | Path = REFERENCE_DIR,
) -> pd.DataFrame:
    """Our mean ± std over seeds beside the study's value, model by model and metric by metric.

    Columns: difference (ours − study, plain units), our 95% t-interval, whether the study's
    value lies in it ("n/a (n < 2)" with one seed), and the models whose study rows are identical.
    """
    t1, t2 = load_study_tables(reference_dir)
    study = study_values(t1, t2)
    ours = pd.concat(
        [
            summary_long(summarise(frame, recon_set, RECONSTRUCTION_METRICS)),
            summary_long(summarise(frame, "interpolation", INTERPOLATION_METRICS)),
        ]
    )
    out = ours.merge(study, on=["model", "metric"], how="outer")
    half = ci_halfwidth_t(out["std"].to_numpy(), out["n"].fillna(0).to_numpy())
    out["t_ci_low"], out["t_ci_high"] = out["mean"] - half, out["mean"] + half
    out["difference"] = out["mean"] - out["study_value"]
    inside = (out["study_value"] >= out["t_ci_low"]) & (out["study_value"] <= out["t_ci_high"])
    out["study_in_our_t_ci"] = np.select(
        [out["n"].fillna(0) < 2, out["study_value"].isna(), inside],
        ["n/a (n < 2)", "n/a (no comparable study value)", "yes"],
        "no",
    )
    flags = study_identity_flags(t1, t2).set_index("model")
    out["study_row_identical_to"] = [
        flags[_flag_column(metric)].get(model, "")
        for model, metric in zip(out["model"], out["metric"], strict=True)
    ]
    out = out.rename(columns={"mean": "ours_mean", "std": "ours_std", "n": "ours_n"})
    order = {m: i for i, m in enumerate(RECONSTRUCTION_METRICS + INTERPOLATION_METRICS)}
    out = out.assign(_o=out["metric"].map(order)).sort_values(["_o", "model"], ignore_index=True)
    return out[
        [
            "model",
            "metric",
            "ours_mean",
            "ours_std",
            "ours_n",
            "study_column",
            "study_printed",
            "study_value",
            "difference",
            "t_ci_low",
            "t_ci_high",
            "study_in_our_t_ci",
            "study_row_identical_to",
        ]
    ]


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


def rank_agreement(
    means: pd.DataFrame,
    metrics: Sequence[str] = ("ssim", "piq"),
    reference_dir: str | Path = REFERENCE_DIR,
) -> pd.DataFrame:
    """Spearman rank correlation between our model means and the study's, over common models.

    Ranks ignore units, so ISS can be compared here even though its study scale is unclear.
    """
    study = study_values(*load_study_tables(reference_dir))
    rows = []
    for metric in metrics:
        theirs = study[study["metric"] == metric].set_index("model")["study_printed"]
        ours = means.set_index("model")[metric].dropna() if metric in means else pd.Series()
        common = sorted(set(ours.index) & set(theirs.index))
        rho = p = math.nan
        if len(common) >= 3:
            rho, p = (float(v) for v in stats.spearmanr(ours[common], theirs[common]))
        rows.append({"metric": metric, "n_models": len(common), "spearman_rho": rho, "p": p})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- runs


def _column(frame: pd.DataFrame, *names: str) -> pd.Series:
    """The first of several possible column names that exists (else an empty column)."""
    for name in names:
        if name in frame.columns:
            return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _distinct(values: pd.Series) -> str:
    """Join the distinct non-missing values of a column, sorted, for a one-line summary."""
    return ", ".join(sorted({str(v) for v in values.dropna()}))


def _at_epoch(epoch: object) -> str:
    """ " (epoch 3)" for a known failure epoch, else nothing."""
    return "" if epoch is None or pd.isna(epoch) else f" (epoch {int(epoch)})"


def run_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per model: seeds ok/total, epochs run, early stops, wall time, device, profile,
    data source and the failure reasons — what a reader needs to judge the tables' footing."""
    rows = []
    reason = _column(runs, "failure_reason", "reason", "failure")
    epoch = _column(runs, "failure_epoch")
    for model, grp in runs.groupby("model", sort=True):
        ok = grp["status"] == "ok"
        epochs = _column(grp, "epochs_run").dropna()
        stop = _column(grp, "best_epoch")[_column(grp, "early_stopped").fillna(False).astype(bool)]
        rows.append(
            {
                "model": model,
                "seeds_ok": f"{int(ok.sum())}/{len(grp)}",
                "seeds": ", ".join(str(s) for s in sorted(grp["seed"])),
                "epochs_run": _distinct(epochs.astype(int)) if len(epochs) else "",
                "early_stopped": f"{len(stop)}/{len(grp)}",
                "best_epoch": _distinct(_column(grp, "best_epoch").dropna().astype(int)),
                "wall_minutes_mean": _column(grp, "wall_seconds").astype(float).mean() / 60,
                "device": _distinct(_column(grp, "device")),
                "profile": _distinct(_column(grp, "profile")),
                "data_source": _distinct(_column(grp, "data_source")),
                "n_train": _distinct(_column(grp, "n_train")),
                "failures": "; ".join(
                    f"seed {s}{_at_epoch(e)}: {r}"
                    for s, e, r, o in zip(grp["seed"], epoch[grp.index], reason[grp.index], ok, strict=True)
                    if not o
                ),
            }
        )
    return pd.DataFrame(rows)


def failed_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The failed runs with their reason (excluded from every table, docs/PROTOCOL.md#7-tables-figures-and-statistics)."""
    failed = runs[runs["status"] != "ok"]
    return pd.DataFrame(
        {
            "model": failed["model"],
            "seed": failed["seed"],
            "reason": _column(failed, "failure_reason", "reason", "failure"),
        }
    ).sort_values(["model", "seed"], ignore_index=True)


# --------------------------------------------------------------------------- per-model flags

#: Columns that tables listing models carry beside the numbers (which stay untouched).
COLLAPSED_COLUMN = "collapsed"
SETTING_COLUMN = "setting differs from study"
FLAG_COLUMNS = ["model", "seeds_ok", "seeds_measured", "seeds_collapsed", "collapsed", "label", "setting"]


def _collapse_label(n_ok: int, n_measured: int, n_collapsed: int) -> str:
    """ "yes (2/3 seeds)", "" (all seeds measured, none collapsed) or "n/a" (none measured):
    seeds without a verdict are counted as such, never taken for "not collapsed"."""
    unmeasured = n_ok - n_measured
    if n_collapsed:
        tail = f", {unmeasured} not measured" if unmeasured else ""
        return f"yes ({n_collapsed}/{n_ok} seeds{tail})"
    if n_measured == 0:
        return "n/a"
    return f"no ({n_measured}/{n_ok} seeds measured)" if unmeasured else ""


def _setting_text(values: pd.Series) -> str:
    """The distinct study settings the seeds do not use, "; "-joined ("" = all use the study's,
    "n/a" = not recorded); "(k/n seeds)" when only some seeds differ."""
    known = [v for v in values if isinstance(v, str)]
    differing = [v for v in known if v]
    if differing:
        text = "; ".join(sorted(set(differing)))
        return text if len(differing) == len(values) else f"{text} ({len(differing)}/{len(values)} seeds)"
    return "" if known and len(known) == len(values) else "n/a"


def model_flags(runs: pd.DataFrame) -> pd.DataFrame:
    """Per model, over its ok seeds: how many were judged and found collapsed, the verdict
    (``collapsed``: any seed collapsed), its table label and the ``setting_differs`` text.

    A model is flagged when any ok seed collapsed, since one collapsed seed already makes its
    mean figures a blend of a working and a constant model. Tolerates runs frames without the
    collapse / setting columns (older results): their labels are "n/a".
    """
    ok = _ok_rows(runs)
    verdict, setting = _column(ok, "collapsed"), _column(ok, "setting_differs")
    rows = []
    for model, grp in ok.groupby("model", sort=True):
        measured = verdict[grp.index].dropna().astype(bool)
        n_ok, n_measured, n_collapsed = len(grp), len(measured), int(measured.sum())
        rows.append(
            [model, n_ok, n_measured, n_collapsed, n_collapsed > 0,
             _collapse_label(n_ok, n_measured, n_collapsed), _setting_text(setting[grp.index])]
        )  # fmt: skip
    return pd.DataFrame(rows, columns=FLAG_COLUMNS)


def collapsed_models(runs: pd.DataFrame) -> list[str]:
    """The models with at least one collapsed ok seed, sorted (kept out of rankings/frontier)."""
    flags = model_flags(runs)
    return flags.loc[flags["collapsed"].astype(bool), "model"].tolist()


def add_model_flags(table: pd.DataFrame, flags: pd.DataFrame, setting: bool = True) -> pd.DataFrame:
    """``table`` with the ``collapsed`` label (and, if ``setting``, the "setting differs from
    study" text) of each row's model right after ``model``; models without runs get "n/a".

    An existing ``collapsed`` column (the boolean of :func:`assign_regimes`) is replaced by the
    label in place, so that every saved table says "yes (k/n seeds)" the same way.
    """
    out = table.copy()
    by_model = flags.set_index("model")
    values = {COLLAPSED_COLUMN: by_model["label"]}
    if setting:
        values[SETTING_COLUMN] = by_model["setting"]
    position = out.columns.get_loc("model") + 1
    for column, source in values.items():
        cells = out["model"].map(source).fillna("n/a").astype(str)
        if column in out.columns:
            out[column] = cells
        else:
            out.insert(position, column, cells)
        position = out.columns.get_loc(column) + 1
    return out


def collapse_statement(flags: pd.DataFrame, models: Iterable[str], consequence: str) -> str:
    """One caption sentence: which of ``models`` collapsed and what that means for the figure
    or table (``consequence``), the rule, and which models were not measured at all."""
    models = sorted(set(models))
    known = flags[flags["model"].isin(models) & (flags["seeds_measured"] > 0)]
    if known.empty:
        return "posterior collapse not measured for these runs"
    hit = known.loc[known["collapsed"].astype(bool), "model"].tolist()
    unmeasured = [m for m in models if m not in set(known["model"])]
    text = f"collapsed models {consequence}: {', '.join(hit) if hit else 'none'} ({COLLAPSE_RULE})"
    return text + (f"; collapse not measured for {', '.join(unmeasured)}" if unmeasured else "")


# --------------------------------------------------------------------------- saving tables


def _cell(value: object, digits: int) -> str:
    """Text of one cell: floats with ``digits`` significant figures, NaN/None/pd.NA as empty."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return format(float(value), f".{digits}g")
    return str(value)


def to_markdown(df: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table (own writer: ``tabulate`` is not a dependency)."""

    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(esc(str(c)) for c in df.columns) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = [
        "| " + " | ".join(esc(_cell(v, digits)) for v in row) + " |" for row in df.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body]) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "×": r"$\times$",
    "³": r"$^3$",
    "–": "--",
    "−": "-",
}


def _latex_escape(text: str) -> str:
    """Escape LaTeX specials and spell out the few non-ASCII symbols the tables use."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(df: pd.DataFrame, digits: int = 4) -> str:
    """A booktabs ``tabular`` (own writer, so output does not depend on jinja2 being present)."""
    lines = [
        r"\begin{tabular}{" + "l" * len(df.columns) + "}",
        r"\toprule",
        " & ".join(_latex_escape(str(c)) for c in df.columns) + r" \\",
        r"\midrule",
        *(
            " & ".join(_latex_escape(_cell(v, digits)) for v in row) + r" \\"
            for row in df.itertuples(index=False)
        ),
        r"\bottomrule",
        r"\end{tabular}",
    ]
    return "\n".join(lines) + "\n"


def save_table(df: pd.DataFrame, out_dir: str | Path, name: str, digits: int = 4) -> dict[str, Path]:
    """Write ``name`` as CSV (full precision), Markdown and LaTeX; return the three paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {ext: out / f"{name}.{ext}" for ext in ("csv", "md", "tex")}
    df.to_csv(paths["csv"], index=False)
    paths["md"].write_text(to_markdown(df, digits), encoding="utf-8")
    paths["tex"].write_text(to_latex(df, digits), encoding="utf-8")
    return paths
