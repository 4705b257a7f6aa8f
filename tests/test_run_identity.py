"""Runs with their own settings never replace each other (issue: custom runs of one seed replaced
one another, and a custom run in an explicit results_dir replaced the profile's run)."""

from __future__ import annotations

import copy
from pathlib import Path

import papermill
import pytest

from shared import experiment, results
from tests.test_results import make_run

ROOT = Path(__file__).resolve().parents[1]


def _identity(profile: str = "quick", variant: str | None = None, **changes) -> str:
    return experiment.run_identity("VAE", profile, experiment.run_budget("VAE", profile, **changes), variant)


def test_each_set_of_settings_has_its_own_identity_and_folder() -> None:
    assert _identity() == "quick" and _identity("paper") == "paper"
    names = [_identity(epochs=2), _identity(epochs=3), _identity(lr=0.01), _identity(epochs=2, lr=0.01)]
    assert names == ["quick+epochs=2", "quick+epochs=3", "quick+lr=0.01", "quick+epochs=2+lr=0.01"]
    assert experiment.run_identity(
        "RAE_GP", "paper", experiment.run_budget("RAE_GP", "paper"), "study_literal"
    ) == ("paper+variant=study_literal")
    folders = {experiment.results_dir_for("quick", name, None) for name in names}
    assert len(folders) == 4 and all(f.parent == ROOT / "results" / "custom" for f in folders)
    assert experiment.results_dir_for("quick", "quick", None) == ROOT / "results" / "quick"
    assert experiment.results_dir_for("quick", "quick+epochs=2", "cust") == Path("cust")


def _with_identity(run: dict, identity: str, profile: str) -> dict:
    run = copy.deepcopy(run)
    run["profile"], run["config"]["identity"] = profile, identity
    return run


def test_a_custom_run_never_replaces_a_run_of_another_identity(tmp_path: Path) -> None:
    base = make_run(42)
    results.save_run(tmp_path, "VAE", 42, _with_identity(base, "quick", "quick"))
    with pytest.raises(results.ResultsError, match="holds the run 'quick'; not replacing it") as info:
        results.save_run(tmp_path, "VAE", 42, _with_identity(base, "quick+epochs=2", "custom"))
    assert len(str(info.value).splitlines()) == 1
    assert (
        results.load_results(results.results_path(tmp_path, "VAE"))["runs"][42]["config"]["identity"]
        == "quick"
    )
    other = tmp_path / "custom"
    results.save_run(other, "VAE", 42, _with_identity(base, "quick+epochs=2", "custom"))
    results.save_run(other, "VAE", 42, _with_identity(base, "quick+epochs=2", "custom"))  # a re-run: itself
    with pytest.raises(
        results.ResultsError, match="'quick\\+epochs=2'; not replacing it with the run 'quick'"
    ):
        results.save_run(other, "VAE", 42, _with_identity(base, "quick", "quick"))


def test_a_published_profile_run_replaces_another_profile_run(tmp_path: Path) -> None:
    base = make_run(42)
    results.save_run(tmp_path, "VAE", 42, _with_identity(base, "reference", "reference"))
    results.save_run(tmp_path, "VAE", 42, _with_identity(base, "paper", "paper"))  # the GPU run, later
    assert results.load_results(results.results_path(tmp_path, "VAE"))["runs"][42]["profile"] == "paper"


@pytest.mark.slow
def test_a_notebook_custom_run_is_stored_with_its_identity_beside_the_profile_run(tmp_path: Path) -> None:
    def run(**params) -> None:
        papermill.execute_notebook(
            str(ROOT / "notebooks" / "VAE_training.ipynb"),
            str(tmp_path / "out.ipynb"),
            parameters={"profile": "smoke", "seed": 42, **params},
            kernel_name="python3",
            progress_bar=False,
        )

    run(results_dir=str(tmp_path / "res"))
    with pytest.raises(papermill.PapermillExecutionError, match="not replacing it"):
        run(results_dir=str(tmp_path / "res"), epochs=2)
    stored = results.load_results(results.results_path(tmp_path / "res", "VAE"))["runs"][42]
    assert stored["config"]["identity"] == "smoke" and stored["profile"] == "smoke"
    text = (tmp_path / "out.ipynb").read_text()
    assert (
        "ResultsError:" in text and "Traceback" not in text and "epoch 1/" not in text
    )  # refused before training
