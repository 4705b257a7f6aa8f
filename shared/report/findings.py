"""RESULTS.md, the findings of a run, written from its tables alone:

    python -m shared.report.findings --tables-dir tables --out RESULTS.md
    python -m shared.report.findings --tables-dir tables --out RESULTS.md --check

The text reads only the CSV files the evaluation notebook writes (``<name>_values.csv`` where a
table has its numbers apart, else ``<name>.csv``) and the caption on the first line of each
``<name>.md``, so no number in it is typed by hand: each one is a reference link to the Markdown
table it comes from (relative to the output file). A table that was not built (skipped: no file,
or a Markdown file holding only a note) gives one sentence saying so, never an invented number.
``--check`` exits 1 when the file on disk differs from what would be written, so a committed
RESULTS.md cannot drift from its tables.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from shared.analysis.common import ALPHA, METRIC_LABELS

TOP = 3  # how many models "top" means, in words below
TOP_WORD = "three"
SETTING_COLUMN = "setting differs from study"
COMMAND = "python -m shared.report.findings"

# --------------------------------------------------------------------------- numbers


def number(x: float) -> str:
    """3 significant digits, trailing zeros kept (0.820, 18.9, 327, 1,230, 5.08e-8); n/a for NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    x = float(x)
    if abs(x) >= 1000:
        return f"{float(f'{x:.3g}'):,.0f}"
    text = f"{x:#.3g}".rstrip(".")
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa.rstrip('.')}e{int(exponent)}"
    return text


def count(x: float) -> str:
    """An integer count (a float column of counts reads 5.0)."""
    return f"{int(round(float(x))):,}"


def p_value(p: float) -> str:
    """``p = 0.034`` / ``p < 0.001``, with a digit more where rounding would cross α."""
    if p is None or math.isnan(float(p)):
        return "p undefined"
    p = float(p)
    if p < 0.001:
        return "p < 0.001"
    for decimals in range(3, 8):
        text = f"{p:.{decimals}f}"
        if (float(text) < ALPHA) == (p < ALPHA) and float(text) != ALPHA:
            return f"p = {text}"
    return f"p = {p:.3g}"


def alpha_text() -> str:
    return f"α = {ALPHA:g}"


def significant(p: float) -> bool:
    return not math.isnan(float(p)) and float(p) < ALPHA


def label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def names(models: Iterable[str]) -> str:
    """ "A, B and C" (models in the given order)."""
    models = [str(m) for m in models]
    if len(models) <= 1:
        return "".join(models)
    return f"{', '.join(models[:-1])} and {models[-1]}"


def plural(n: int, word: str) -> str:
    return word if n == 1 else f"{word}s"


# --------------------------------------------------------------------------- the tables


@dataclass(frozen=True)
class Table:
    """One table as read from the folder: its rows (None when it was not built), the caption of
    its Markdown file, and why it is missing."""

    name: str
    frame: pd.DataFrame | None
    caption: str = ""
    note: str = ""

    @property
    def built(self) -> bool:
        return self.frame is not None

    def segments(self) -> list[str]:
        """The caption's " · "-separated statements (profile, data, seeds, models, ...)."""
        return [s.strip() for s in self.caption.split(" · ") if s.strip()]


def read_caption(md: Path) -> tuple[str, bool]:
    """(caption, whether the file holds a table): the bold first line of the .md without its
    title; for a file holding only a note (a skipped table), the note on one line."""
    lines = [line.strip() for line in md.read_text(encoding="utf-8").splitlines() if line.strip()]
    has_table = any(re.match(r"^\|\s*:?-{3}", line) for line in lines)
    if not has_table:
        return " ".join(line.lstrip(">").strip().strip("*").strip() for line in lines), False
    first = lines[0].strip("*").strip() if lines else ""
    match = re.match(r"^.*?\. ((?:profile |no runs|study tables only).*)$", first)
    caption = match.group(1) if match else first
    return caption.rstrip(".").strip(), has_table


