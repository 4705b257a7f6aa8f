"""bf16 autocast training (issue #15 item 1): what it changes, what it keeps, where it is stored."""

from __future__ import annotations

import re

import pytest
import torch

from shared import batch, experiment, params, precision, results
from shared.training import TrainSettings, train_model


def _train(splits, name: str, prec: str, seed: int = 0):
    settings = TrainSettings(epochs=1, seed=seed, device="cpu", threads=1, progress=False, precision=prec)
    return train_model(name, splits, settings)


@pytest.mark.parametrize("name", ["VAE", "SVAE", "MSSSIM_VAE"])
def test_bf16_trains_float32_weights_and_changes_the_rounding(tiny_splits, name):
    """SVAE and MS-SSIM-VAE need their float32_methods: without them bf16 fails (checked below)."""
    fp32 = _train(tiny_splits, name, "fp32")
    bf16 = _train(tiny_splits, name, "bf16")
    again = _train(tiny_splits, name, "bf16")
    assert bf16.status == "ok" and bf16.settings["precision"] == "bf16"
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())  # master weights
    assert bf16.history["train_loss"] != fp32.history["train_loss"]  # bf16 did run
    assert bf16.history["train_loss"] == again.history["train_loss"]  # and is deterministic
    delta = abs(bf16.history["train_loss"][0] - fp32.history["train_loss"][0])
    assert delta < 0.05 * abs(fp32.history["train_loss"][0])  # the same objective, other rounding


def test_svae_fails_in_bf16_without_its_float32_methods(tiny_splits):
    from shared.registry import build_model

    model = build_model("SVAE", 1)
    with pytest.raises((RuntimeError, TypeError)), precision.autocast("bf16", torch.device("cpu")):
        model({"data": tiny_splits.train_x[:8]}, epoch=1, dataset_size=8, uses_ddp=False)


def test_msssim_vae_fails_in_bf16_without_its_float32_methods(tiny_splits, monkeypatch):
    import dataclasses

    from shared import registry, training

    bare = dataclasses.replace(registry.get_spec("MSSSIM_VAE"), float32_methods=())
    monkeypatch.setattr(training, "get_spec", lambda name: bare)
    result = _train(tiny_splits, "MSSSIM_VAE", "bf16")
    assert result.status == "failed" and "non-finite" in result.failure["reason"]


def test_keep_float32_runs_the_method_in_float32():
    seen = {}

    class Net(torch.nn.Module):
        def part(self, x):
            seen["in"], y = x.dtype, torch.nn.functional.linear(x, torch.ones(2, 2))
            seen["out"] = y.dtype
            return y

    net = Net()
    precision.keep_float32(net, ("part",))
    with precision.autocast("bf16", torch.device("cpu")):
        net.part(torch.ones(1, 2, dtype=torch.bfloat16))
    assert seen == {"in": torch.float32, "out": torch.float32}
    with precision.autocast("bf16", torch.device("cpu")):
        assert torch.nn.functional.linear(torch.ones(1, 2), torch.ones(2, 2)).dtype == torch.bfloat16


def test_a_bf16_run_is_a_custom_run_with_its_own_identity_and_deviation(embedded_splits):
    budget = experiment.run_budget("VAE", "quick", precision="bf16")
    assert experiment.run_identity("VAE", "quick", budget, None) == "quick+precision=bf16"
    assert experiment.run_identity("VAE", "quick", experiment.run_budget("VAE", "quick"), None) == "quick"
    assert "trained with bf16 autocast instead of float32" in experiment.deviations(
        "quick", budget, embedded_splits
    )
    assert experiment.settings_for(budget, 42, "cpu", 1).precision == "bf16"


def test_bad_precision_is_one_line():
    with pytest.raises(params.ParameterError, match=re.escape("precision = 'fp16': expected fp32 | bf16")):
        params.check_training_parameters({"precision": "fp16"}, "VAE")
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainSettings(precision="fp16")


def test_run_all_precision_goes_to_its_own_folder_and_notebook_parameter():
    args = batch.parse_args(["--profile", "quick", "--precision", "bf16"])
    dirs = batch.output_dirs(args.profile, args.results_dir, args.identity)
    assert args.identity == "quick+precision=bf16"
    assert dirs["results"] == experiment.PROJECT_ROOT / "results" / "custom" / "quick+precision=bf16"
    assert dirs["executed"].name == "quick+precision=bf16"
    assert batch.notebook_params(args, dirs, "VAE", 42, 1)["precision"] == "bf16"
    assert batch.parse_args([]).identity == "quick"


def test_is_done_tells_a_bf16_run_from_the_profiles_run(tmp_path):
    run = {
        "seed": 42,
        "status": "ok",
        "profile": "custom",
        "metrics": {"x": 1},
        "config": {"identity": "quick+precision=bf16"},
    }
    path = results.results_path(tmp_path, "VAE")
    path.parent.mkdir(parents=True, exist_ok=True)
    import unittest.mock as mock

    with mock.patch.object(results, "load_results", return_value={"runs": {42: run}}):
        path.touch()
        assert results.is_done(tmp_path, "VAE", 42, "quick", "quick+precision=bf16")
        assert not results.is_done(tmp_path, "VAE", 42, "quick")
        run.update(profile="quick", config={"identity": "quick"})
        assert results.is_done(tmp_path, "VAE", 42, "quick")
        assert not results.is_done(tmp_path, "VAE", 42, "quick", "quick+precision=bf16")


@pytest.mark.parametrize(
    ("machine", "amx", "avx512_bf16", "slower"),
    [
        ("x86_64", False, False, True),
        ("x86_64", True, False, False),
        ("x86_64", False, True, False),
        ("aarch64", False, False, False),
    ],
)
def test_bf16_is_called_slower_only_on_an_x86_cpu_without_bf16_instructions(
    monkeypatch, machine, amx, avx512_bf16, slower
):
    monkeypatch.setattr(precision.platform, "machine", lambda: machine)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    note = precision.advice("bf16", "cpu")
    assert (note is not None) == slower
    if slower:
        assert "emulated" in note and "\n" not in note
    assert precision.advice("fp32", "cpu") is None


def test_the_slower_note_is_printed_once_by_a_bf16_run(tiny_splits, monkeypatch, capsys):
    monkeypatch.setattr(precision, "cpu_bf16_instructions", lambda: None)
    settings = TrainSettings(epochs=2, seed=0, device="cpu", threads=1, progress=True, precision="bf16")
    train_model("VAE", tiny_splits, settings)
    assert capsys.readouterr().out.count("no AMX or AVX512-BF16") == 1
    monkeypatch.setattr(precision, "cpu_bf16_instructions", lambda: "AMX")
    train_model("VAE", tiny_splits, settings)
    assert "no AMX" not in capsys.readouterr().out
