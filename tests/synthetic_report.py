"""A ``shared.report.Report`` over synthetic frames, for tests that build report steps directly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from shared import report


def synthetic_report(
    tmp_path: Path,
    metrics: pd.DataFrame,
    runs: pd.DataFrame,
    models: Sequence[str],
    seeds: Sequence[int],
    results: dict | None = None,
    per_item: pd.DataFrame | None = None,
) -> report.Report:
    """A Report whose outputs go under ``tmp_path``; ``per_item`` seeds the interpolation cache."""
    out = report.Report(
        results_dir=tmp_path / "res",
        figures_dir=tmp_path / "figures",
        tables_dir=tmp_path / "tables",
        results=results or {},
        expected_models=list(models),
        expected_seeds=list(seeds),
        problems=[],
        runs=runs,
        metrics=metrics,
    )
    if per_item is not None:
        out._cache[("per_item", "interpolation")] = per_item
    return out


def runs_of(frame: pd.DataFrame) -> pd.DataFrame:
    """The runs frame of a metrics frame: every (model, seed) ok, no collapse verdict, study setting."""
    runs = frame[["model", "seed", "status"]].drop_duplicates(ignore_index=True)
    return runs.assign(profile="smoke", data="synthetic", deviations="", collapsed=None, setting_differs="")
