"""The evaluation report: every table and figure of the study, built from whatever results exist.

The evaluation notebook (``notebooks/evaluation.ipynb``) is a thin shell around this module: it
calls :func:`load_report` once, then one step function per table or figure, and shows each
result with :func:`show`. :func:`build_report` runs the same steps in the same order without a
notebook (tests, benchmarks, scripts)::

    rep = load_report("paper_results", "figures", "tables")      # load, filter, say what's missing
    out = table_i(rep, "protocol")                                 # -> Output (frame, files, caption)
    rep = build_report("paper_results", "figures", "tables")       # everything at once

Every step returns an :class:`Output`: its title, a caption that states the profile, data source
and number of seeds behind it, the frame or figure, the files written and, where something could
not be built, a note saying why. Nothing raises on partial results: a step that lacks what it needs
(no results, no baseline VAE, fewer than three models for a correlation, ...) is skipped with a note.
Statistics and drawing are :mod:`shared.analysis` and :mod:`shared.plotting`; this module only
selects data, names files and writes captions. Tables are written as CSV (full precision), Markdown
and LaTeX; Tables I and II also as ``*_values.csv`` (the numbers behind the "mean ± std" text).
Figures are written as PNG and PDF. Same results in, same table files out, byte for byte.

Models whose posterior collapsed (:mod:`shared.collapse`; any ok seed) are flagged in every table
that lists models (column ``collapsed``), left out of Table III's rankings and kept off the Pareto
frontier, and drawn grey in Figs 4-6; captions state the rule. Tables I, II and the comparison with
the study also say which study setting a model does not use (``setting differs from study``).

Tables I, II and every other table use each model's main interpolation path; the extra paths some
models store (SVAE's chord, VQ-VAE's re-quantised frames) appear only in ``interpolation_paths``.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from threadpoolctl import threadpool_limits

from shared import analysis as A
from shared import plotting as P
from shared import results as R

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS_DIR = PROJECT_ROOT / "paper_results"
DEFAULT_FIGURES_DIR = PROJECT_ROOT / "figures"
DEFAULT_TABLES_DIR = PROJECT_ROOT / "tables"
PROTOCOL, FULL, INTERP = "protocol_sampled", "full_sampled", "interpolation"
N_DIGITS = 8  # Fig 1: digits per row
N_REPRESENTATIVES = 6  # Figs 1 and 3
MAX_TSNE_MODELS = 4
TSNE_POINTS = 1000
HOW_TO_PRODUCE = (
    "Produce results by running the training notebooks `notebooks/[MODEL]_training.ipynb` "
    "(with papermill or Jupyter; see the README), which write `[MODEL]_MNIST.pkl` files into the "
    "results folder, then run this notebook again."
)


# --------------------------------------------------------------------------- containers


@dataclass
class Output:
    """One table or figure: what it is, what it rests on, where it went, and what is missing."""

    name: str
    title: str
    kind: str  # "table" | "figure"
    caption: str = ""
    frame: pd.DataFrame | None = None  # the table as saved (tables), or the data drawn (figures)
    view: pd.DataFrame | None = None  # a compact view the notebook shows instead, if any
    figure: Figure | None = None
    paths: list[Path] = field(default_factory=list)
    note: str = ""  # why it was skipped, or what is incomplete

    @property
    def built(self) -> bool:
        return bool(self.paths)


@dataclass
class Report:
    """Loaded results (filtered to the requested models and seeds) plus everything built from them."""

    results_dir: Path
    figures_dir: Path
    tables_dir: Path
    results: dict[str, dict]  # model -> results file (runs filtered)
    expected_models: list[str]
    expected_seeds: list[int]
    problems: list[str]  # unreadable files and other loading problems
    runs: pd.DataFrame  # shared.results.runs_frame + "data" (a short data label)
    metrics: pd.DataFrame  # shared.results.metrics_frame
    outputs: list[Output] = field(default_factory=list)
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def empty(self) -> bool:
        """True when no run at all was found."""
        return self.runs.empty

    @property
    def has_metrics(self) -> bool:
        """True when at least one successful run has evaluation metrics."""
        return not self.metrics.empty

    @property
    def means(self) -> pd.DataFrame:
        """Model means over seeds (protocol reconstruction + interpolation), one row per model."""
        if "means" not in self._cache:
            self._cache["means"] = A.model_means(self.metrics, PROTOCOL, INTERP)
        return self._cache["means"]

    @property
    def flags(self) -> pd.DataFrame:
        """Per model: collapse verdict over its ok seeds and the study setting it does not use."""
        if "flags" not in self._cache:
            self._cache["flags"] = A.model_flags(self.runs)
        return self._cache["flags"]

    @property
    def collapsed(self) -> list[str]:
        """Models with a collapsed ok seed: flagged everywhere, off the frontier, not ranked."""
        return self.flags.loc[self.flags["collapsed"].astype(bool), "model"].tolist()

    def per_item(self, eval_set: str) -> pd.DataFrame:
        """Per-image / per-sequence values of one eval set (cached)."""
        key = ("per_item", eval_set)
        if key not in self._cache:
            self._cache[key] = R.per_item_frame(self.results, eval_set)
        return self._cache[key]

    def first_run(self, model: str, need: str = "samples") -> tuple[int, dict] | None:
        """The lowest seed of ``model`` with status ok and a non-empty ``need`` block."""
        for seed in sorted(self.results.get(model, {}).get("runs", {})):
            run = self.results[model]["runs"][seed]
            if run["status"] == "ok" and run.get(need):
                return seed, run
        return None


# --------------------------------------------------------------------------- loading


def _as_list(value: str | Iterable | None, cast: Callable = str) -> list | None:
    """None -> None; "A, B" -> ["A", "B"]; [..] -> list (cast element-wise)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in (p.strip() for p in value.split(",")) if v]
        if not value or value == ["all"]:
            return None
    elif isinstance(value, (int, np.integer)):
        value = [value]
    return [cast(v) for v in value]