class Tables:
    """The tables folder seen from the output file: each table read once, and every table cited
    remembered for the reference links at the end of the text."""

    def __init__(self, tables_dir: str | os.PathLike, out: str | os.PathLike) -> None:
        self.dir = Path(tables_dir)
        self.base = Path(out).resolve().parent
        self._read: dict[tuple[str, bool], Table] = {}
        self.cited: dict[str, str] = {}

    def path(self, name: str) -> str:
        """The relative link from the output file to the table's .md (its .csv if no .md)."""
        target = self.dir / f"{name}.md"
        if not target.is_file():
            target = self.dir / f"{name}.csv"
        return Path(os.path.relpath(target.resolve(), self.base)).as_posix()

    def get(self, name: str, values: bool = False) -> Table:
        """The table ``name`` (its ``_values.csv`` when ``values`` and one exists)."""
        key = (name, values)
        if key not in self._read:
            self._read[key] = self._load(name, values)
        return self._read[key]

    def _load(self, name: str, values: bool) -> Table:
        md = self.dir / f"{name}.md"
        caption, has_table = read_caption(md) if md.is_file() else ("", False)
        csv = self.dir / f"{name}_values.csv"
        if not (values and csv.is_file()):
            csv = self.dir / f"{name}.csv"
        if md.is_file() and not has_table and not csv.is_file():
            return Table(name, None, note=caption or "its Markdown file holds no table")
        if not csv.is_file():
            where = (
                f"no `{csv.name}` beside `{md.name}`"
                if md.is_file()
                else f"the tables folder has no `{md.name}`"
            )
            return Table(name, None, note=where)
        try:
            frame = pd.read_csv(csv)
        except pd.errors.EmptyDataError:
            return Table(name, None, note=f"`{csv.name}` is empty")
        return Table(name, frame, caption=caption)

    def cite(self, text: object, name: str) -> str:
        """``[text][name]``: a reference link to the table (defined at the end of the text)."""
        self.cited[name] = self.path(name)
        escaped = str(text).replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
        return f"[{escaped}][{name}]"

    def num(self, x: float, name: str) -> str:
        return self.cite(number(x), name)

    def n(self, x: float, name: str) -> str:
        return self.cite(count(x), name)

    def p(self, p: float, name: str) -> str:
        return self.cite(p_value(p), name)

    def missing(self, table: Table, what: str) -> str:
        """The one sentence a section gets for a table that was not built."""
        if table.frame is None and (self.dir / f"{table.name}.md").is_file():
            return f"{what}: not built ({self.cite(table.note, table.name)})."
        return f"{what}: not built ({table.note})."

    def definitions(self) -> str:
        return "\n".join(f"[{name}]: {path}" for name, path in sorted(self.cited.items()))


# --------------------------------------------------------------------------- frame helpers


def text_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """A text column with missing cells as "" (pandas reads empty cells as NaN)."""
    if column not in frame.columns:
        return pd.Series([""] * len(frame), index=frame.index)
    return frame[column].map(lambda v: "" if pd.isna(v) else str(v).strip())


def collapsed_models(frame: pd.DataFrame) -> list[str]:
    return frame.loc[text_column(frame, "collapsed") != "", "model"].astype(str).tolist()


def truthy(series: pd.Series) -> pd.Series:
    return series.astype(str).str.strip().str.lower().isin({"true", "1", "yes"})


# --------------------------------------------------------------------------- 1. the budget


def segment(table: Table, prefix: str) -> str:
    """The caption statement starting with ``prefix`` ("" when there is none)."""
    return next((s for s in table.segments() if s.startswith(prefix)), "")


def budget(t: Tables) -> list[str]:
    """Profile, data, models and seeds, runs ok / failed, epochs, wall time, deviations."""
    by_model, runs = t.get("run_summary_by_model"), t.get("run_summary")
    if not by_model.built:
        return [t.missing(by_model, "The run summary per model")]
    name, f = by_model.name, by_model.frame
    lines = []
    profile = segment(by_model, "profile ")
    if profile:
        lines.append(f"- The tables' captions describe the runs as: {t.cite(profile, name)}.")
    lines.append(f"- Data: {data_sources(t, f, name)}.")
    lines += run_counts(t, runs)
    lines += failed_lines(t)
    lines += coverage_lines(t)
    lines.append(f"- Epochs run: {epoch_groups(t, f, name)}.")
    lines.append(f"- Early stopping: {early_stops(t, f, name)}.")
    if runs.built:
        lines.append(f"- Training time: {wall_time(t, runs)}.")
    return lines


def data_sources(t: Tables, f: pd.DataFrame, name: str) -> str:
    groups = f.groupby(text_column(f, "data_source"), sort=True)["model"]
    parts = [
        f"{t.cite(source or 'not recorded', name)} ({t.n(len(models), name)} {plural(len(models), 'model')})"
        for source, models in groups
    ]
    return "; ".join(parts)


