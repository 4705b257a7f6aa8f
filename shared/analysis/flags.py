"""Per-model flags beside the numbers: posterior collapse over the ok seeds (shared.collapse)
and the study setting a model does not use; the numbers themselves stay untouched."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from shared.analysis.common import column, ok_rows
from shared.collapse import COLLAPSE_RULE

#: Columns that tables listing models carry beside the numbers.
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
    ok = ok_rows(runs)
    verdict, setting = column(ok, "collapsed"), column(ok, "setting_differs")
    rows = []
    for model, grp in ok.groupby("model", sort=True):
        measured = verdict[grp.index].dropna().astype(bool)
        n_ok, n_measured, n_collapsed = len(grp), len(measured), int(measured.sum())
        rows.append(
            [model, n_ok, n_measured, n_collapsed, n_collapsed > 0,
             _collapse_label(n_ok, n_measured, n_collapsed), _setting_text(setting[grp.index])]
        )  # fmt: skip
    return pd.DataFrame(rows, columns=FLAG_COLUMNS)


def collapsed_models(runs: pd.DataFrame, flags: pd.DataFrame | None = None) -> list[str]:
    """The models with at least one collapsed ok seed, sorted (kept out of rankings/frontier);
    ``flags``: the :func:`model_flags` of ``runs`` where already computed."""
    flags = model_flags(runs) if flags is None else flags
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
    for name, source in values.items():
        cells = out["model"].map(source).fillna("n/a").astype(str)
        if name in out.columns:
            out[name] = cells
        else:
            out.insert(position, name, cells)
        position = out.columns.get_loc(name) + 1
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
