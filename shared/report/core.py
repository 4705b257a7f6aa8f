"""The loaded report: :class:`Report` (results, runs, metrics and what was built from them), one
:class:`Output` per table or figure, loading with :func:`load_report`, what is :func:`missing`,
and the captions that say which profile, data and seeds a table or figure rests on."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from shared import analysis as A
from shared import results as R
from shared.cli import comma_list
from shared.protocol import PUBLISHED_PROFILES, STUDY

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RESULTS_DIR = PROJECT_ROOT / "paper_results"
DEFAULT_FIGURES_DIR = PROJECT_ROOT / "figures"
DEFAULT_TABLES_DIR = PROJECT_ROOT / "tables"
PROFILE_RESULTS_DIR = PROJECT_ROOT / "results"  # results/<profile>/ of the smoke, quick, custom runs
AUTO = "auto"


def resolve_results_dir(results_dir: str | os.PathLike | None) -> tuple[Path, str]:
    """The folder to report on and, for ``"auto"``, why it was chosen.

    ``"auto"``: the published results (``paper_results/``) when they hold a results file, else the
    ``results/<profile>/`` folder written most recently, else ``paper_results/`` (which then says
    how to produce results). ``None`` means ``paper_results/``; anything else is used as given.
    """
    if results_dir is None or str(results_dir) != AUTO:
        return Path(results_dir or DEFAULT_RESULTS_DIR), ""
    if any(DEFAULT_RESULTS_DIR.glob("*_MNIST.pkl")):
        return DEFAULT_RESULTS_DIR, "auto: the published results"
    newest = {
        folder: max(p.stat().st_mtime for p in files)
        for folder in sorted(PROFILE_RESULTS_DIR.glob("*"))
        if (files := list(folder.glob("*_MNIST.pkl")))
    }
    if not newest:
        return DEFAULT_RESULTS_DIR, "auto: no results anywhere yet"
    folder = max(newest, key=lambda f: (newest[f], f.name))
    return folder, f"auto: no published results; the most recently written profile run, {folder.name}"


PROTOCOL, FULL, INTERP = "protocol_sampled", "full_sampled", "interpolation"
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
    chosen: str = ""  # why this results folder, when results_dir was "auto"
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
        return A.collapsed_models(self.runs, self.flags)

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


def parse_list(value: str | Iterable | None, cast: Callable = str) -> list | None:
    """A notebook parameter as a list: None, "" or "all" -> None (everything); "A, B" -> ["A", "B"]
    (``shared.cli.comma_list``); one number or a list -> a list; elements cast with ``cast``."""
    if value is None:
        return None
    if isinstance(value, str):
        value = comma_list(value)
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


def _budget_deviations(run: dict) -> str:
    """The run's departures from the study's protocol, "; "-joined (the data source has its own
    column and caption field)."""
    return "; ".join(d for d in run["config"].get("deviations", []) if not d.startswith("data:"))


def _runs_with_labels(results: dict[str, dict]) -> pd.DataFrame:
    runs = R.runs_frame(results)
    stored = {(m, s): r for m, d in results.items() for s, r in d["runs"].items()}
    in_order = [stored[(m, int(s))] for m, s in zip(runs["model"], runs["seed"])]
    runs["data"] = [_data_label(r) for r in in_order]
    runs["deviations"] = [_budget_deviations(r) for r in in_order]
    return runs


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
    results_dir, chosen = resolve_results_dir(results_dir)
    if results_dir.resolve() != DEFAULT_RESULTS_DIR.resolve():  # a profile's outputs stay beside its results
        figures_dir, tables_dir = figures_dir or results_dir / "figures", tables_dir or results_dir / "tables"
    models, seeds = parse_list(models), parse_list(seeds, int)
    loaded, problems = _load_files(results_dir)
    results = _filter(loaded, models, seeds)
    runs = _runs_with_labels(results)
    found_seeds = {int(s) for s in runs["seed"]}
    if set(runs["profile"]) & set(PUBLISHED_PROFILES):
        found_seeds |= set(STUDY.seeds)
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
        chosen=chosen,
    )


def _run_gap(model: str, seed: int, run: dict) -> str | None:
    """What one stored run lacks, as a sentence (None: ok and fully evaluated)."""
    if run["status"] != "ok":
        why = run["failure"]["reason"] if run["failure"] else "no reason recorded"
        return f"{model} seed {seed}: failed ({why}); excluded from the tables"
    if run["metrics"] is None:
        return f"{model} seed {seed}: trained but not evaluated (no metrics)"
    sets = set(run["metrics"]["reconstruction"])
    if run["metrics"].get("interpolation") is not None:
        sets.add(INTERP)
    gaps = [s for s in (PROTOCOL, FULL, INTERP) if s not in sets]
    return f"{model} seed {seed}: no {', '.join(gaps)} evaluation" if gaps else None


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
        out += [gap for seed, run in sorted(runs.items()) if (gap := _run_gap(model, seed, run))]
    return out


# --------------------------------------------------------------------------- captions


def plural(n: int, word: str) -> str:
    """ "1 seed", "3 seeds"."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _short_deviations(rows: pd.DataFrame) -> str:
    """Distinct deviations of the runs, without their "instead of ..." tails, for a caption; one
    that only some models have names them ("at most 1 epoch (CIWAE, HVAE)", "... (all but MIWAE)"),
    so a per-model budget reads as one."""
    models_of: dict[str, set[str]] = {}
    for model, text in zip(rows["model"], rows["deviations"]):
        for item in (d.split(" instead of ")[0] for d in text.split("; ") if d):
            models_of.setdefault(item, set()).add(model)
    every = set(rows["model"])
    parts = []
    for item, models in sorted(models_of.items()):
        if models == every:
            parts.append(item)
        elif len(models) <= len(every) / 2:
            parts.append(f"{item} ({', '.join(sorted(models))})")
        else:
            parts.append(f"{item} (all but {', '.join(sorted(every - models))})")
    return "; ".join(parts)