def run_counts(t: Tables, runs: Table) -> list[str]:
    if not runs.built:
        return [t.missing(runs, "- Runs per model and seed")]
    f, name = runs.frame, runs.name
    seeds = sorted({int(s) for s in f["seed"]})
    ok = int((text_column(f, "status") == "ok").sum())
    models = f["model"].nunique()
    seeds_per_model = sorted(set(f.groupby("model")["seed"].nunique()))
    per_model = ", ".join(count(s) for s in seeds_per_model)
    return [
        f"- {t.n(models, name)} {plural(models, 'model')}, seeds {t.cite(', '.join(map(str, seeds)), name)} "
        f"({t.cite(per_model, name)} per model): {t.n(len(f), name)} runs, {t.n(ok, name)} ok, "
        f"{t.n(len(f) - ok, name)} failed."
    ]


def failed_lines(t: Tables) -> list[str]:
    failed = t.get("failed_runs")
    if not failed.built:
        return [t.missing(failed, "- The failed runs")]
    if failed.frame.empty:
        return [f"- Failed runs: {t.cite('none', failed.name)}."]
    parts = [
        t.cite(
            f"{r.model} seed {count(r.seed)}: {r.reason if isinstance(r.reason, str) else 'no reason given'}",
            failed.name,
        )
        for r in failed.frame.itertuples()
    ]
    return [f"- Failed runs (left out of every other table): {'; '.join(parts)}."]


def coverage_lines(t: Tables) -> list[str]:
    cov = t.get("coverage")
    if not cov.built:
        return [t.missing(cov, "- The coverage table")]
    cells = cov.frame.set_index("model").stack()
    gaps = cells[~cells.isin(["ok", "failed"])]
    if gaps.empty:
        return [f"- Coverage: {t.cite('every expected model and seed has a result', cov.name)}."]
    parts = [f"{m} {seed}: {status}" for (m, seed), status in gaps.items()]
    return [f"- Results missing or not evaluated: {t.cite('; '.join(parts), cov.name)}."]


def epoch_groups(t: Tables, f: pd.DataFrame, name: str) -> str:
    """ "4 epochs: AE, ...; 2 epochs: CIWAE" (models grouped by the epochs they ran)."""
    epochs = text_column(f, "epochs_run").str.replace(r"\.0\b", "", regex=True)

    def key(value: str) -> float:
        first = value.split(",")[0].strip()
        return -float(first) if first else math.inf

    parts = []
    for value in sorted(set(epochs), key=key):
        models = f.loc[epochs == value, "model"].tolist()
        unit = "epoch" if value == "1" else "epochs"
        parts.append(f"{t.cite(value or 'not recorded', name)} {unit}: {t.cite(names(models), name)}")
    return "; ".join(parts)


def early_stops(t: Tables, f: pd.DataFrame, name: str) -> str:
    stopped = text_column(f, "early_stopped").str.split("/", expand=True)
    if stopped.shape[1] < 2:
        return "not recorded"
    done, total = pd.to_numeric(stopped[0]).sum(), pd.to_numeric(stopped[1]).sum()
    return f"{t.n(done, name)} of {t.n(total, name)} runs stopped early"


def wall_time(t: Tables, runs: Table) -> str:
    f, name = runs.frame, runs.name
    minutes = pd.to_numeric(f["wall_minutes"], errors="coerce").sum()
    devices = sorted(set(text_column(f, "device")) - {""})
    where = f" on {t.cite(', '.join(devices), name)}" if devices else ""
    return (
        f"{t.num(minutes, name)} min ({t.num(minutes / 60, name)} h) of training in all, the sum of "
        f"the runs' wall times{where}"
    )


# --------------------------------------------------------------------------- 2. the study


def study(t: Tables) -> list[str]:
    """Spearman agreement per metric, our top models vs the study's, our values vs its values."""
    return [
        *rank_agreement(t),
        "",
        *top_models(t),
        "",
        *against_study(t),
        "",
        *significance(t),
    ]


