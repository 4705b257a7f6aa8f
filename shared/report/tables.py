"""The report's tables, one :func:`~shared.report.steps.step` each, in the order they are built:
runs, Tables I and II, the extra paths, statistics, Table III, the study, the Pareto table.

Statistics are :mod:`shared.analysis`; a step selects the data, and writes the caption.
"""

from __future__ import annotations

import warnings

import pandas as pd

from shared import analysis as A
from shared.report.core import FULL, INTERP, PROTOCOL, Report, caption, collapse_caption, n_items
from shared.report.steps import BASELINE, MEANS, METRICS, RUNS, Built, Skip, no_metrics, step

WHAT_TABLE_I = {"protocol": "the study's 100-image protocol", "full": "the full test split"}
EVAL_SET_OF = {"protocol": PROTOCOL, "full": FULL}
PATHS_CAPTION = (
    "Tables I–II and every other table use each model's main path (main_path: the straight line "
    "between mean codes, the great circle for SVAE, the Poincaré geodesic for PoincareVAE); the "
    "extra paths are shown here only: chord = the study's literal straight line (off SVAE's unit "
    "sphere), requantised = the straight line with each frame's code re-quantised (the frames a "
    "VQ-VAE can emit; its main path decodes the line as is); mean over the seeds that have both "
    "paths, difference = extra − main"
)
SIGNIFICANCE_CAPTION = f"α = {A.ALPHA}, Bonferroni over the models compared"
NEEDS_TWO_SEEDS = "not built: every model has only 1 seed, and {what} needs ≥ 2 seeds"

# --------------------------------------------------------------------------- run tables


@step("run_summary", "Run summary (per model and seed)", "table", needs=RUNS)
def run_table(rep: Report) -> Built:
    """Per model and seed: status, epochs, best / early-stop epoch, time, device, profile, data."""
    r = rep.runs
    frame = pd.DataFrame(
        {
            "model": r["model"],
            "seed": r["seed"],
            "status": r["status"],
            "epochs_run": r["epochs_run"],
            "best_epoch": r["best_epoch"],
            "early_stop_epoch": r["epochs_run"].where(r["early_stopped"]),
            "wall_minutes": (r["wall_seconds"] / 60).round(1),
            "device": r["device"],
            "profile": r["profile"],
            "data": r["data"],
            "n_train": r["n_train"],
            "deviations": r["deviations"],
            "failure_epoch": r["failure_epoch"],
            "failure_reason": r["failure_reason"],
        }
    ).sort_values(["model", "seed"], ignore_index=True)
    return Built(caption(rep, ok_only=False), frame)


@step("run_summary_by_model", "Run summary (per model)", "table", needs=RUNS)
def run_table_by_model(rep: Report) -> Built:
    """One row per model (shared.analysis.run_summary): seeds ok, epochs, time, failures."""
    return Built(caption(rep, ok_only=False), A.run_summary(rep.runs))


@step("failed_runs", "Failed runs (excluded from the tables)", "table", needs=RUNS)
def failures(rep: Report) -> Built:
    """The failed runs and why (they are excluded from every other table)."""
    frame = A.failed_runs(rep.runs)
    return Built(caption(rep, ok_only=False), frame, note="" if len(frame) else "no run failed")


def _status(run: dict | None) -> str:
    if run is None:
        return "missing"
    if run["status"] != "ok":
        return "failed"
    return "ok" if run["metrics"] is not None else "not evaluated"


@step("coverage", "Coverage: which model and seed results exist", "table", needs=RUNS)
def coverage(rep: Report) -> Built:
    """Model x seed grid: ok / failed / not evaluated / missing, for every expected model."""
    models = rep.expected_models + sorted(set(rep.results) - set(rep.expected_models))
    rows = []
    for model in models:
        runs = rep.results.get(model, {}).get("runs", {})
        rows.append({"model": model, **{f"seed {s}": _status(runs.get(s)) for s in rep.expected_seeds}})
    return Built(caption(rep, ok_only=False), pd.DataFrame(rows))


# --------------------------------------------------------------------------- Tables I and II


