"""Tables beyond the study (docs/PROTOCOL.md#10-beyond-the-study, results schema v2): generation
quality of each sampler (Table IV), what the mean codes know about the digit (Table V), the
scale-free smoothness of the interpolations, and the per-model input of the duality test
(:mod:`shared.analysis.duality`).

Same conventions as Tables I and II (:mod:`.tables`): mean ± std, headers with units and ↑/↓,
the best value of each column bold (never a collapsed model), ties by model name. Every number
comes from the stored run means (metrics frame) or per-item values (per-item frame); results
written before these metrics existed simply have no rows here.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd

from shared.analysis.common import (
    DISTRIBUTION_METRICS,
    INTERPOLATION_METRICS,
    SCALE_FREE_METRICS,
    ok_rows,
)
from shared.analysis.summaries import summarise, summarise_items
from shared.analysis.tables import metric_table

#: The image sets of ``metrics.generation.sets`` (eval sets ``distribution_<set>``): the two
#: samplers, and the test images' reconstructions as a reference for what the decoder can reach.
GENERATION_SETS: tuple[str, ...] = ("prior", "gmm", "reconstruction_mean", "reconstruction_sampled")
DISTRIBUTION_PREFIX = "distribution_"
CODES_SET = "codes"
SAMPLER_LABELS: dict[str, str] = {
    "prior": "prior",
    "gmm": "GMM",
    "reconstruction_mean": "mean-code reconstructions",
    "reconstruction_sampled": "sampled reconstructions",
}
#: FD is the Fréchet distance in the features of the project's MNIST classifier: never "FID".
FD_LABEL = "FD (MNIST-classifier features)"

#: Table IV: key -> (header, scale, digits, notation); keys are ``<set>_<metric>``.
TABLE_IV_COLUMNS: dict[str, tuple[str, float, int, str]] = {
    "prior_fd": (f"prior: {FD_LABEL}", 1.0, 2, "fixed"),
    "prior_precision": ("prior: precision", 1.0, 3, "fixed"),
    "prior_recall": ("prior: recall", 1.0, 3, "fixed"),
    "gmm_fd": (f"GMM: {FD_LABEL}", 1.0, 2, "fixed"),
    "gmm_precision": ("GMM: precision", 1.0, 3, "fixed"),
    "gmm_recall": ("GMM: recall", 1.0, 3, "fixed"),
    "reconstruction_mean_fd": (f"mean-code reconstructions: {FD_LABEL}", 1.0, 2, "fixed"),
}
TABLE_IV_DIRECTIONS: dict[str, bool] = {
    key: key.endswith(("precision", "recall")) for key in TABLE_IV_COLUMNS
}  # FD: lower is better
TABLE_V_COLUMNS: dict[str, tuple[str, float, int, str]] = {
    "probe_accuracy": ("linear-probe accuracy", 1.0, 3, "fixed"),
    "kmeans_accuracy": ("k-means accuracy", 1.0, 3, "fixed"),
}
SCALE_FREE_TABLE_METRICS: tuple[str, ...] = ("piq", "iss", *SCALE_FREE_METRICS)
SCALE_FREE_COLUMNS: dict[str, tuple[str, float, int, str]] = {
    "piq": ("PIQ (×10³)", 1e3, 3, "fixed"),
    "iss": ("ISS (×10⁷)", 1e7, 2, "fixed"),
    "endpoint_distance": ("endpoint distance (×10³)", 1e3, 2, "fixed"),
    "path_excess": ("path excess (× straight morph)", 1.0, 2, "fixed"),
    "step_cv": ("step CV", 1.0, 3, "fixed"),
}
#: endpoint distance is the path's scale, not a quality: no arrow, never bold
SCALE_FREE_DIRECTIONS: dict[str, bool | None] = {"endpoint_distance": None}
UNDEFINED_COLUMN = "path excess undefined (sequences)"
#: The duality test's input (``shared.analysis.duality.duality_table``).
DUALITY_INPUT_COLUMNS = [
    "model",
    "ssim",
    "piq",
    "iss",
    "path_excess",
    "step_cv",
    "endpoint_distance",
    "collapsed",
]


# --------------------------------------------------------------------------- Table IV


def generation_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model, mean / std (ddof 1) / n over seeds of FD, precision and recall of every set:
    columns ``<set>_<metric>_mean|_std|_n`` (n = 0 and NaN where a model has no such set, e.g.
    no prior sampler); no rows when no run has generation metrics."""
    parts = []
    for name in GENERATION_SETS:
        summary = summarise(frame, f"{DISTRIBUTION_PREFIX}{name}", DISTRIBUTION_METRICS)
        parts.append(summary.set_index("model").add_prefix(f"{name}_"))
    out = pd.concat(parts, axis=1).sort_index()
    for column in (c for c in out.columns if c.endswith("_n")):
        out[column] = out[column].fillna(0).astype(int)
    return out.rename_axis("model").reset_index()