def rank_agreement(t: Tables) -> list[str]:
    tab = t.get("rank_agreement_with_study")
    if not tab.built:
        return [t.missing(tab, "Rank agreement with the study")]
    f, name = tab.frame, tab.name
    lines = [f"Spearman ρ between our model means and the study's, per metric ({alpha_text()}):", ""]
    agree, differ = [], []
    for r in f.itertuples():
        if math.isnan(float(r.spearman_rho)):
            lines.append(f"- {label(r.metric)}: ρ undefined ({t.n(r.n_models, name)} models).")
            continue
        yes = significant(r.p) and r.spearman_rho > 0
        (agree if yes else differ).append(label(r.metric))
        verdict = "significant agreement" if yes else "no significant agreement"
        if significant(r.p) and r.spearman_rho < 0:
            verdict = "significant, but the ranks are reversed"
        lines.append(
            f"- {label(r.metric)}: ρ = {t.num(r.spearman_rho, name)}, {t.p(r.p, name)}, "
            f"n = {t.n(r.n_models, name)} models: {verdict}."
        )
    lines += [
        "",
        f"Our ranking agrees significantly with the study's for {t.cite(names(agree) or 'no metric', name)}",
    ]
    lines[-1] += f", not for {t.cite(names(differ), name)}." if differ else "."
    return lines


def top_models(t: Tables) -> list[str]:
    """Our three best models on SSIM and PIQ beside the study's three."""
    return [
        top_line(t, "ssim", "table_i_reconstruction_protocol", "ssim_mean", higher=True),
        top_line(t, "piq", "table_ii_interpolation", "piq_mean", higher=False),
    ]


def ours_top(t: Tables, name: str, column: str, higher: bool) -> tuple[list[str], list[float]] | None:
    """Our top models (collapsed ones skipped) and their values, from a table's values CSV."""
    values, shown = t.get(name, values=True), t.get(name)
    if not values.built or not shown.built:
        return None
    collapsed = set(collapsed_models(shown.frame))
    f = values.frame[~values.frame["model"].isin(collapsed)].dropna(subset=[column])
    f = f.sort_values([column, "model"], ascending=[not higher, True]).head(TOP)
    return f["model"].tolist(), f[column].tolist()


def top_line(t: Tables, metric: str, name: str, column: str, higher: bool) -> str:
    word = "highest" if higher else "lowest"
    ours = ours_top(t, name, column, higher)
    if ours is None:
        return t.missing(t.get(name, values=True), f"Our top models by {label(metric)}")
    models, vals = ours
    text = (
        f"- Top {TOP_WORD} by {label(metric)} ({word} best, collapsed models skipped): ours "
        f"{t.cite(names(models), name)} ({', '.join(t.num(v, name) for v in vals)})"
    )
    comp = t.get("reproduction_vs_study")
    if not comp.built:
        return text + "; " + t.missing(comp, "the study's values")
    f = comp.frame[comp.frame["metric"] == metric].dropna(subset=["study_value"])
    f = f.sort_values(["study_value", "model"], ascending=[not higher, True]).head(TOP)
    theirs = f["model"].tolist()
    shared = [m for m in models if m in theirs]
    text += (
        f"; the study's {t.cite(names(theirs), comp.name)} "
        f"({', '.join(t.num(v, comp.name) for v in f['study_value'])}). "
    )
    return text + f"In both: {t.cite(names(shared) or 'none', comp.name)}."


def against_study(t: Tables) -> list[str]:
    comp = t.get("reproduction_vs_study")
    if not comp.built:
        return [t.missing(comp, "Reproduction vs study")]
    lines = ["Our values against the study's printed values, model by model (plain units):", ""]
    for metric in ("ssim", "piq", "mse"):
        f = comp.frame[(comp.frame["metric"] == metric)].dropna(subset=["difference"])
        if not f.empty:
            lines.append(versus_line(t, comp.name, metric, f))
    lines.append("- ISS is compared by rank only (the study's unit cannot be recovered).")
    return lines


def versus_line(t: Tables, name: str, metric: str, f: pd.DataFrame) -> str:
    """How many of our values are below the study's, the largest gap, how many intervals hold it."""
    lower = int((f["difference"] < 0).sum())
    worst = f.loc[f["difference"].abs().idxmax()]
    inside = text_column(f, "study_in_our_t_ci")
    judged = inside.isin(["yes", "no"])
    ci = (
        f"the study's value lies inside our t-based confidence interval for {t.n((inside == 'yes').sum(), name)} "
        f"of {t.n(judged.sum(), name)}"
        if judged.any()
        else f"no interval: {t.cite(inside.iloc[0] if len(inside) else 'n/a', name)}"
    )
    return (
        f"- {label(metric)}: ours is lower for {t.n(lower, name)} of {t.n(len(f), name)} models; "
        f"largest gap {worst['model']} ({t.num(worst['ours_mean'], name)} vs "
        f"{t.num(worst['study_value'], name)}); {ci}."
    )


