"""A run end to end: train, evaluate, save, reload, restore weights, re-evaluate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shared import evaluation, experiment, results
from shared.training import TrainSettings, train_model


def _assert_same_metrics(a: dict, b: dict) -> None:
    for eval_set, block in a["reconstruction"].items():
        for k, v in block["per_image"].items():
            np.testing.assert_array_equal(
                v, b["reconstruction"][eval_set]["per_image"][k], err_msg=f"{eval_set}/{k}"
            )
    for k, v in a["interpolation"]["per_sequence"].items():
        np.testing.assert_array_equal(v, b["interpolation"]["per_sequence"][k], err_msg=k)


@pytest.fixture(scope="module")
def vae_run(embedded_splits, tmp_path_factory):
    torch.set_num_threads(1)
    budget = experiment.run_budget("VAE", "quick", epochs=1)
    splits = embedded_splits
    result = train_model("VAE", splits, TrainSettings(epochs=1, seed=42, progress=False))
    ev = evaluation.evaluate_model(result.model, splits, seed=42)
    record = experiment.run_record("VAE", "quick", budget, splits, result, ev)
    out_dir = tmp_path_factory.mktemp("results")
    path = results.save_run(out_dir, "VAE", 42, record)
    return result, ev, path


def test_saved_reloaded_restored_model_gives_identical_metrics(vae_run):
    _, ev, path = vae_run
    stored = results.load_results(path)["runs"][42]
    model = experiment.restore_model("VAE", stored)
    again = evaluation.evaluate_model(model, _splits_of(stored), seed=42)
    _assert_same_metrics(ev["metrics"], again["metrics"])
    _assert_same_metrics(stored["metrics"], again["metrics"])


def _splits_of(run):
    import warnings

    from shared.data import load_embedded

    assert run["config"]["data"]["n_test"] == 500
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_embedded()


def test_one_epoch_vae_file_is_small_and_complete(vae_run):
    _, ev, path = vae_run
    size_mb = path.stat().st_size / 1e6
    print(f"1-epoch VAE results file: {size_mb:.2f} MB")
    assert size_mb < 5
    run = results.load_results(path)["runs"][42]
    assert run["status"] == "ok" and run["profile"] == "custom"  # epochs=1 is not quick's budget
    assert run["config"]["data"]["source"].startswith("embedded")
    assert any("instead of full MNIST" in d for d in run["config"]["deviations"])
    assert set(run["metrics"]["reconstruction"]) == {
        "protocol_sampled",
        "protocol_mean",
        "full_sampled",
        "full_mean",
    }
    assert run["metrics"]["reconstruction"]["protocol_sampled"]["per_image"]["ssim"].shape == (100,)
    assert run["metrics"]["reconstruction"]["full_mean"]["per_image"]["mse"].shape == (500,)
    assert run["samples"]["interpolations"].shape == (25, 10, 28, 28)
    assert run["samples"]["latent_codes"].shape == (500, 16)


def test_only_the_profiles_own_budget_is_stored_under_its_name(vae_run, embedded_splits):
    """A notebook run with its own epochs, lr, ... or a variant must not pass for the profile's run
    (run_all would skip it as done; the report would mix it in)."""
    result, _, _ = vae_run
    own = experiment.run_budget("VAE", "quick")
    assert experiment.run_record("VAE", "quick", own, embedded_splits, result, None)["profile"] == "quick"
    changed = experiment.run_budget("VAE", "quick", lr=1e-4)
    assert (
        experiment.run_record("VAE", "quick", changed, embedded_splits, result, None)["profile"] == "custom"
    )
    result.settings["variant"] = "literal"
    try:
        rec = experiment.run_record("VAE", "quick", own, embedded_splits, result, None)
    finally:
        result.settings["variant"] = None
    assert rec["profile"] == "custom" and any("variant 'literal'" in d for d in rec["config"]["deviations"])


def test_restored_rhvae_keeps_the_metric_pythae_holds_outside_its_state_dict(tiny_splits):
    result = train_model("RHVAE", tiny_splits, TrainSettings(epochs=1, seed=1, progress=False))
    budget = experiment.run_budget("RHVAE", "smoke", epochs=1)
    record = experiment.run_record("RHVAE", "smoke", budget, tiny_splits, result, None)
    restored = experiment.restore_model("RHVAE", record)
    assert torch.equal(restored.M_tens, result.model.M_tens) and len(restored.M_tens) > 1
    before = evaluation.evaluate_model(result.model, tiny_splits, seed=3)
    _assert_same_metrics(
        before["metrics"], evaluation.evaluate_model(restored, tiny_splits, seed=3)["metrics"]
    )


def test_evaluation_indices_fixed_and_disjoint_pairs():
    a, b = evaluation.evaluation_indices(10_000), evaluation.evaluation_indices(10_000)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert a["reconstruction"].shape == (100,) and a["interpolation"].shape == (25, 2)
    assert len(np.unique(a["interpolation"])) == 50 and a["latent"].shape == (1000,)
    small = evaluation.evaluation_indices(64)
    assert small["interpolation"].shape == (25, 2) and small["latent"].shape == (64,)


def test_sampled_reconstruction_is_seeded(vae_run):
    result, _, _ = vae_run
    x = torch.rand(8, 1, 28, 28)
    a = evaluation.reconstructions(result.model, x, seed=3)["sampled"]
    b = evaluation.reconstructions(result.model, x, seed=3)["sampled"]
    c = evaluation.reconstructions(result.model, x, seed=4)["sampled"]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_profiles_and_budgets():
    assert experiment.run_budget("MIWAE", "quick")["model_params"] == {
        "number_gradient_estimates": 2,
        "number_samples": 5,
    }
    assert experiment.run_budget("VAE", "paper") == {
        "epochs": 100,
        "patience": 10,
        "n_train": None,
        "n_eval": None,
        "lr": 1e-4,
        "model_params": {},
        "precision": "fp32",
        "fuse_output": False,
        "fuse_input": False,
        "fused_adam": False,
    }
    quick = experiment.run_budget("VAE", "quick")
    assert quick["lr"] == 1e-3 and experiment.run_budget("VAE", "quick", lr=1e-4)["lr"] == 1e-4
    assert experiment.run_budget("VAE", "smoke", epochs=3)["epochs"] == 3
    assert experiment.get_profile("paper").seeds == (42, 123, 456)
    with pytest.raises(ValueError, match="unknown profile"):
        experiment.get_profile("fast")


def test_custom_runs_go_to_their_own_folder_not_to_the_published_results():
    paper = experiment.run_budget("RAE_GP", "paper")
    assert not experiment.is_custom("RAE_GP", "paper", paper, None)
    assert experiment.default_results_dir("paper").name == "paper_results"
    assert experiment.is_custom("RAE_GP", "paper", paper, "study_literal")
    assert experiment.is_custom("RAE_GP", "paper", experiment.run_budget("RAE_GP", "paper", epochs=5), None)
    assert (
        experiment.default_results_dir("paper", custom=True) == experiment.PROJECT_ROOT / "results" / "custom"
    )


def test_the_data_line_says_what_was_used_not_the_budget(embedded_splits):
    """The issue: "n_eval: 1000" printed while the embedded data gave 500/500."""
    quick = experiment.run_budget("VAE", "quick")
    line = experiment.used_sizes(quick, embedded_splits)
    assert "4,000 training, 500 validation, 500 test" in line
    assert "fewer than the budget's n_eval 1,000" in line and "\n" not in line
    assert "fewer" not in experiment.used_sizes({**quick, "n_eval": 500}, embedded_splits)