def summary_table(rep: Report, eval_set: str) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The summary of ``eval_set`` and its display table: Table I for a reconstruction set (mean
    ± std over seeds), Table II for the interpolation (pooled over sequences and seeds); None
    when no run has that evaluation."""
    if eval_set == INTERP:
        summary = A.summarise_items(rep.per_item(INTERP), A.INTERPOLATION_METRICS)
        return None if summary.empty else (summary, A.table_interpolation(summary, rep.collapsed))
    summary = A.summarise(rep.metrics, eval_set, A.RECONSTRUCTION_METRICS)
    return None if summary.empty else (summary, A.table_reconstruction(summary, rep.collapsed))


def _flag_caption(rep: Report, table: pd.DataFrame) -> str:
    """ " · collapsed models flagged (figures unchanged): ...": the rule behind the column."""
    return " · " + collapse_caption(rep, table["model"], "flagged, figures unchanged")


BOLD_CAPTION = (
    "bold: the best value of each column among the models that did not collapse "
    "(↑ higher is better, ↓ lower is better)"
)


STUDY_BOLD_CAPTION = (
    "bold: the best of our values and the best of the study's, per metric, among the models that "
    "did not collapse (↑ higher is better, ↓ lower is better)"
)


def spread_caption(summary: pd.DataFrame, pooled_over: str) -> str:
    """ "mean ± std over n = 3 seeds" / "over 25 sequences × 3 seeds" (n said once, here), "mean
    over n = 1 seed (no std)", or, where rows rest on different numbers, the n column's name."""
    said = A.n_statement(summary, item="sequence")
    if said == "n = 1 seed":
        return "mean over n = 1 seed (no std from one run)"
    if said:
        return f"mean ± std over {said}"
    column = "n (items × seeds)" if "n_items" in summary.columns else "n (seeds)"
    return f"mean ± std over {pooled_over} (the numbers differ between rows: column {column})"


def _flagged_summary_table(rep: Report, eval_set: str, pooled_over: str) -> Built | Skip:
    """Table I or II with the model flags, its caption and the numbers behind it."""
    made = summary_table(rep, eval_set)
    if made is None:
        return Skip(f"no run has the {eval_set} evaluation")
    summary, table = made
    table = A.add_model_flags(table, rep.flags)
    values = summary.set_index("model").loc[table["model"]].reset_index()  # in the table's order
    cap = (
        f"{caption(rep, eval_set)} · {n_items(rep, eval_set)} per run; {spread_caption(values, pooled_over)}"
    )
    cap += f" · {BOLD_CAPTION}"
    return Built(cap + _flag_caption(rep, table), table, view=A.display_view(table), values=values)


@step(
    "table_i_reconstruction_{which}",
    lambda which: f"Table I: reconstruction on {WHAT_TABLE_I[which]}",
    "table",
    needs=METRICS,
    calls=({"which": "protocol"}, {"which": "full"}),
)
def table_i(rep: Report, which: str = "protocol") -> Built | Skip:
    """Table I (SSIM, MSE ×10³, PSNR, MAE; mean ± std over seeds of run means; ranked by SSIM).

    ``which`` = "protocol" (the study's 100 fixed test images) or "full" (the whole test split);
    both with x̂ = Decoder(z), z ~ q(z|x), the study's protocol.
    """
    return _flagged_summary_table(rep, EVAL_SET_OF[which], "seeds")


@step("table_ii_interpolation", "Table II: interpolation quality", "table", needs=METRICS)
def table_ii(rep: Report) -> Built | Skip:
    """Table II (PIQ ×10³, ISS, I-SSIM; mean ± std pooled over sequences and seeds; by PIQ)."""
    return _flagged_summary_table(rep, INTERP, "sequences and seeds")


@step("interpolation_paths", "Interpolation along the extra paths vs the main path", "table", needs=METRICS)
def interpolation_paths(rep: Report) -> Built | Skip:
    """PIQ / ISS / I-SSIM on the main path beside each extra path (SVAE chord, VQ-VAE requantised)."""
    frame = A.interpolation_paths_table(rep.metrics)
    if frame.empty:
        return Skip("no model has an extra interpolation path")
    table = A.add_model_flags(frame, rep.flags, setting=False)
    extra_sets = sorted(s for s in set(rep.metrics["eval_set"]) if s.startswith(A.EXTRA_PATH_PREFIX))
    cap = f"{caption(rep, extra_sets)} · {PATHS_CAPTION}"
    return Built(cap + _flag_caption(rep, table), table)


# --------------------------------------------------------------------------- statistics


def _significance_view(frame: pd.DataFrame) -> pd.DataFrame:
    """Model x metric grid of "Δ = …, p_B = … (yes/no)" for the notebook."""
    cells = [
        f"Δ={d:+.3g}, p_B={pb:.2g} ({s})" if not pd.isna(pb) else f"Δ={d:+.3g} ({s})"
        for d, pb, s in zip(frame["mean_difference"], frame["p_bonferroni"], frame["significant"])
    ]
    grid = frame.assign(cell=cells).pivot(index="model", columns="metric", values="cell")
    order = [m for m in A.RECONSTRUCTION_METRICS + A.INTERPOLATION_METRICS if m in grid.columns]
    labels = {m: f"{A.METRIC_LABELS[m]} {A.arrow(m)}" for m in order}
    return grid[order].rename(columns=labels).rename_axis(columns=None)  # model is the index


