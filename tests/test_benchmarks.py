"""The diagnostic helpers of benchmarks/ that numbers in the fidelity note come from."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from shared.registry import build_model

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_posterior_metrics_match_torch_distributions(embedded_splits):
    curves = _load("iw_learning_curves")
    torch.manual_seed(0)
    model = build_model("VAE").eval()
    x = embedded_splits.val_x[:20]
    got = curves.posterior_metrics(model, x)
    with torch.no_grad():
        out = model.encoder(x)
        q = Normal(out.embedding, (0.5 * out.log_covariance).exp())
        kl = kl_divergence(q, Normal(0.0, 1.0)).sum(dim=1).mean()
        mean_recon = model.decoder(out.embedding).reconstruction.reshape_as(x)
        z = q.mean + q.stddev * torch.randn(q.mean.shape, generator=torch.Generator().manual_seed(0))
        sampled_recon = model.decoder(z).reconstruction.reshape_as(x)
    assert got["kl"] == pytest.approx(float(kl), rel=1e-5)
    assert got["posterior_std"] == pytest.approx(float(q.stddev.mean()), rel=1e-6)
    assert got["mse_mean_code"] == pytest.approx(float(((mean_recon - x) ** 2).mean()), rel=1e-6)
    assert got["mse_sampled"] == pytest.approx(float(((sampled_recon - x) ** 2).mean()), rel=1e-6)


def test_set_values_are_parsed():
    curves = _load("iw_learning_curves")
    assert curves.parse_sets(["number_samples=10", "beta=0.5", "kind=rbf"]) == {
        "number_samples": 10,
        "beta": 0.5,
        "kind": "rbf",
    }
    with pytest.raises(SystemExit, match="key=value"):
        curves.parse_sets(["number_samples"])


def test_benchmark_json_is_refused_when_damaged_and_kept_when_a_curve_exists(tmp_path):
    curves = _load("iw_learning_curves")
    damaged = tmp_path / "d.json"
    damaged.write_text('{"rows": {')
    with pytest.raises(SystemExit, match="not valid JSON"):
        curves.main(["VAE", "--json", str(damaged)])
    kept = tmp_path / "k.json"
    kept.write_text('{"VAE @5": {"curve": [1]}}')
    with pytest.raises(SystemExit, match="--force"):
        curves.main(["VAE", "--json", str(kept)])
    assert kept.read_text() == '{"VAE @5": {"curve": [1]}}'


def test_redoing_the_sweep_table_keeps_the_notes_below_it(tmp_path):
    sweep = _load("fidelity_sweep")
    md = tmp_path / "r.md"
    md.write_text("Data: x\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nNotes:\n| other table |\n")
    assert sweep.notes_after_table(md) == "\nNotes:\n| other table |\n"
    assert sweep.notes_after_table(tmp_path / "none.md") == ""


def test_a_verdict_made_on_another_cpu_does_not_count(monkeypatch):
    """training_speed's last line takes only options shown equivalent on the CPU it runs on."""
    speed = _load("training_speed")
    study = speed.eq.study_rows(speed.eq.stored_rows(), "bf16+all_fused")
    monkeypatch.setattr(speed.precisions, "cpu_label", lambda: speed.eq.cpu_of(study[0]))
    assert speed.shown_equivalent("bf16+all_fused") == (True, "shown equivalent")
    monkeypatch.setattr(speed.precisions, "cpu_label", lambda: "some other CPU")
    assert speed.shown_equivalent("bf16+all_fused") == (False, "shown equivalent on another CPU")
    assert speed.shown_equivalent("fp32") == (True, "the reference")