def table_generation(
    summary: pd.DataFrame, prior_labels: dict[str, str], unbolded: Collection[str] = ()
) -> pd.DataFrame:
    """Table IV: FD ↓, precision ↑, recall ↑ of the prior sampler and the GMM sampler, and FD of
    the mean-code reconstructions (the reference), ranked by the GMM's FD (models without it
    last); column ``prior`` says what the prior sampler draws from (``prior_labels``)."""
    table = metric_table(summary, TABLE_IV_COLUMNS, "gmm_fd", unbolded, TABLE_IV_DIRECTIONS)
    table.insert(2, "prior", table["model"].map(prior_labels).fillna("n/a"))
    return table


# --------------------------------------------------------------------------- Table V


def codes_summary(frame: pd.DataFrame, kmeans: pd.DataFrame) -> pd.DataFrame:
    """Per model: linear-probe accuracy, mean / std / n over seeds (metrics frame, eval set
    ``codes``); k-means accuracy, mean / std (ddof 1) / n over every restart of every seed
    (``kmeans``: columns model, seed, restart, value, the stored per-restart accuracies), with
    ``kmeans_restarts`` (per run; "3–5" where runs differ) and ``kmeans_seeds``."""
    probe = summarise(frame, CODES_SET, ("probe_accuracy",)).set_index("model")
    values = kmeans.dropna(subset=["value"])
    grouped = values.groupby("model")
    pooled = pd.DataFrame(
        {
            "kmeans_accuracy_mean": grouped["value"].mean(),
            "kmeans_accuracy_std": grouped["value"].std(ddof=1),
            "kmeans_accuracy_n": grouped["value"].count(),
            "kmeans_seeds": grouped["seed"].nunique(),
            "kmeans_restarts": values.groupby(["model", "seed"])["restart"]
            .nunique()
            .groupby("model")
            .agg(_span),
        }
    )
    out = probe.join(pooled, how="outer").sort_index()
    for column in ("probe_accuracy_n", "kmeans_accuracy_n", "kmeans_seeds"):
        out[column] = out[column].fillna(0).astype(int)
    return out.rename_axis("model").reset_index()


def _span(values: pd.Series) -> str:
    lo, hi = int(values.min()), int(values.max())
    return str(lo) if lo == hi else f"{lo}–{hi}"


def table_codes(summary: pd.DataFrame, unbolded: Collection[str] = ()) -> pd.DataFrame:
    """Table V: linear-probe accuracy ↑ (over seeds) and k-means accuracy ↑ (over restarts and
    seeds), ranked by the probe; n is said by the caption (:func:`codes_n_statement`), or in
    columns where models differ."""
    table = metric_table(summary, TABLE_V_COLUMNS, "probe_accuracy", unbolded)
    table = table.drop(columns=[c for c in ("n (seeds)",) if c in table.columns])
    if not codes_n_statement(summary):
        ordered = summary.set_index("model").loc[table["model"]]
        table["n (seeds)"] = ordered["probe_accuracy_n"].to_numpy()
        table["k-means n (restarts × seeds)"] = [
            f"{r} × {s}" for r, s in zip(ordered["kmeans_restarts"], ordered["kmeans_seeds"])
        ]
    return table


def codes_n_statement(summary: pd.DataFrame) -> str:
    """ "linear probe: n = 3 seeds; k-means: 5 restarts × 3 seeds" when every model rests on the
    same numbers, else ""."""
    probe = set(summary.loc[summary["probe_accuracy_n"] > 0, "probe_accuracy_n"])
    has_kmeans = summary["kmeans_seeds"] > 0
    kmeans = set(zip(summary.loc[has_kmeans, "kmeans_restarts"], summary.loc[has_kmeans, "kmeans_seeds"]))
    if len(probe) > 1 or len(kmeans) > 1 or (not probe and not kmeans):
        return ""
    parts = []
    if probe:
        n = int(next(iter(probe)))
        parts.append(f"linear probe: n = {n} seed{'' if n == 1 else 's'}")
    if kmeans:
        restarts, seeds = next(iter(kmeans))
        parts.append(f"k-means: {restarts} restarts × {int(seeds)} seed{'' if seeds == 1 else 's'}")
    return "; ".join(parts)


# --------------------------------------------------------------------------- scale-free smoothness


def scale_free_summary(per_item: pd.DataFrame) -> pd.DataFrame:
    """Per model, mean ± std pooled over sequences and seeds (as Table II) of PIQ, ISS, endpoint
    distance, path excess and step CV, plus ``path_excess_undefined`` (sequence × seed values
    that are NaN: end frames identical; left out of the mean) and ``path_excess_total``.

    Only models with at least one scale-free value (older runs have none); no rows if none has.
    """
    has = per_item[per_item["metric"].isin(SCALE_FREE_METRICS)].dropna(subset=["value"])["model"].unique()
    rows = per_item[per_item["model"].isin(has)]
    summary = summarise_items(rows, SCALE_FREE_TABLE_METRICS)
    excess = rows[rows["metric"] == "path_excess"]
    undefined = excess["value"].isna().groupby(excess["model"]).sum()
    summary["path_excess_undefined"] = summary["model"].map(undefined).fillna(0).astype(int).to_numpy()
    summary["path_excess_total"] = summary["model"].map(excess.groupby("model").size()).fillna(0).astype(int)
    return summary