def significance(t: Tables) -> list[str]:
    tab = t.get("significance_vs_vae_seeds")
    if not tab.built:
        return [t.missing(tab, "Significance against VAE, paired by seed")]
    f, name = tab.frame, tab.name
    parts = []
    for metric in ("ssim", "piq"):
        verdicts = text_column(f[f["metric"] == metric], "significant")
        judged = verdicts.isin(["yes", "no"])
        if judged.any():
            parts.append(
                f"{label(metric)} {t.n((verdicts == 'yes').sum(), name)} of {t.n(judged.sum(), name)}"
            )
        else:
            parts.append(
                f"{label(metric)} not tested ({t.cite(verdicts.iloc[0] if len(verdicts) else 'no rows', name)})"
            )
    return [
        "Models that differ significantly from VAE, paired by seed (Bonferroni, "
        f"{alpha_text()}): {'; '.join(parts)}."
    ]


# --------------------------------------------------------------------------- 3. the duality


def duality(t: Tables) -> list[str]:
    """SSIM against raw and scale-free smoothness (r, p, n), the verdict, the study's pairs."""
    return [*duality_rows(t), "", *correlations(t)]


def duality_rows(t: Tables) -> list[str]:
    tab = t.get("duality_test")
    if not tab.built:
        return [t.missing(tab, "The duality test")]
    f, name = tab.frame, tab.name
    left_out = int(pd.to_numeric(f["collapsed_left_out"], errors="coerce").fillna(0).max())
    lines = [
        f"SSIM against each smoothness metric across models, Pearson r ({t.n(left_out, name)} collapsed "
        "models left out; every smoothness metric is higher = rougher, so a positive r reads "
        f"“better reconstruction, rougher path”; {alpha_text()}):",
        "",
    ]
    lines += [duality_line(t, name, r) for r in f.itertuples()]
    return [*lines, "", duality_verdict(t, f, name)]


def duality_line(t: Tables, name: str, r: Any) -> str:
    """One row of the duality test (a namedtuple of its CSV row): r, p, n and the verdict."""
    what = f"{r.smoothness} ({r.kind}{', partial' if r.method == 'partial' else ''})"
    if math.isnan(float(r.r)) or math.isnan(float(r.p)):
        why = r.note if isinstance(r.note, str) and r.note else "r undefined"
        return f"- {what}: no correlation can be computed ({t.cite(why, name)})."
    verdict = "significant" if significant(r.p) else "not significant"
    return f"- {what}: r = {t.num(r.r, name)}, {t.p(r.p, name)}, n = {t.n(r.n, name)}: {verdict}."


def _row(f: pd.DataFrame, smoothness: str) -> pd.Series | None:
    rows = f[f["smoothness"] == smoothness]
    return None if rows.empty else rows.iloc[0]


def _positive(row: pd.Series | None) -> bool:
    return row is not None and significant(row["p"]) and row["r"] > 0


def duality_verdict(t: Tables, f: pd.DataFrame, name: str) -> str:
    """One reading: does the raw duality hold, does it survive scale-free and given distance."""
    piq = _row(f, "PIQ")
    if piq is None or math.isnan(float(piq["r"])):
        return f"So the duality {t.cite('cannot be tested', name)} on these models."
    if not significant(piq["p"]):
        return f"So the study's duality (SSIM up, PIQ up) is {t.cite('not reproduced', name)}."
    if piq["r"] < 0:
        return f"So the study's duality is {t.cite('reversed', name)}: higher SSIM goes with lower PIQ."
    text = "So better reconstruction goes with rougher raw paths, as the study says; "
    text += scale_free_clause(t, f, name)
    partial = _row(f, "PIQ given endpoint distance")
    if partial is not None and not math.isnan(float(partial["p"])):
        kept = "stays significant" if significant(partial["p"]) else "is no longer significant"
        text += f", and given endpoint distance the SSIM–PIQ correlation {t.cite(kept, name)}"
    return text + "."


def scale_free_clause(t: Tables, f: pd.DataFrame, name: str) -> str:
    """Whether the raw duality is also seen on path excess or step CV."""
    rows = [_row(f, s) for s in ("path excess", "step CV")]
    free = [s for s, row in zip(("path excess", "step CV"), rows, strict=True) if _positive(row)]
    if free:
        return f"this {t.cite('survives', name)} scale-free measurement ({names(free)})"
    if not any(row is not None and not math.isnan(float(row["p"])) for row in rows):
        return f"whether it survives scale-free measurement {t.cite('cannot be checked', name)}"
    return f"this {t.cite('does not survive', name)} scale-free measurement"