@step("significance_vs_vae_seeds", "Significance vs VAE, paired by seed", "table", needs=BASELINE)
def significance_seeds(rep: Report) -> Built | Skip:
    """Paired t-tests vs VAE over seeds (n = common seeds), Bonferroni over the models tested."""
    frame = pd.concat(
        [
            A.significance_across_seeds(rep.metrics, PROTOCOL, A.RECONSTRUCTION_METRICS),
            A.significance_across_seeds(rep.metrics, INTERP, A.INTERPOLATION_METRICS),
        ],
        ignore_index=True,
    )
    if frame.empty:
        return Skip("no model besides the baseline")
    if not (frame["n"] >= 2).any():
        return Skip(NEEDS_TWO_SEEDS.format(what="a paired test over seeds"))
    cap = f"{caption(rep, PROTOCOL)} · {SIGNIFICANCE_CAPTION}"
    return Built(cap, frame, view=_significance_view(frame))


@step(
    "significance_vs_vae_items",
    "Significance vs VAE, paired by test image / sequence",
    "table",
    needs=BASELINE,
)
def significance_items(rep: Report) -> Built | Skip:
    """Paired t-tests vs VAE over test images / interpolation sequences (n = items)."""
    parts = [
        A.significance_per_item(rep.per_item(PROTOCOL), A.RECONSTRUCTION_METRICS).assign(eval_set=PROTOCOL),
        A.significance_per_item(rep.per_item(INTERP), A.INTERPOLATION_METRICS, item_name="sequence").assign(
            eval_set=INTERP
        ),
    ]
    frame = pd.concat([p for p in parts if "model" in p.columns], ignore_index=True)
    if frame.empty:
        return Skip("no model besides the baseline")
    cap = f"{caption(rep, PROTOCOL)} · {SIGNIFICANCE_CAPTION}"
    return Built(cap, frame, view=_significance_view(frame))


@step(
    "confidence_intervals",
    "95% confidence intervals of the model means (over seeds)",
    "table",
    needs=METRICS,
)
def confidence_intervals(rep: Report) -> Built | Skip:
    """95% intervals of each model mean over seeds: the study's 1.96·SD/√n and the t-based one."""
    parts = []
    for eval_set, metrics in ((PROTOCOL, A.RECONSTRUCTION_METRICS), (INTERP, A.INTERPOLATION_METRICS)):
        summary = A.summarise(rep.metrics, eval_set, metrics)
        if not summary.empty:
            parts.append(A.confidence_intervals(summary, metrics).assign(eval_set=eval_set))
    if not parts:
        return Skip(f"no run has the {PROTOCOL} or {INTERP} evaluation")
    frame = pd.concat(parts, ignore_index=True)
    if not (frame["n"] >= 2).any():
        return Skip(NEEDS_TWO_SEEDS.format(what="a confidence interval over seeds"))
    return Built(caption(rep, PROTOCOL), frame, view=A.display_view(frame, "model"))


@step("metric_correlations", "Correlations between metrics across models (Pearson)", "table", needs=METRICS)
def correlations(rep: Report) -> Built:
    """Pearson r (two-sided p) across model means for the study's metric pairs, beside its values."""
    note = "" if len(rep.means) >= 3 else "fewer than 3 models: r is undefined"
    cap = f"{caption(rep, PROTOCOL)} · one point per model (mean over seeds)"
    cap += " · " + collapse_caption(rep, rep.means["model"], "included in r")
    return Built(cap, A.metric_correlations(rep.means), note=note)


@step(
    "table_iii_applications",
    "Table III: recommendations by application (derived from the ranks)",
    "table",
    needs=METRICS,
)
def table_iii(rep: Report) -> Built:
    """Table III: application -> recommended / avoid, by the rules in its "rule" column."""
    left_out = [m for m in rep.collapsed if m in set(rep.means["model"])]
    ranked = len(rep.means) - len(left_out)
    note = "" if ranked >= 2 else "fewer than 2 models to rank: nothing to recommend or avoid"
    cap = f"{caption(rep, PROTOCOL)} · " + collapse_caption(
        rep, rep.means["model"], "left out of every ranking (neither recommended nor avoided)"
    )
    return Built(cap, A.table_iii(rep.means, excluded=left_out), note=note)


# --------------------------------------------------------------------------- the study


