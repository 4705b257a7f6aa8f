"""The evaluation notebook's default folder: what exists, said in its first line."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from shared.report import core


@pytest.fixture()
def project(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setattr(core, "DEFAULT_RESULTS_DIR", tmp_path / "paper_results")
    monkeypatch.setattr(core, "PROFILE_RESULTS_DIR", tmp_path / "results")
    return tmp_path


def _touch(path: Path, age_s: float = 0.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))


def test_auto_prefers_the_published_results(project):
    _touch(project / "paper_results" / "VAE_MNIST.pkl", age_s=1000)
    _touch(project / "results" / "quick" / "VAE_MNIST.pkl")
    folder, why = core.resolve_results_dir("auto")
    assert folder == project / "paper_results" and "published" in why


def test_auto_takes_the_newest_profile_run_without_published_results(project):
    (project / "paper_results").mkdir()
    (project / "paper_results" / "README.md").write_text("only a README")
    _touch(project / "results" / "smoke" / "AE_MNIST.pkl", age_s=500)
    _touch(project / "results" / "quick" / "VAE_MNIST.pkl", age_s=10)
    folder, why = core.resolve_results_dir("auto")
    assert folder == project / "results" / "quick" and "quick" in why


def test_auto_with_nothing_anywhere_says_so(project):
    folder, why = core.resolve_results_dir("auto")
    assert folder == project / "paper_results" and "no results" in why


def test_explicit_folders_are_used_as_given(project):
    assert core.resolve_results_dir("elsewhere") == (Path("elsewhere"), "")
    assert core.resolve_results_dir(None) == (project / "paper_results", "")


def test_the_report_says_which_folder_and_keeps_a_profiles_outputs_beside_it(project):
    _touch(project / "results" / "quick" / "VAE_MNIST.pkl")  # empty file: reported as unreadable
    rep = core.load_report("auto")
    assert rep.results_dir == project / "results" / "quick"
    assert rep.figures_dir == project / "results" / "quick" / "figures"
    assert core.overview(rep).startswith(f"Reporting on `{project / 'results' / 'quick'}` (auto:")