def correlations(t: Tables) -> list[str]:
    tab = t.get("metric_correlations")
    if not tab.built:
        return [t.missing(tab, "The metric correlations")]
    f, name = tab.frame, tab.name
    lines = ["The study's metric pairs, Pearson r across model means (collapsed models included):", ""]
    for r in f.itertuples():
        study_p = str(r.study_p) if isinstance(r.study_p, str) else number(r.study_p)
        lines.append(
            f"- {r.pair}: ours r = {t.num(r.r, name)} ({t.p(r.p, name)}, n = {t.n(r.n_models, name)}); "
            f"the study's r = {t.num(r.study_r, name)} (p {t.cite(study_p, name)})."
        )
    return lines


# --------------------------------------------------------------------------- 4. Pareto


def pareto(t: Tables) -> list[str]:
    """The Pareto-optimal models with their regime, the regime counts, collapsed models."""
    tab = t.get("pareto_regimes")
    if not tab.built:
        return [t.missing(tab, "The Pareto table")]
    f, name = tab.frame.sort_values(["ssim_rank", "model"]), tab.name
    front = f[truthy(f["pareto_optimal"])]
    lines = [f"Pareto-optimal models on (SSIM ↑, PIQ ↓), by SSIM rank ({t.n(len(front), name)} models):", ""]
    lines += [
        f"- {r.model}: SSIM {t.num(r.ssim, name)}, PIQ {t.num(r.piq, name)}, {t.cite(r.regime, name)}."
        for r in front.itertuples()
    ]
    lines += ["", "Regimes of all models:", ""]
    for regime in ("reconstruction-first", "balanced", "smoothness-first"):
        models = f.loc[text_column(f, "regime") == regime, "model"].tolist()
        lines.append(f"- {regime}: {t.n(len(models), name)} ({t.cite(names(models) or 'none', name)}).")
    rule = segment(tab, "regimes:")
    if rule:
        lines += ["", f"The rule: {t.cite(rule.removeprefix('regimes: '), name)}."]
    collapsed = collapsed_models(f)
    lines += [
        "",
        f"Collapsed models kept off the frontier (their ranks unchanged): {t.cite(names(collapsed) or 'none', name)}.",
    ]
    return lines


# --------------------------------------------------------------------------- 5. Table III


def recommendations(t: Tables) -> list[str]:
    tab = t.get("table_iii_applications")
    if not tab.built:
        return [t.missing(tab, "Table III")]
    f, name = tab.frame, tab.name
    lines = [
        f"- {r.application}, by {label(r.criterion) if r.criterion in METRIC_LABELS else r.criterion.replace('_', ' ')}: "
        f"use {t.cite(r.recommended if isinstance(r.recommended, str) else 'none', name)}; "
        f"avoid {t.cite(r.avoid if isinstance(r.avoid, str) else 'none', name)}."
        for r in f.itertuples()
    ]
    left = sorted(set(text_column(f, "left_out")) - {""})
    if left:
        lines += ["", f"Left out of every ranking: {t.cite('; '.join(left), name)}."]
    rules = text_column(f, "rule")
    if len(rules) and rules.iloc[0]:
        lines += [f"The rule, as for the first application: {t.cite(rules.iloc[0], name)}."]
    return lines


# --------------------------------------------------------------------------- 6. identical rows


def identical(t: Tables) -> list[str]:
    tab = t.get("identical_rows")
    if not tab.built:
        return [t.missing(tab, "The identical-rows table")]
    f, name = tab.frame, tab.name
    lines = []
    for table, rows in f.groupby("table", sort=False):
        groups = "; ".join(t.cite(m, name) for m in rows["models"])
        lines.append(
            f"- {table}: {t.n(len(rows), name)} {plural(len(rows), 'group')} of models print the same figures: {groups}."
        )
    if not text_column(f, "table").str.startswith("our").any():
        lines.append(f"- Our tables: {t.cite('no two models print the same figures', name)}.")
    lines += [
        "",
        "Two models trained apart cannot match on every printed digit, so those rows of the study are not trusted.",
    ]
    return lines


# --------------------------------------------------------------------------- 7. settings