@step("reproduction_vs_study", "Reproduction vs study, model by model", "table", needs=METRICS)
def study_comparison(rep: Report) -> Built:
    """Our mean ± std beside the study's value, difference, inside our 95% t-interval, flags."""
    frame = A.compare_with_study(rep.metrics, PROTOCOL)
    n = frame["ours_n"].fillna(0).to_numpy(float)
    half = A.ci_halfwidth_normal(frame["ours_std"].to_numpy(float), n)
    study_ci = A.value_in_interval(frame["study_value"], frame["ours_mean"], half, n)
    frame["ours_n"] = frame["ours_n"].astype("Int64")
    frame.insert(frame.columns.get_loc("study_in_our_t_ci") + 1, "study_in_our_1.96_ci", study_ci)
    frame = A.add_model_flags(frame, rep.flags)
    view = frame[frame["metric"].isin(["ssim", "piq"])][
        ["model", A.COLLAPSED_COLUMN, A.SETTING_COLUMN, "metric", "ours_mean", "ours_std", "ours_n",
         "study_printed", "difference", "study_in_our_t_ci", "study_row_identical_to"]
    ].reset_index(drop=True)  # fmt: skip
    view["metric"] = [f"{A.METRIC_LABELS[m]} {A.arrow(m)}" for m in view["metric"]]
    cap = f"{caption(rep, PROTOCOL)} · study values from shared/reference_data (ISS: no unit conversion)"
    measured = view["ours_n"].dropna().unique()
    if len(measured) == 1:  # n once, in the caption; the view drops the column (and a std of one seed)
        n = int(measured[0])
        cap += f" · ours: {'mean over n = 1 seed' if n == 1 else f'mean ± std over n = {n} seeds'}"
        view = view.drop(columns=["ours_n"] + (["ours_std"] if n == 1 else []))
    cap += " · " + collapse_caption(rep, rep.means["model"], "flagged, figures unchanged")
    paper = A.add_model_flags(A.table_study_comparison(frame, unbolded=rep.collapsed), rep.flags)
    cap += f" · {STUDY_BOLD_CAPTION}"
    return Built(cap, frame, view=view, paper=paper)


@step("rank_agreement_with_study", "Rank agreement with the study (Spearman)", "table", needs=METRICS)
def rank_agreement(rep: Report) -> Built:
    """Spearman ρ between our model means and the study's, for SSIM, PIQ (and the rest)."""
    metrics = ("ssim", "piq", "mse", "psnr", "mae", "iss", "issim")
    with warnings.catch_warnings():  # a constant column gives rho = nan, said in the note
        warnings.simplefilter("ignore")
        frame = A.rank_agreement(rep.means, metrics)
    undefined = frame.loc[frame["spearman_rho"].isna(), "metric"].tolist()
    note = f"ρ undefined (fewer than 3 common models or a constant column) for: {', '.join(undefined)}"
    return Built(caption(rep, PROTOCOL), frame, note=note if undefined else "")


@step("identical_rows", "Different models with identical figures (study and ours)", "table", needs=RUNS)
def identical_rows(rep: Report) -> Built:
    """Groups of different models with identical figures: in the study's tables and in ours."""
    t1, t2 = A.load_study_tables()
    parts = [
        A.identical_study_rows(t1).assign(table="study Table I"),
        A.identical_study_rows(t2).assign(table="study Table II"),
    ]
    if rep.has_metrics:
        for eval_set, label in ((PROTOCOL, "our Table I"), (INTERP, "our Table II")):
            if (made := summary_table(rep, eval_set)) is not None:
                table = made[1]
                cols = [c for c in table.columns if c not in ("rank", "n (seeds)", "n (items × seeds)")]
                parts.append(A.identical_study_rows(table[cols]).assign(table=f"{label} (printed figures)"))
    frame = pd.concat(parts, ignore_index=True)[["table", "group", "n_models", "models"]]
    ours = frame["table"].str.startswith("our")
    note = "" if rep.has_metrics else "our side not computed: " + no_metrics(rep)
    if rep.has_metrics and not ours.any():
        note = "none of our models share identical figures"
    return Built(caption(rep, PROTOCOL) if rep.has_metrics else "study tables only", frame, note=note)


# --------------------------------------------------------------------------- Pareto


def frontier_statement(rep: Report) -> str:
    """What the frontier leaves out and by which rule (Fig 6 and its table)."""
    return collapse_caption(rep, rep.means["model"], "kept off the frontier (ranks unchanged)")


@step(
    "pareto_regimes",
    "Pareto frontier (SSIM ↑, PIQ ↓), combined rank and regimes",
    "table",
    needs=MEANS,
)
def pareto_regimes(rep: Report) -> Built:
    """Ranks, Pareto flag, tilt and regime per model (the data of Figs 4 and 6)."""
    frame = A.add_model_flags(A.assign_regimes(rep.means, rep.collapsed), rep.flags, setting=False)
    cap = f"{caption(rep, PROTOCOL)} · regimes: {A.REGIME_RULE} · {frontier_statement(rep)}"
    return Built(cap, frame)