def _load_files(results_dir: Path) -> tuple[dict[str, dict], list[str]]:
    """Every readable ``*_MNIST.pkl``; unreadable ones become problem messages."""
    if not results_dir.is_dir():
        return {}, []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = R.load_results_dir(results_dir, errors="warn")
    return loaded, [str(w.message) for w in caught if str(w.message).startswith("skipped:")]


def _filter(loaded: dict[str, dict], models: list[str] | None, seeds: list[int] | None) -> dict:
    keep = {}
    for model in sorted(loaded):
        if models is not None and model not in models:
            continue
        data = loaded[model]
        runs = {s: r for s, r in sorted(data["runs"].items()) if seeds is None or s in seeds}
        keep[model] = {**data, "runs": runs}
    return keep


def _data_label(run: dict) -> str:
    """ "full MNIST" or the source of the subset the run used (e.g. the embedded default)."""
    data = run["config"]["data"]
    return "full MNIST" if data["is_full_mnist"] else str(data["source"])


def _runs_with_labels(results: dict[str, dict]) -> pd.DataFrame:
    runs = R.runs_frame(results)
    stored = {(m, s): r for m, d in results.items() for s, r in d["runs"].items()}
    in_order = [stored[(m, int(s))] for m, s in zip(runs["model"], runs["seed"])]
    runs["data"] = [_data_label(r) for r in in_order]
    runs["deviations"] = [_budget_deviations(r) for r in in_order]
    return runs


def _budget_deviations(run: dict) -> str:
    """The run's departures from the study's protocol, "; "-joined (the data source has its own
    column and caption field)."""
    return "; ".join(d for d in run["config"].get("deviations", []) if not d.startswith("data:"))


def _short_deviations(column: pd.Series) -> str:
    """Distinct deviations of the runs, without their "instead of ..." tails, for a caption."""
    items = {d.split(" instead of ")[0] for text in column for d in text.split("; ") if d}
    return "; ".join(sorted(items))


def load_report(
    results_dir: str | os.PathLike | None = None,
    figures_dir: str | os.PathLike | None = None,
    tables_dir: str | os.PathLike | None = None,
    models: str | Iterable[str] | None = None,
    seeds: str | Iterable[int] | None = None,
) -> Report:
    """Load the results folder, keep the requested models and seeds (None = all found).

    Unreadable files are skipped and listed in ``Report.problems``; see :func:`missing` for what
    is absent. The expected models are the requested ones, else the study's 22; the expected seeds
    are the requested ones, else every seed found (plus the study's three if any run used the
    paper profile).
    """
    results_dir = Path(results_dir or DEFAULT_RESULTS_DIR)
    models, seeds = _as_list(models), _as_list(seeds, int)
    loaded, problems = _load_files(results_dir)
    results = _filter(loaded, models, seeds)
    runs = _runs_with_labels(results)
    found_seeds = {int(s) for s in runs["seed"]}
    if "paper" in set(runs["profile"]):
        found_seeds |= {42, 123, 456}
    return Report(
        results_dir=results_dir,
        figures_dir=Path(figures_dir or DEFAULT_FIGURES_DIR),
        tables_dir=Path(tables_dir or DEFAULT_TABLES_DIR),
        results=results,
        expected_models=list(models) if models is not None else list(A.REGISTRY_MODELS),
        expected_seeds=sorted(seeds if seeds is not None else found_seeds),
        problems=problems,
        runs=runs,
        metrics=R.metrics_frame(results),
    )


def missing(rep: Report) -> list[str]:
    """Everything absent or incomplete, one sentence each (empty list = nothing missing)."""
    out = list(rep.problems)
    ok = rep.runs[rep.runs["status"] == "ok"]
    for column, what in (("profile", "profiles"), ("data", "data sources")):
        if ok[column].nunique() > 1:
            mixed = ", ".join(sorted(set(ok[column])))
            out.append(f"the results mix {what} ({mixed}): the tables compare unlike runs")
    found = set(rep.results)
    absent = [m for m in rep.expected_models if m not in found or not rep.results[m]["runs"]]
    if absent:
        out.append(f"no results for {len(absent)} model(s): {', '.join(absent)}")
    for model in sorted(found):
        runs = rep.results[model]["runs"]
        lacking = [s for s in rep.expected_seeds if s not in runs]
        if runs and lacking:
            out.append(f"{model}: seed(s) {', '.join(map(str, lacking))} not run")
        for seed, run in sorted(runs.items()):
            if run["status"] != "ok":
                why = run["failure"]["reason"] if run["failure"] else "no reason recorded"
                out.append(f"{model} seed {seed}: failed ({why}); excluded from the tables")
            elif run["metrics"] is None:
                out.append(f"{model} seed {seed}: trained but not evaluated (no metrics)")
            else:
                sets = set(run["metrics"]["reconstruction"])
                if run["metrics"].get("interpolation") is not None:
                    sets.add(INTERP)
                gaps = [s for s in (PROTOCOL, FULL, INTERP) if s not in sets]
                if gaps:
                    out.append(f"{model} seed {seed}: no {', '.join(gaps)} evaluation")
    return out


# --------------------------------------------------------------------------- captions


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def describe(rows: pd.DataFrame) -> str:
    """ "profile P (not the study's protocol: ...) · data D · n seeds per model (42, 123) · k models"
    for the runs in ``rows`` (columns model, seed, profile, data and, optionally, deviations)."""
    if rows.empty:
        return "no runs"
    data = rows["data"]
    per_model = rows.groupby("model")["seed"].nunique()
    lo, hi = int(per_model.min()), int(per_model.max())
    count = _plural(hi, "seed") if lo == hi else f"{lo}–{hi} seeds"
    seeds = ", ".join(str(s) for s in sorted({int(s) for s in rows["seed"]}))
    deviations = _short_deviations(rows["deviations"]) if "deviations" in rows else ""
    return (
        f"profile {', '.join(sorted(set(rows['profile'])))}"
        + (f" (not the study's protocol: {deviations})" if deviations else "")
        + f" · data: {', '.join(sorted(set(data)))} · "
        f"{count} per model ({seeds}) · {_plural(len(per_model), 'model')}"
    )


