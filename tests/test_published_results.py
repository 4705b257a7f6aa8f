"""The committed results of the published run (paper_results/, tables/, RESULTS.md, appendix/):
they load, they are complete once published, and the committed tables are what the evaluation
code builds from the committed results, so the published tables cannot drift."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shared import results as R
from shared.analysis.common import REGISTRY_MODELS
from shared.protocol import PUBLISHED_PROFILES, STUDY
from shared.report.build import build_report

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR, TABLES_DIR = ROOT / "paper_results", ROOT / "tables"
FILES = sorted(RESULTS_DIR.glob("*_MNIST.pkl"))
PUBLISHED = (ROOT / "RESULTS.md").is_file()  # written only once the run is complete (README: Results)
needs_files = pytest.mark.skipif(not FILES, reason="no published results committed yet")


@needs_files
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_committed_results_file_loads_and_is_a_published_profile(path: Path) -> None:
    data = R.load_results(path)  # checksums and aggregates verified
    assert data["model"] in REGISTRY_MODELS and data["schema_version"] == R.SCHEMA_VERSION
    for seed, run in data["runs"].items():
        assert run["profile"] in PUBLISHED_PROFILES, (path.name, seed, run["profile"])
        assert run["status"] == "ok" or run["failure"]["reason"].strip(), (path.name, seed)


@pytest.mark.skipif(not PUBLISHED, reason="RESULTS.md not written: the published run is not complete yet")
def test_the_published_run_is_complete_every_model_every_seed() -> None:
    found = {(d["model"], seed) for d in R.load_results_dir(RESULTS_DIR).values() for seed in d["runs"]}
    expected = {(m, s) for m in REGISTRY_MODELS for s in STUDY.seeds}
    assert sorted(expected - found) == []


@needs_files
def test_the_size_of_the_published_results_stays_within_budget() -> None:
    published = [
        *FILES,
        *TABLES_DIR.glob("*"),
        *(ROOT / "figures").glob("*"),
        *(ROOT / "appendix").rglob("*"),
    ]
    sizes = {p: p.stat().st_size for p in published if p.is_file()}
    assert max(sizes.values()) < 50e6, max(sizes, key=sizes.get)
    assert sum(sizes.values()) < 150e6


@pytest.mark.skipif(not PUBLISHED, reason="RESULTS.md not written: the published run is not complete yet")
def test_the_committed_tables_are_what_the_code_builds_from_the_committed_results(tmp_path: Path) -> None:
    """Markdown and LaTeX byte for byte; the CSVs' full-precision floats to 1e-9 relative: their
    last bits follow the CPU's SIMD (the tables built on an AVX-512 Xeon and on an AVX2 EPYC
    differ in the 16th digit of a few correlations, the 12th of a p of 5e-26), not the code."""
    build_report(RESULTS_DIR, tmp_path / "figures", tmp_path / "tables", figures=False)
    built = {p.name: p for p in (tmp_path / "tables").iterdir()}
    committed = {p.name: p for p in TABLES_DIR.iterdir() if p.name != "README.md"}
    assert sorted(built) == sorted(committed)
    texts = [name for name in built if not name.endswith(".csv")]
    assert [name for name in texts if built[name].read_bytes() != committed[name].read_bytes()] == []
    for name in sorted(set(built) - set(texts)):
        pd.testing.assert_frame_equal(
            pd.read_csv(built[name]), pd.read_csv(committed[name]), check_exact=False, rtol=1e-9, atol=0
        )