def settings(t: Tables) -> list[str]:
    """The study settings a model does not use, and the run budget where a model's differs."""
    return [*setting_lines(t), "", *budget_deviations(t)]


def setting_lines(t: Tables) -> list[str]:
    found: dict[str, tuple[str, str]] = {}
    for name in ("table_i_reconstruction_protocol", "table_ii_interpolation", "reproduction_vs_study"):
        tab = t.get(name)
        if tab.built and SETTING_COLUMN in tab.frame.columns:
            for model, text in zip(tab.frame["model"], text_column(tab.frame, SETTING_COLUMN), strict=True):
                if text and model not in found:
                    found[model] = (text, name)
    if not found:
        tab = t.get("table_i_reconstruction_protocol")
        if not tab.built:
            return [t.missing(tab, "Table I (with the setting column)")]
        return [f"Every model uses the study's stated setting ({t.cite('no setting differs', tab.name)})."]
    lines = ["Models run with a setting other than the study's (the reasons are in docs/PROTOCOL.md):", ""]
    lines += [f"- {m}: {t.cite(text, name)}." for m, (text, name) in sorted(found.items())]
    return lines


def budget_deviations(t: Tables) -> list[str]:
    runs = t.get("run_summary")
    if not runs.built:
        return [t.missing(runs, "The run summary (deviations per run)")]
    f, name = runs.frame, runs.name
    per_model = f.groupby("model")["deviations"].agg(
        lambda s: "; ".join(sorted(set(s.fillna("").astype(str))))
    )
    common = per_model.value_counts().index[0] if len(per_model) else ""
    others = per_model[per_model != common]
    most = "most models" if len(others) else "every model"
    lines = [f"Deviations of the run budget from the study, for {most}: {t.cite(common or 'none', name)}."]
    if not others.empty:
        lines += ["", "Models whose budget differs from that:", ""]
        lines += [f"- {m}: {t.cite(text or 'none', name)}." for m, text in others.items()]
    return lines


# --------------------------------------------------------------------------- 8. beyond


def beyond(t: Tables) -> list[str]:
    """Table IV (generation), Table V (codes), the scale-free table: the best and worst."""
    return [line for part in (generation, codes, scale_free) for line in guarded(part, t)]


def best(t: Tables, name: str, column: str, higher: bool) -> pd.Series | None:
    """The best non-collapsed row of a table's values on ``column`` (None if none)."""
    values, shown = t.get(name, values=True), t.get(name)
    f = values.frame[~values.frame["model"].isin(collapsed_models(shown.frame))].dropna(subset=[column])
    if f.empty:
        return None
    return f.sort_values([column, "model"], ascending=[not higher, True]).iloc[0]


def generation(t: Tables) -> list[str]:
    """Table IV: the sampler whose images come closest to the test images, and who has no prior."""
    name = "table_iv_generation"
    if not (t.get(name).built and t.get(name, values=True).built):
        return ["- " + t.missing(t.get(name, values=True), "Table IV (generation)")]
    gmm, prior = best(t, name, "gmm_fd_mean", False), best(t, name, "prior_fd_mean", False)
    parts = []
    if gmm is not None:
        parts.append(
            f"the lowest FD of GMM samples is {gmm['model']}'s ({t.num(gmm['gmm_fd_mean'], name)}, precision "
            f"{t.num(gmm['gmm_precision_mean'], name)}, recall {t.num(gmm['gmm_recall_mean'], name)})"
        )
    if prior is not None:
        parts.append(f"from the prior, {prior['model']}'s ({t.num(prior['prior_fd_mean'], name)})")
    f = t.get(name, values=True).frame
    none = f.loc[f["prior_fd_mean"].isna(), "model"].tolist() if "prior_fd_mean" in f else []
    text = "- Table IV (generation; FD in the features of the project's MNIST classifier, lower is better): "
    text += "; ".join(parts) or "no FD"
    return [text + (f"; no prior samples: {t.cite(names(none), name)}." if none else ".")]


def codes(t: Tables) -> list[str]:
    """Table V: whose mean codes best separate the digits (probe and k-means)."""
    name = "table_v_codes"
    if not (t.get(name).built and t.get(name, values=True).built):
        return ["- " + t.missing(t.get(name, values=True), "Table V (codes)")]
    probe, kmeans = best(t, name, "probe_accuracy_mean", True), best(t, name, "kmeans_accuracy_mean", True)
    parts = [
        f"best {what} {row['model']} ({t.num(row[column], name)})"
        for what, row, column in (
            ("linear-probe accuracy", probe, "probe_accuracy_mean"),
            ("k-means accuracy", kmeans, "kmeans_accuracy_mean"),
        )
        if row is not None
    ]
    return [
        "- Table V (what the mean codes know about the digit): " + ("; ".join(parts) or "no values") + "."
    ]