def caption(rep: Report, eval_set: str | Iterable[str] | None = None, ok_only: bool = True) -> str:
    """The caption of a table or figure built from ``eval_set`` (one or several; None: all ok
    runs / all runs)."""
    if eval_set is not None:
        sets = [eval_set] if isinstance(eval_set, str) else list(eval_set)
        used = rep.metrics.loc[rep.metrics["eval_set"].isin(sets), ["model", "seed"]].drop_duplicates()
        keys = set(zip(used["model"], used["seed"].astype(int)))
        rows = rep.runs[[(m, int(s)) in keys for m, s in zip(rep.runs["model"], rep.runs["seed"])]]
    else:
        rows = rep.runs[rep.runs["status"] == "ok"] if ok_only else rep.runs
    return describe(rows)


def _n_items(rep: Report, eval_set: str) -> str:
    """ "100 images" / "25 sequences" (or a range when runs differ)."""
    items = rep.per_item(eval_set)
    if items.empty:
        return "no items"
    counts = items.groupby(["model", "seed"])["item"].nunique()
    lo, hi = int(counts.min()), int(counts.max())
    word = "sequence" if eval_set == INTERP else "image"
    return _plural(hi, word) if lo == hi else f"{lo}–{hi} {word}s"


def overview(rep: Report) -> str:
    """Markdown: what was loaded, from where, and what is missing (or how to get results)."""
    if rep.empty:
        return (
            f"**No results found** in `{rep.results_dir}`"
            + (" (the folder does not exist)" if not rep.results_dir.is_dir() else "")
            + ". Nothing can be tabulated or drawn yet.\n\n"
            + HOW_TO_PRODUCE
            + "".join(f"\n- {p}" for p in rep.problems)
        )
    ok = rep.runs[rep.runs["status"] == "ok"]
    lines = [
        f"Results folder `{rep.results_dir}`: {_plural(len(rep.results), 'model')}, "
        f"{_plural(len(rep.runs), 'run')} ({len(ok)} ok, {len(rep.runs) - len(ok)} failed).",
        f"Tables and figures below rest on: {caption(rep)}.",
        f"Tables go to `{rep.tables_dir}`, figures to `{rep.figures_dir}`.",
    ]
    gaps = missing(rep)
    if gaps:
        lines.append("\n**Missing or incomplete** (the tables use what exists):")
        lines += [f"- {g}" for g in gaps]
    else:
        lines.append("\nNothing missing: every expected model and seed is present and evaluated.")
    return "\n".join(lines)


# --------------------------------------------------------------------------- writing


def _skip(rep: Report, name: str, title: str, kind: str, note: str) -> Output:
    """A step that could not be built: recorded with the reason, no files written."""
    out = Output(name=name, title=title, kind=kind, note=note)
    rep.outputs.append(out)
    return out


def _no_metrics(rep: Report) -> str:
    return "no evaluated runs in the results" if rep.empty else "no successful run has metrics"


def _save_table(
    rep: Report,
    name: str,
    title: str,
    frame: pd.DataFrame,
    cap: str,
    view: pd.DataFrame | None = None,
    values: pd.DataFrame | None = None,
    note: str = "",
) -> Output:
    """Write ``frame`` as CSV/Markdown/LaTeX (caption on top of the .md and .tex) and record it."""
    paths = A.save_table(frame, rep.tables_dir, name)
    heading = f"{title}. {cap}."
    md, tex = paths["md"], paths["tex"]
    md.write_text(f"**{heading}**\n\n" + md.read_text(encoding="utf-8"), encoding="utf-8")
    tex.write_text(f"% {heading}\n" + tex.read_text(encoding="utf-8"), encoding="utf-8")
    out_paths = [paths["csv"], md, tex]
    if values is not None:
        values_path = rep.tables_dir / f"{name}_values.csv"
        values.to_csv(values_path, index=False)
        out_paths.append(values_path)
    out = Output(name, title, "table", cap, frame, view, paths=out_paths, note=note)
    rep.outputs.append(out)
    return out


def _save_figure(rep: Report, name: str, title: str, fig: Figure, cap: str, data=None, note="") -> Output:
    paths = P.save_figure(fig, rep.figures_dir, name)
    out = Output(
        name, title, "figure", cap, frame=data, figure=fig, paths=[paths["png"], paths["pdf"]], note=note
    )
    rep.outputs.append(out)
    return out


def show(out: Output) -> None:
    """Display an output in a notebook: title and caption, then the table or the saved PNG."""
    from IPython.display import Image, Markdown, display

    text = f"**{out.title}** — {out.caption}" if out.caption else f"**{out.title}**"
    if out.note:
        text += f"\n\n> {out.note}"
    if not out.built:
        text += "\n\n_(not built)_"
    display(Markdown(text.replace("_", r"\_").replace(r"\_(not built)\_", "_(not built)_")))
    if out.built and out.kind == "table":
        display(out.view if out.view is not None else out.frame)
    elif out.built:
        display(Image(filename=str(out.paths[0])))


# --------------------------------------------------------------------------- run tables


def run_table(rep: Report) -> Output:
    """Per model and seed: status, epochs, best / early-stop epoch, time, device, profile, data."""
    title = "Run summary (per model and seed)"
    if rep.empty:
        return _skip(rep, "run_summary", title, "table", "no runs in the results")
    r = rep.runs
    frame = pd.DataFrame(
        {
            "model": r["model"],
            "seed": r["seed"],
            "status": r["status"],
            "epochs_run": r["epochs_run"],
            "best_epoch": r["best_epoch"],
            "early_stop_epoch": r["epochs_run"].where(r["early_stopped"]),
            "wall_minutes": r["wall_seconds"] / 60,
            "device": r["device"],
            "profile": r["profile"],
            "data": r["data"],
            "n_train": r["n_train"],
            "deviations": r["deviations"],
            "failure_epoch": r["failure_epoch"],
            "failure_reason": r["failure_reason"],
        }
    ).sort_values(["model", "seed"], ignore_index=True)
    return _save_table(rep, "run_summary", title, frame, caption(rep, ok_only=False))


