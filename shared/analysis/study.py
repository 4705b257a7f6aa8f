"""The reproduction against the study: its printed tables, its identical rows, our values beside
its values (difference, our 95% interval) and the rank agreement."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from shared import catalogue
from shared.analysis.common import INTERPOLATION_METRICS, RECONSTRUCTION_METRICS
from shared.analysis.summaries import ci_halfwidth_t, summarise, summary_long, value_in_interval

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference_data"
STUDY_TABLE_I = "paper_table1_reconstruction.csv"
STUDY_TABLE_II = "paper_table2_interpolation.csv"

#: The study's model names (as in its CSV tables) -> this project's registry names.
STUDY_NAME_TO_REGISTRY: dict[str, str] = catalogue.STUDY_NAME_TO_REGISTRY
#: Architectural families as the study groups them, by registry name.
STUDY_FAMILIES: dict[str, str] = catalogue.STUDY_FAMILIES

#: Study column -> (our metric, factor that turns the printed value into plain units or None).
STUDY_COLUMNS: dict[str, tuple[str, float | None]] = {
    "ssim_mean": ("ssim", 1.0),
    "mse_x1e3_mean": ("mse", 1e-3),
    "psnr_db_mean": ("psnr", 1.0),
    "mae": ("mae", 1.0),
    "piq_x1e3_mean": ("piq", 1e-3),
    "iss_x10_mean": ("iss", None),  # the study's "x10" label contradicts its text: no conversion
    "issim_mean": ("issim", 1.0),
}
COMPARISON_COLUMNS = [
    "model", "metric", "ours_mean", "ours_std", "ours_n", "study_column", "study_printed",
    "study_value", "difference", "t_ci_low", "t_ci_high", "study_in_our_t_ci", "study_row_identical_to",
]  # fmt: skip


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
    Works on the study's tables (named by ``registry_model``) and on ours (``model``).
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
    out["study_in_our_t_ci"] = value_in_interval(out["study_value"], out["mean"], half, out["n"])
    flags = study_identity_flags(t1, t2).set_index("model")
    out["study_row_identical_to"] = [
        flags[_flag_column(metric)].get(model, "")
        for model, metric in zip(out["model"], out["metric"], strict=True)
    ]
    out = out.rename(columns={"mean": "ours_mean", "std": "ours_std", "n": "ours_n"})
    order = {m: i for i, m in enumerate(RECONSTRUCTION_METRICS + INTERPOLATION_METRICS)}
    out = out.assign(_o=out["metric"].map(order)).sort_values(["_o", "model"], ignore_index=True)
    return out[COMPARISON_COLUMNS]


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