def describe(rows: pd.DataFrame) -> str:
    """ "profile P (not the study's protocol: ...) · data D · n seeds per model (42, 123) · k models"
    for the runs in ``rows`` (columns model, seed, profile, data and, optionally, deviations)."""
    if rows.empty:
        return "no runs"
    data = rows["data"]
    per_model = rows.groupby("model")["seed"].nunique()
    lo, hi = int(per_model.min()), int(per_model.max())
    count = plural(hi, "seed") if lo == hi else f"{lo}–{hi} seeds"
    seeds = ", ".join(str(s) for s in sorted({int(s) for s in rows["seed"]}))
    deviations = _short_deviations(rows) if "deviations" in rows else ""
    return (
        f"profile {', '.join(sorted(set(rows['profile'])))}"
        + (f" (not the study's protocol: {deviations})" if deviations else "")
        + f" · data: {', '.join(sorted(set(data)))} · "
        f"{count} per model ({seeds}) · {plural(len(per_model), 'model')}"
    )


def caption(
    rep: Report,
    eval_set: str | Iterable[str] | None = None,
    ok_only: bool = True,
    metrics: Iterable[str] | None = None,
) -> str:
    """The caption of a table or figure built from ``eval_set`` (one or several; None: all ok
    runs / all runs); with ``metrics``, only the runs that have one of them there (e.g. the
    scale-free interpolation metrics, which older runs lack)."""
    if eval_set is not None:
        sets = [eval_set] if isinstance(eval_set, str) else list(eval_set)
        chosen = rep.metrics["eval_set"].isin(sets)
        if metrics is not None:
            chosen &= rep.metrics["metric"].isin(list(metrics)) & rep.metrics["value"].notna()
        used = rep.metrics.loc[chosen, ["model", "seed"]].drop_duplicates()
        keys = set(zip(used["model"], used["seed"].astype(int)))
        rows = rep.runs[[(m, int(s)) in keys for m, s in zip(rep.runs["model"], rep.runs["seed"])]]
    else:
        rows = rep.runs[rep.runs["status"] == "ok"] if ok_only else rep.runs
    return describe(rows)


def n_items(rep: Report, eval_set: str) -> str:
    """ "100 images" / "25 sequences" (or a range when runs differ)."""
    items = rep.per_item(eval_set)
    if items.empty:
        return "no items"
    counts = items.groupby(["model", "seed"])["item"].nunique()
    lo, hi = int(counts.min()), int(counts.max())
    word = "sequence" if eval_set == INTERP else "image"
    return plural(hi, word) if lo == hi else f"{lo}–{hi} {word}s"


def collapse_caption(rep: Report, models: Iterable[str], consequence: str) -> str:
    """The caption's collapse sentence for ``models`` (``analysis.collapse_statement``)."""
    return A.collapse_statement(rep.flags, models, consequence)


def overview(rep: Report) -> str:
    """Markdown: what was loaded, from where, and what is missing (or how to get results)."""
    if rep.chosen:
        return f"Reporting on `{rep.results_dir}` ({rep.chosen}).\n\n" + _overview(rep)
    return _overview(rep)


def _overview(rep: Report) -> str:
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
        f"Results folder `{rep.results_dir}`: {plural(len(rep.results), 'model')}, "
        f"{plural(len(rep.runs), 'run')} ({len(ok)} ok, {len(rep.runs) - len(ok)} failed).",
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