def table_scale_free(summary: pd.DataFrame, unbolded: Collection[str] = ()) -> pd.DataFrame:
    """PIQ ↓, ISS ↓ (the study's, raw), endpoint distance (the scale: no arrow, never bold), path
    excess ↓ and step CV ↓ (scale-free), ranked by path excess (models where it is undefined for
    every sequence last); a column of undefined path-excess sequences where any is."""
    table = metric_table(summary, SCALE_FREE_COLUMNS, "path_excess", unbolded, SCALE_FREE_DIRECTIONS)
    if summary["path_excess_undefined"].sum() > 0:
        ordered = summary.set_index("model").loc[table["model"]]
        table[UNDEFINED_COLUMN] = [
            f"{int(u)} of {int(t)}"
            for u, t in zip(ordered["path_excess_undefined"], ordered["path_excess_total"])
        ]
    return table


def undefined_statement(summary: pd.DataFrame) -> str:
    """The caption's sentence on undefined path excess: which models, how many sequences."""
    hit = summary[summary["path_excess_undefined"] > 0]
    if hit.empty:
        return "path excess defined for every sequence"
    each = ", ".join(
        f"{m} {int(u)} of {int(t)}"
        for m, u, t in zip(hit["model"], hit["path_excess_undefined"], hit["path_excess_total"])
    )
    return (
        f"path excess undefined (end frames identical) and left out of its mean for: {each} "
        "sequence × seed values"
    )


# --------------------------------------------------------------------------- the duality test


def duality_input(means: pd.DataFrame, flags: pd.DataFrame) -> pd.DataFrame:
    """One row per model with ``model_means`` (protocol reconstruction SSIM, interpolation PIQ,
    ISS and the scale-free metrics; NaN where absent) and the boolean collapse verdict (any ok
    seed collapsed): the input of ``shared.analysis.duality.duality_table``."""
    metrics = ["ssim", *INTERPOLATION_METRICS[:2], "path_excess", "step_cv", "endpoint_distance"]
    out = means.reindex(columns=["model", *metrics]).copy()
    collapsed = flags.set_index("model")["collapsed"].astype(bool) if len(flags) else pd.Series(dtype=bool)
    out["collapsed"] = out["model"].map(collapsed).fillna(False).astype(bool)
    return out[DUALITY_INPUT_COLUMNS].reset_index(drop=True)


def has_values(frame: pd.DataFrame, eval_sets: Collection[str], metrics: Collection[str]) -> bool:
    """Whether an ok run has a finite value of one of ``metrics`` in one of ``eval_sets``."""
    rows = ok_rows(frame)
    rows = rows[rows["eval_set"].isin(list(eval_sets)) & rows["metric"].isin(list(metrics))]
    return bool(np.isfinite(rows["value"].to_numpy(float)).any())


# --------------------------------------------------------------------------- one run (training notebook)


def headline_lines(metrics: dict) -> list[str]:
    """The new numbers of one run's ``metrics`` (schema v2), one readable line each: FD per
    sampler, the linear probe, k-means; nothing for a block the run does not have."""
    lines = []
    generation = metrics.get("generation")
    if generation is not None:
        sets, notes = generation.get("sets", {}), generation.get("notes", {})
        parts = []
        for name in ("prior", "gmm", "reconstruction_mean"):
            label = SAMPLER_LABELS[name]
            if name == "prior":
                label += f" ({generation.get('prior_label', generation.get('prior'))})"
            if name in sets:
                parts.append(f"{label} {sets[name]['fd']:.2f}")
            elif name in notes:
                parts.append(f"{SAMPLER_LABELS[name]}: no samples ({notes[name]})")
        lines.append(f"{FD_LABEL}, lower = closer to the test digits: " + " · ".join(parts))
    codes = metrics.get("codes")
    if codes is not None:
        lines.append(
            f"linear probe (digit from the mean code, train → test codes): accuracy {codes['probe_accuracy']:.3f}"
        )
        restarts = len(codes["kmeans_accuracy"])
        spread = f" ± {codes['kmeans_std']:.3f}" if np.isfinite(codes["kmeans_std"]) else ""
        lines.append(
            f"k-means on the test codes (10 clusters, Hungarian-matched to digits): accuracy "
            f"{codes['kmeans_mean']:.3f}{spread} over {restarts} restart{'' if restarts == 1 else 's'}"
        )
    return lines


def sample_title(model: str, sampler: str, generation: dict | None, n: int) -> str:
    """One-line title of one run's sample grid: which model, how many digits, from what."""
    if sampler == "prior" and generation is not None:
        source = f"the prior: {generation.get('prior_label', generation.get('prior'))}"
    else:
        source = "a Gaussian mixture on its training codes" if sampler == "gmm" else sampler
    return f"{model}: {n} digits from {source}"