def run_table_by_model(rep: Report) -> Output:
    """One row per model (shared.analysis.run_summary): seeds ok, epochs, time, failures."""
    title = "Run summary (per model)"
    if rep.empty:
        return _skip(rep, "run_summary_by_model", title, "table", "no runs in the results")
    frame = A.run_summary(rep.runs)
    return _save_table(rep, "run_summary_by_model", title, frame, caption(rep, ok_only=False))


def failures(rep: Report) -> Output:
    """The failed runs and why (they are excluded from every other table)."""
    title = "Failed runs (excluded from the tables)"
    if rep.empty:
        return _skip(rep, "failed_runs", title, "table", "no runs in the results")
    frame = A.failed_runs(rep.runs)
    note = "" if len(frame) else "no run failed"
    return _save_table(rep, "failed_runs", title, frame, caption(rep, ok_only=False), note=note)


def coverage(rep: Report) -> Output:
    """Model x seed grid: ok / failed / not evaluated / missing, for every expected model."""
    title = "Coverage: which model and seed results exist"
    if rep.empty:
        return _skip(rep, "coverage", title, "table", "no runs in the results")
    models = rep.expected_models + sorted(set(rep.results) - set(rep.expected_models))
    rows = []
    for model in models:
        runs = rep.results.get(model, {}).get("runs", {})
        row = {"model": model}
        for seed in rep.expected_seeds:
            run = runs.get(seed)
            row[f"seed {seed}"] = (
                "missing"
                if run is None
                else "failed"
                if run["status"] != "ok"
                else "ok"
                if run["metrics"] is not None
                else "not evaluated"
            )
        rows.append(row)
    frame = pd.DataFrame(rows)
    return _save_table(rep, "coverage", title, frame, caption(rep, ok_only=False))


# --------------------------------------------------------------------------- Tables I and II


def _flag_caption(rep: Report, table: pd.DataFrame) -> str:
    """ " · collapsed models flagged (figures unchanged): ...": the rule behind the column."""
    return " · " + A.collapse_statement(rep.flags, table["model"], "flagged, figures unchanged")


