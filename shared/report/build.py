"""Everything at once: :func:`build_report` runs every registered step (tables, then figures) in
the notebook's order; :func:`index` lists what was built and what was skipped."""

from __future__ import annotations

import os
from collections.abc import Iterable

import pandas as pd

from shared.report import beyond_figures as _beyond_figures  # noqa: F401  (beyond the study)
from shared.report import beyond_tables as _beyond_tables  # noqa: F401  (beyond the study)
from shared.report import figures as _figures  # noqa: F401  (registers the figure steps)
from shared.report import tables as _tables  # noqa: F401  (registers the table steps)
from shared.report.core import Report, load_report
from shared.report.steps import STEPS

#: The registered steps of each kind, in the order they are built.
TABLE_STEPS = tuple(s.func for s in STEPS if s.kind == "table")
FIGURE_STEPS = tuple(s.func for s in STEPS if s.kind == "figure")


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
    options = {"tsne_models": tsne_models}
    for kind in ("table", "figure") if figures else ("table",):
        for entry in (s for s in STEPS if s.kind == kind):
            for kwargs in entry.calls:
                entry.func(rep, **kwargs, **{p: options[o] for p, o in entry.options.items()})
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
