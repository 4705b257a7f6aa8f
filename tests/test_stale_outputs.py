"""A table or figure an earlier evaluation built, and this one no longer builds, does not survive (#18 item 5)."""

from __future__ import annotations

from pathlib import Path

from shared import report
from tests.synthetic_report import write_synthetic_results


def _build(results_dir: Path, out: Path) -> report.Report:
    return report.build_report(results_dir, out / "figures", out / "tables", figures=False)


def test_outputs_of_steps_now_skipped_are_removed_and_nothing_else(tmp_path: Path) -> None:
    full = write_synthetic_results(
        tmp_path / "full", {"VAE": {}, "AE": {"ssim": 0.9}, "BetaVAE": {"ssim": 0.7}}
    )
    first = _build(full, tmp_path)
    codes = next(o for o in first.outputs if o.name == "table_v_codes")
    assert codes.built and all(p.exists() for p in codes.paths)
    mine = tmp_path / "tables" / "my_notes.md"
    mine.write_text("kept")
    # the same models, written before schema v2: the codes table is no longer built
    old = write_synthetic_results(
        tmp_path / "v1", {"VAE": {}, "AE": {"ssim": 0.9}, "BetaVAE": {"ssim": 0.7}}, beyond=False
    )
    second = _build(old, tmp_path)
    again = next(o for o in second.outputs if o.name == "table_v_codes")
    assert not again.built and not any(p.exists() for p in codes.paths)
    assert mine.read_text() == "kept"
    still = next(o for o in second.outputs if o.name == first.outputs[0].name)
    assert still.built and all(p.exists() for p in still.paths)