def _values(summary: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The numeric summary rows in the display table's (ranked) order."""
    return summary.set_index("model").loc[table["model"]].reset_index()


def table_i(rep: Report, which: str = "protocol") -> Output:
    """Table I (SSIM, MSE ×10³, PSNR, MAE; mean ± std over seeds of run means; ranked by SSIM).

    ``which`` = "protocol" (the study's 100 fixed test images) or "full" (the whole test split);
    both with x̂ = Decoder(z), z ~ q(z|x), the study's protocol.
    """
    eval_set = {"protocol": PROTOCOL, "full": FULL}[which]
    name = f"table_i_reconstruction_{which}"
    what = "the study's 100-image protocol" if which == "protocol" else "the full test split"
    title = f"Table I: reconstruction on {what}"
    if not rep.has_metrics:
        return _skip(rep, name, title, "table", _no_metrics(rep))
    summary = A.summarise(rep.metrics, eval_set, A.RECONSTRUCTION_METRICS)
    if summary.empty:
        return _skip(rep, name, title, "table", f"no run has the {eval_set} evaluation")
    table = A.add_model_flags(A.table_reconstruction(summary), rep.flags)
    cap = f"{caption(rep, eval_set)} · {_n_items(rep, eval_set)} per run; mean ± std over seeds"
    cap += _flag_caption(rep, table)
    return _save_table(rep, name, title, table, cap, values=_values(summary, table))


def table_ii(rep: Report) -> Output:
    """Table II (PIQ ×10³, ISS, I-SSIM; mean ± std pooled over sequences and seeds; by PIQ)."""
    name, title = "table_ii_interpolation", "Table II: interpolation quality"
    if not rep.has_metrics:
        return _skip(rep, name, title, "table", _no_metrics(rep))
    summary = A.summarise_items(rep.per_item(INTERP), A.INTERPOLATION_METRICS)
    if summary.empty:
        return _skip(rep, name, title, "table", "no run has the interpolation evaluation")
    table = A.add_model_flags(A.table_interpolation(summary), rep.flags)
    cap = f"{caption(rep, INTERP)} · {_n_items(rep, INTERP)} per run; mean ± std over sequences and seeds"
    cap += _flag_caption(rep, table)
    return _save_table(rep, name, title, table, cap, values=_values(summary, table))


def interpolation_paths(rep: Report) -> Output:
    """PIQ / ISS / I-SSIM on the main path beside each extra path (SVAE chord, VQ-VAE requantised)."""
    name, title = "interpolation_paths", "Interpolation along the extra paths vs the main path"
    if not rep.has_metrics:
        return _skip(rep, name, title, "table", _no_metrics(rep))
    frame = A.interpolation_paths_table(rep.metrics)
    if frame.empty:
        return _skip(rep, name, title, "table", "no model has an extra interpolation path")
    table = A.add_model_flags(frame, rep.flags, setting=False)
    cap = f"{caption(rep, _extra_path_sets(rep))} · {PATHS_CAPTION}"
    cap += _flag_caption(rep, table)
    return _save_table(rep, name, title, table, cap)


PATHS_CAPTION = (
    "Tables I–II and every other table use each model's main path (main_path: the straight line "
    "between mean codes, the great circle for SVAE, the Poincaré geodesic for PoincareVAE); the "
    "extra paths are shown here only: chord = the study's literal straight line (off SVAE's unit "
    "sphere), requantised = the straight line with each frame's code re-quantised (the frames a "
    "VQ-VAE can emit; its main path decodes the line as is); mean over the seeds that have both "
    "paths, difference = extra − main"
)


def _extra_path_sets(rep: Report) -> list[str]:
    """The eval sets of the extra interpolation paths present in the metrics."""
    return sorted(s for s in set(rep.metrics["eval_set"]) if s.startswith(A.EXTRA_PATH_PREFIX))


# --------------------------------------------------------------------------- statistics


def _baseline_note(rep: Report) -> str | None:
    if A.BASELINE not in set(rep.metrics["model"]):
        return f"the baseline {A.BASELINE} has no successful evaluated run: no test against it"
    return None


def _significance_view(frame: pd.DataFrame) -> pd.DataFrame:
    """Model x metric grid of "Δ = …, p_B = … (yes/no)" for the notebook."""
    cells = [
        f"Δ={d:+.3g}, p_B={pb:.2g} ({s})" if not pd.isna(pb) else f"Δ={d:+.3g} ({s})"
        for d, pb, s in zip(frame["mean_difference"], frame["p_bonferroni"], frame["significant"])
    ]
    grid = frame.assign(cell=cells).pivot(index="model", columns="metric", values="cell")
    order = [m for m in A.RECONSTRUCTION_METRICS + A.INTERPOLATION_METRICS if m in grid.columns]
    return grid[order].rename(columns=A.METRIC_LABELS).reset_index()


def significance_seeds(rep: Report) -> Output:
    """Paired t-tests vs VAE over seeds (n = common seeds), Bonferroni over the models tested."""
    name, title = "significance_vs_vae_seeds", "Significance vs VAE, paired by seed"
    if not rep.has_metrics:
        return _skip(rep, name, title, "table", _no_metrics(rep))
    if note := _baseline_note(rep):
        return _skip(rep, name, title, "table", note)
    frame = pd.concat(
        [
            A.significance_across_seeds(rep.metrics, PROTOCOL, A.RECONSTRUCTION_METRICS),
            A.significance_across_seeds(rep.metrics, INTERP, A.INTERPOLATION_METRICS),
        ],
        ignore_index=True,
    )
    if frame.empty:
        return _skip(rep, name, title, "table", "no model besides the baseline")
    note = "" if (frame["n"] >= 2).any() else "fewer than 2 common seeds: no test possible (n < 2)"
    cap = f"{caption(rep, PROTOCOL)} · α = {A.ALPHA}, Bonferroni over the models compared"
    return _save_table(rep, name, title, frame, cap, view=_significance_view(frame), note=note)


def significance_items(rep: Report) -> Output:
    """Paired t-tests vs VAE over test images / interpolation sequences (n = items)."""
    name, title = "significance_vs_vae_items", "Significance vs VAE, paired by test image / sequence"
    if not rep.has_metrics:
        return _skip(rep, name, title, "table", _no_metrics(rep))
    if note := _baseline_note(rep):
        return _skip(rep, name, title, "table", note)
    parts = [
        A.significance_per_item(rep.per_item(PROTOCOL), A.RECONSTRUCTION_METRICS).assign(eval_set=PROTOCOL),
        A.significance_per_item(rep.per_item(INTERP), A.INTERPOLATION_METRICS, item_name="sequence").assign(
            eval_set=INTERP
        ),
    ]
    frame = pd.concat([p for p in parts if "model" in p.columns], ignore_index=True)
    if frame.empty:
        return _skip(rep, name, title, "table", "no model besides the baseline")
    cap = f"{caption(rep, PROTOCOL)} · α = {A.ALPHA}, Bonferroni over the models compared"
    return _save_table(rep, name, title, frame, cap, view=_significance_view(frame))


def confidence_intervals(rep: Report) -> Output:
    """95% intervals of each model mean over seeds: the study's 1.96·SD/√n and the t-based one."""
    name, title = "confidence_intervals", "95% confidence intervals of the model means (over seeds)"
    if not rep.has_metrics:
        return _skip(rep, name, title, "table", _no_metrics(rep))
    parts = []
    for eval_set, metrics in ((PROTOCOL, A.RECONSTRUCTION_METRICS), (INTERP, A.INTERPOLATION_METRICS)):
        summary = A.summarise(rep.metrics, eval_set, metrics)
        if not summary.empty:
            parts.append(A.confidence_intervals(summary, metrics).assign(eval_set=eval_set))
    frame = pd.concat(parts, ignore_index=True)
    note = "" if (frame["n"] >= 2).any() else "one seed per model: no interval can be computed (n = 1)"
    return _save_table(rep, name, title, frame, caption(rep, PROTOCOL), note=note)


def correlations(rep: Report) -> Output:
    """Pearson r (two-sided p) across model means for the study's metric pairs, beside its values."""
    name, title = "metric_correlations", "Correlations between metrics across models (Pearson)"
    if not rep.has_metrics:
        return _skip(rep, name, title, "table", _no_metrics(rep))
    frame = A.metric_correlations(rep.means)
    note = "" if len(rep.means) >= 3 else "fewer than 3 models: r is undefined"
    cap = f"{caption(rep, PROTOCOL)} · one point per model (mean over seeds)"
    cap += " · " + A.collapse_statement(rep.flags, rep.means["model"], "included in r")
    return _save_table(rep, name, title, frame, cap, note=note)


def table_iii(rep: Report) -> Output:
    """Table III: application -> recommended / avoid, by the rules in its "rule" column."""
    name, title = (
        "table_iii_applications",
        "Table III: recommendations by application (derived from the ranks)",
    )
    if not rep.has_metrics:
        return _skip(rep, name, title, "table", _no_metrics(rep))
    left_out = [m for m in rep.collapsed if m in set(rep.means["model"])]
    frame = A.table_iii(rep.means, excluded=left_out)
    ranked = len(rep.means) - len(left_out)
    note = "" if ranked >= 2 else "fewer than 2 models to rank: nothing to recommend or avoid"
    cap = f"{caption(rep, PROTOCOL)} · " + A.collapse_statement(
        rep.flags, rep.means["model"], "left out of every ranking (neither recommended nor avoided)"
    )
    return _save_table(rep, name, title, frame, cap, note=note)


def pareto_regimes(rep: Report) -> Output:
    """Ranks, Pareto flag, tilt and regime per model (the data of Figs 4 and 6)."""
    name, title = "pareto_regimes", "Pareto frontier (SSIM ↑, PIQ ↓), combined rank and regimes"
    if not rep.has_metrics:
        return _skip(rep, name, title, "table", _no_metrics(rep))
    if rep.means.reindex(columns=["ssim", "piq"]).dropna().empty:
        return _skip(rep, name, title, "table", "no model has both SSIM and PIQ")
    frame = A.add_model_flags(A.assign_regimes(rep.means, rep.collapsed), rep.flags, setting=False)
    cap = f"{caption(rep, PROTOCOL)} · regimes: {A.REGIME_RULE} · {_frontier_statement(rep)}"
    return _save_table(rep, name, title, frame, cap)


def _frontier_statement(rep: Report) -> str:
    """What the frontier leaves out and by which rule (Fig 6 and its table)."""
    return A.collapse_statement(rep.flags, rep.means["model"], "kept off the frontier (ranks unchanged)")


# --------------------------------------------------------------------------- the study


def study_comparison(rep: Report) -> Output:
    """Our mean ± std beside the study's value, difference, inside our 95% t-interval, flags."""
    name, title = "reproduction_vs_study", "Reproduction vs study, model by model"
    if not rep.has_metrics:
        return _skip(rep, name, title, "table", _no_metrics(rep))
    frame = A.compare_with_study(rep.metrics, PROTOCOL)
    frame["ours_n"] = frame["ours_n"].astype("Int64")
    half = A.ci_halfwidth_normal(frame["ours_std"].to_numpy(float), frame["ours_n"].fillna(0).to_numpy(float))
    inside = ((frame["study_value"] - frame["ours_mean"]).abs() <= half).to_numpy()
    study_ci = np.select(
        [frame["ours_n"].fillna(0).to_numpy() < 2, frame["study_value"].isna().to_numpy(), inside],
        ["n/a (n < 2)", "n/a (no comparable study value)", "yes"],
        "no",
    )
    frame.insert(frame.columns.get_loc("study_in_our_t_ci") + 1, "study_in_our_1.96_ci", study_ci)
    frame = A.add_model_flags(frame, rep.flags)
    view = frame[frame["metric"].isin(["ssim", "piq"])][
        ["model", A.COLLAPSED_COLUMN, A.SETTING_COLUMN, "metric", "ours_mean", "ours_std", "ours_n",
         "study_printed", "difference", "study_in_our_t_ci", "study_row_identical_to"]
    ]  # fmt: skip
    cap = f"{caption(rep, PROTOCOL)} · study values from shared/reference_data (ISS: no unit conversion)"
    cap += " · " + A.collapse_statement(rep.flags, rep.means["model"], "flagged, figures unchanged")
    return _save_table(rep, name, title, frame, cap, view=view.reset_index(drop=True))


def rank_agreement(rep: Report) -> Output:
    """Spearman ρ between our model means and the study's, for SSIM, PIQ (and the rest)."""
    name, title = "rank_agreement_with_study", "Rank agreement with the study (Spearman)"
    if not rep.has_metrics:
        return _skip(rep, name, title, "table", _no_metrics(rep))
    metrics = ("ssim", "piq", "mse", "psnr", "mae", "iss", "issim")
    with warnings.catch_warnings():  # a constant column gives rho = nan, said in the note
        warnings.simplefilter("ignore")
        frame = A.rank_agreement(rep.means, metrics)
    undefined = frame.loc[frame["spearman_rho"].isna(), "metric"].tolist()
    note = f"ρ undefined (fewer than 3 common models or a constant column) for: {', '.join(undefined)}"
    note = note if undefined else ""
    return _save_table(rep, name, title, frame, caption(rep, PROTOCOL), note=note)


def identical_rows(rep: Report) -> Output:
    """Groups of different models with identical figures: in the study's tables and in ours."""
    name, title = "identical_rows", "Different models with identical figures (study and ours)"
    if rep.empty:
        return _skip(rep, name, title, "table", "no runs in the results")
    t1, t2 = A.load_study_tables()
    parts = [
        A.identical_study_rows(t1).assign(table="study Table I"),
        A.identical_study_rows(t2).assign(table="study Table II"),
    ]
    if rep.has_metrics:
        for out in (_our_table_i(rep), _our_table_ii(rep)):
            if out is not None:
                label, table = out
                cols = [c for c in table.columns if c not in ("rank", "n (seeds)", "n (items × seeds)")]
                parts.append(A.identical_study_rows(table[cols]).assign(table=label))
    frame = pd.concat(parts, ignore_index=True)[["table", "group", "n_models", "models"]]
    ours = frame["table"].str.startswith("our")
    note = "" if rep.has_metrics else "our side not computed: " + _no_metrics(rep)
    cap = caption(rep, PROTOCOL) if rep.has_metrics else "study tables only"
    if rep.has_metrics and not ours.any():
        note = "none of our models share identical figures"
    return _save_table(rep, name, title, frame, cap, note=note)


def _our_table_i(rep: Report) -> tuple[str, pd.DataFrame] | None:
    summary = A.summarise(rep.metrics, PROTOCOL, A.RECONSTRUCTION_METRICS)
    return None if summary.empty else ("our Table I (printed figures)", A.table_reconstruction(summary))


def _our_table_ii(rep: Report) -> tuple[str, pd.DataFrame] | None:
    summary = A.summarise_items(rep.per_item(INTERP), A.INTERPOLATION_METRICS)
    return None if summary.empty else ("our Table II (printed figures)", A.table_interpolation(summary))


# --------------------------------------------------------------------------- figures


def _need_means(rep: Report, name: str, title: str) -> Output | None:
    if not rep.has_metrics:
        return _skip(rep, name, title, "figure", _no_metrics(rep))
    if rep.means.reindex(columns=["ssim", "piq"]).dropna().empty:
        return _skip(rep, name, title, "figure", "no model has both SSIM and PIQ")
    return None


def representatives(rep: Report, k: int = N_REPRESENTATIVES) -> list[str]:
    """Models for Figs 1 and 3 (best/worst SSIM, VAE, best/worst PIQ, median), with samples."""
    ranked = P.select_representatives(rep.means, max_models=len(rep.means))
    return [m for m in ranked if rep.first_run(m) is not None][:k]


def _seed_note(picked: dict[str, int]) -> str:
    seeds = sorted(set(picked.values()))
    return f"seed {seeds[0]} of each model" if len(seeds) == 1 else "lowest available seed of each model"


def fig1_reconstructions(rep: Report, models: Sequence[str] | None = None) -> Output:
    """Fig 1: 8 test digits and their (sampled, z ~ q) reconstructions by representative models."""
    name, title = "fig1_reconstructions", "Fig 1: original test digits and reconstructions"
    if skip := _need_means(rep, name, title):
        return skip
    models = list(models) if models else representatives(rep)
    runs = {m: rep.first_run(m) for m in models if rep.first_run(m) is not None}
    if not runs:
        return _skip(rep, name, title, "figure", "no run has stored samples")
    originals = next(iter(runs.values()))[1]["samples"]["originals"][:N_DIGITS]
    same = all(np.array_equal(r["samples"]["originals"][:N_DIGITS], originals) for _, r in runs.values())
    ssim = rep.means.set_index("model")["ssim"]
    recs = {f"{m}\nSSIM {ssim.get(m, math.nan):.3f}": r["samples"]["reconstructions_sampled"][:N_DIGITS]
            for m, (_, r) in runs.items()}  # fmt: skip
    cap = (
        f"{caption(rep, PROTOCOL)} · first {N_DIGITS} protocol images, x̂ = Decoder(z), z ~ q(z|x); "
        f"{_seed_note({m: s for m, (s, _) in runs.items()})}; SSIM = model mean"
    )
    fig = P.plot_reconstruction_grid(originals, recs, cap)
    note = (
        ""
        if same
        else "the models' stored originals differ (different test data): top row is the first model's"
    )
    return _save_figure(rep, name, title, fig, cap, pd.DataFrame({"model": list(runs)}), note)


def fig2_ssim_by_family(rep: Report) -> Output:
    """Fig 2: box plot of model-mean SSIM by architectural family (one point per model)."""
    name, title = "fig2_ssim_by_family", "Fig 2: SSIM by architectural family"
    if skip := _need_means(rep, name, title):
        return skip
    families = {m: d["runs"][min(d["runs"])]["config"]["family"] for m, d in rep.results.items() if d["runs"]}
    families = {m: A.STUDY_FAMILIES.get(m, f) for m, f in families.items()}
    cap = f"{caption(rep, PROTOCOL)} · one point per model (mean over seeds)"
    fig = P.plot_ssim_by_family(rep.means, families, cap)
    data = rep.means[["model", "ssim"]].assign(family=lambda d: d["model"].map(families))
    return _save_figure(rep, name, title, fig, cap, data)


def fig3_interpolations(rep: Report, models: Sequence[str] | None = None, sequence: int = 0) -> Output:
    """Fig 3: the 10 decoded frames of one interpolation sequence for representative models."""
    name, title = "fig3_interpolations", "Fig 3: latent interpolation strips"
    if skip := _need_means(rep, name, title):
        return skip
    models = list(models) if models else representatives(rep)
    runs = {m: rep.first_run(m) for m in models if rep.first_run(m) is not None}
    runs = {m: v for m, v in runs.items() if len(v[1]["samples"].get("interpolations", [])) > sequence}
    if not runs:
        return _skip(rep, name, title, "figure", "no run has stored interpolation frames")
    piq = rep.means.set_index("model")["piq"]
    strips = {f"{m}\nPIQ×10³ {piq.get(m, math.nan) * 1e3:.2f}": r["samples"]["interpolations"][sequence]
              for m, (_, r) in runs.items()}  # fmt: skip
    cap = (
        f"{caption(rep, INTERP)} · sequence {sequence + 1} of the fixed pairs, frames from the mean "
        f"codes; {_seed_note({m: s for m, (s, _) in runs.items()})}; PIQ = model mean"
    )
    fig = P.plot_interpolation_strips(strips, cap)
    return _save_figure(rep, name, title, fig, cap, pd.DataFrame({"model": list(runs)}))


def fig4_top_combined(rep: Report, k: int = 10) -> Output:
    """Fig 4: the top-k models by combined rank (mean of SSIM rank and PIQ rank)."""
    name, title = "fig4_top10_combined_rank", f"Fig 4: top {k} by combined rank"
    if skip := _need_means(rep, name, title):
        return skip
    ranked = A.add_model_flags(A.combined_rank(rep.means), rep.flags, setting=False)
    cap = f"{caption(rep, PROTOCOL)} · ranks among {_plural(len(ranked), 'model')}"
    cap += " · " + A.collapse_statement(rep.flags, ranked["model"], "ranked but greyed")
    fig = P.plot_top_combined(ranked, cap, k=k, collapsed=rep.collapsed)
    return _save_figure(rep, name, title, fig, cap, ranked.head(k))


def fig5_ssim_vs_piq(rep: Report) -> Output:
    """Fig 5: SSIM vs PIQ model means with Pearson r and p in the title."""
    name, title = "fig5_ssim_vs_piq", "Fig 5: SSIM vs PIQ"
    if skip := _need_means(rep, name, title):
        return skip
    data = A.add_model_flags(rep.means[["model", "ssim", "piq"]].dropna(), rep.flags, setting=False)
    cap = f"{caption(rep, PROTOCOL)} · one point per model (mean over seeds) · "
    cap += A.collapse_statement(rep.flags, data["model"], "grey hollow markers, included in r")
    note = "" if len(data) >= 3 else "fewer than 3 models: r is undefined (nan)"
    fig = P.plot_ssim_vs_piq(rep.means, cap, collapsed=rep.collapsed)
    return _save_figure(rep, name, title, fig, cap, data, note)


def fig6_pareto(rep: Report) -> Output:
    """Fig 6: Pareto frontier on (SSIM ↑, PIQ ↓) and the three regimes."""
    name, title = "fig6_pareto", "Fig 6: Pareto frontier and regimes"
    if skip := _need_means(rep, name, title):
        return skip
    regimes = A.assign_regimes(rep.means, rep.collapsed)
    n_front = int(regimes["pareto_optimal"].sum())
    cap = f"{caption(rep, PROTOCOL)} · {n_front} Pareto-optimal of {len(regimes)} (study: 7 of 22)"
    cap += f" · {_frontier_statement(rep)}"
    data = A.add_model_flags(regimes, rep.flags, setting=False)
    return _save_figure(rep, name, title, P.plot_pareto(regimes, cap), cap, data)


def tsne_selection(rep: Report, k: int = MAX_TSNE_MODELS) -> list[str]:
    """Up to k models for t-SNE: best and worst SSIM, VAE, best PIQ ... that stored latent codes."""
    ranked = P.select_representatives(rep.means, max_models=len(rep.means))
    has_codes = [m for m in ranked if (r := rep.first_run(m)) and "latent_codes" in r[1]["samples"]]
    return has_codes[:k]


def fig_tsne(rep: Report, models: str | Sequence[str] | None = None) -> Output:
    """t-SNE of the latent codes of up to 1,000 test images, coloured by digit, per model."""
    name, title = "latent_tsne", "t-SNE of latent codes (test images, coloured by digit)"
    if skip := _need_means(rep, name, title):
        return skip
    wanted = _as_list(models) or tsne_selection(rep)
    latents, seeds, absent = {}, {}, []
    for model in wanted[:MAX_TSNE_MODELS]:
        got = rep.first_run(model)
        if got is None or "latent_codes" not in got[1]["samples"]:
            absent.append(model)
            continue
        seeds[model], samples = got[0], got[1]["samples"]
        latents[model] = (samples["latent_codes"], samples["latent_labels"])
    if not latents:
        return _skip(rep, name, title, "figure", "no selected model has stored latent codes")
    n = min(TSNE_POINTS, min(len(c) for c, _ in latents.values()))
    cap = f"{caption(rep, PROTOCOL)} · {n} test images per model, mean codes; {_seed_note(seeds)}"
    note = f"not available: {', '.join(absent)}" if absent else ""
    if len(wanted) > MAX_TSNE_MODELS:
        note = (note + "; " if note else "") + f"only the first {MAX_TSNE_MODELS} requested models are shown"
    import sklearn.manifold  # noqa: F401  (load its OpenMP runtime first, so the limit reaches it)

    with threadpool_limits(1):  # OpenMP threads on a busy 2-core machine make t-SNE many times slower
        fig = P.plot_latent_tsne(
            latents, cap, n_points=TSNE_POINTS, random_state=0, ncols=min(4, len(latents))
        )
    return _save_figure(rep, name, title, fig, cap, pd.DataFrame({"model": list(latents)}), note)


def fig_training_curves(rep: Report) -> Output:
    """Train and validation loss per epoch of every run (failed runs up to their failure)."""
    name, title = "training_curves", "Training curves of all models"
    if rep.empty:
        return _skip(rep, name, title, "figure", "no runs in the results")
    histories = {}
    for model, data in rep.results.items():
        runs = [r["history"] for _, r in sorted(data["runs"].items()) if len(r["history"].get("epoch", []))]
        if runs:
            histories[model] = runs
    if not histories:
        return _skip(rep, name, title, "figure", "no run has a recorded epoch")
    cap = f"{caption(rep, ok_only=False)} · one colour per seed (lowest first); vertical line = best epoch"
    fig = P.plot_training_curves(histories, cap)
    return _save_figure(rep, name, title, fig, cap, pd.DataFrame({"model": list(histories)}))


# --------------------------------------------------------------------------- everything


TABLE_STEPS: tuple[Callable[[Report], Output], ...] = (
    run_table,
    run_table_by_model,
    failures,
    coverage,
    table_i,  # the 100-image protocol
    lambda rep: table_i(rep, "full"),
    table_ii,
    interpolation_paths,
    significance_seeds,
    significance_items,
    confidence_intervals,
    correlations,
    table_iii,
    study_comparison,
    rank_agreement,
    identical_rows,
    pareto_regimes,
)
FIGURE_STEPS: tuple[Callable[[Report], Output], ...] = (
    fig1_reconstructions,
    fig2_ssim_by_family,
    fig3_interpolations,
    fig4_top_combined,
    fig5_ssim_vs_piq,
    fig6_pareto,
    fig_tsne,
    fig_training_curves,
)


def build_report(
    results_dir: str | os.PathLike | None = None,
    figures_dir: str | os.PathLike | None = None,
    tables_dir: str | os.PathLike | None = None,
    models: str | Iterable[str] | None = None,
    seeds: str | Iterable[int] | None = None,
    tsne_models: str | Iterable[str] | None = None,
    figures: bool = True,
) -> Report:
    """Load and build every table (and, unless ``figures=False``, every figure) in the
    notebook's order, without displaying anything; ``Report.outputs`` lists what was built."""
    rep = load_report(results_dir, figures_dir, tables_dir, models, seeds)
    for step in TABLE_STEPS:
        step(rep)
    for step in FIGURE_STEPS if figures else ():
        step(rep, tsne_models) if step is fig_tsne else step(rep)
    return rep


def index(rep: Report) -> pd.DataFrame:
    """What was built and where, and what was skipped and why."""
    return pd.DataFrame(
        {
            "output": [o.name for o in rep.outputs],
            "title": [o.title for o in rep.outputs],
            "files": [", ".join(p.name for p in o.paths) for o in rep.outputs],
            "note": [o.note for o in rep.outputs],
        }
    )
