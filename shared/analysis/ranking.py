"""Ranks across models: the combined rank, the Pareto frontier, the regimes and Table III."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd

from shared.analysis.common import HIGHER_IS_BETTER, METRIC_LABELS

REGIMES: tuple[str, str, str] = ("reconstruction-first", "balanced", "smoothness-first")
REGIME_RULE = (
    "tilt = (PIQ rank - SSIM rank) / (number of models - 1), ranks 1 = best with ties averaged, "
    "so tilt lies in [-1, 1]; tilt > 1/3: reconstruction-first (much better placed on SSIM than "
    "on PIQ), tilt < -1/3: smoothness-first, otherwise balanced (no strong lean; this says "
    "nothing about being good at both)"
)

#: Application -> metric it is judged on ("combined_rank": the combined rank).
APPLICATIONS: tuple[tuple[str, str], ...] = (
    ("High-fidelity reconstruction", "ssim"),
    ("Pixel-accurate reconstruction (low error)", "mse"),
    ("Smooth latent navigation / animation", "piq"),
    ("Uniform-speed interpolation", "iss"),
    ("Structurally consistent transitions", "issim"),
    ("Balanced / general purpose", "combined_rank"),
)


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