def scale_free(t: Tables) -> list[str]:
    """The scale-free table: the most and least direct interpolation paths."""
    name = "table_scale_free_smoothness"
    if not (t.get(name).built and t.get(name, values=True).built):
        return ["- " + t.missing(t.get(name, values=True), "The scale-free smoothness table")]
    low, high = best(t, name, "path_excess_mean", False), best(t, name, "path_excess_mean", True)
    if low is None:
        return [f"- Scale-free smoothness: {t.cite('no path excess defined', name)}."]
    return [
        f"- Scale-free smoothness (path excess = PIQ relative to a straight constant-speed pixel morph; "
        f"lower is more direct): lowest {low['model']} ({t.num(low['path_excess_mean'], name)}), highest "
        f"{high['model']} ({t.num(high['path_excess_mean'], name)})."
    ]


# --------------------------------------------------------------------------- the document


SECTIONS: Sequence[tuple[str, Callable[[Tables], list[str]]]] = (
    ("The run's budget", budget),
    ("What holds of the study and what does not", study),
    ("The duality on raw and scale-free metrics", duality),
    ("Regimes and the Pareto set", pareto),
    ("Recommendations", recommendations),
    ("The study's identical rows", identical),
    ("Models whose settings differ from the study", settings),
    ("Beyond the study", beyond),
)


def guarded(body: Callable[[Tables], list[str]], t: Tables) -> list[str]:
    """``body(t)``, or one sentence when a table's columns are not the ones it reads."""
    try:
        return body(t)
    except (KeyError, AttributeError, ValueError, TypeError) as err:
        why = (
            f"a column it reads is missing: {err}"
            if isinstance(err, KeyError)
            else f"{type(err).__name__}: {err}"
        )
        return [f"- This part could not be written from the tables ({why})."]


def section(t: Tables, title: str, body: Callable[[Tables], list[str]]) -> str:
    """A heading and its body."""
    return f"## {title}\n\n" + "\n".join(guarded(body, t)).strip() + "\n"


def render(tables_dir: str | os.PathLike, out: str | os.PathLike) -> str:
    """The whole text of RESULTS.md for the tables in ``tables_dir``, linked from ``out``."""
    t = Tables(tables_dir, out)
    folder = Path(os.path.relpath(Path(tables_dir).resolve(), Path(out).resolve().parent)).as_posix()
    head = (
        "# Findings of the run\n\n"
        f"Written by `{COMMAND}` from the tables in `{folder}/` alone; do not edit by hand "
        f"(`{COMMAND} --check` fails when this file and the tables differ). Every number and claim "
        "links to the table it comes from; how each table is made is in docs/PROTOCOL.md.\n"
    )
    body = "\n".join(section(t, title, fn) for title, fn in SECTIONS)
    return f"{head}\n{body}\n{t.definitions()}\n"


def write(tables_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write RESULTS.md; returns its path."""
    path = Path(out)
    path.write_text(render(tables_dir, path), encoding="utf-8")
    return path


def check(tables_dir: str | os.PathLike, out: str | os.PathLike) -> str | None:
    """None when ``out`` is what :func:`write` would write, else a one-line reason."""
    path = Path(out)
    if not path.is_file():
        return f"{path} does not exist: run {COMMAND} --tables-dir {tables_dir} --out {path}"
    if path.read_text(encoding="utf-8") != render(tables_dir, path):
        return f"{path} differs from its tables in {tables_dir}: run {COMMAND} --tables-dir {tables_dir} --out {path}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: write the file, or with ``--check`` exit 1 when it is out of date."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--tables-dir", default="tables", help="the tables folder (default: tables)")
    parser.add_argument("--out", default="RESULTS.md", help="the file to write (default: RESULTS.md)")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the file differs from what would be written"
    )
    args = parser.parse_args(argv)
    if args.check:
        problem = check(args.tables_dir, args.out)
        if problem:
            print(problem, file=sys.stderr)
            return 1
        print(f"{args.out} is up to date with {args.tables_dir}")
        return 0
    print(f"wrote {write(args.tables_dir, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
