"""Each model's declared interpolation path, the extra paths, the collapse verdict, and the
per-run facts of the model-fidelity issue (second pass), against independent computations."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
import torch
from pythae.models.base.base_utils import ModelOutput

from shared import catalogue, evaluation, experiment, latent, metrics, registry, training
from shared.collapse import COLLAPSE_RATIO, collapse_verdict
from shared.training import TrainSettings, train_model


def _unit(rng: np.random.Generator, n: int, d: int = 16) -> np.ndarray:
    v = rng.normal(size=(n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_great_circle_is_slerp_with_unit_codes_and_equal_angles():
    rng = np.random.default_rng(0)
    u, v = _unit(rng, 5), _unit(rng, 5)
    got = metrics.great_circle_codes(torch.tensor(u), torch.tensor(v), 10).numpy()
    omega = np.arccos(np.sum(u * v, axis=1))[:, None, None]
    t = np.linspace(0, 1, 10)[None, :, None]
    want = (np.sin((1 - t) * omega) * u[:, None] + np.sin(t * omega) * v[:, None]) / np.sin(omega)
    np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(got, axis=-1), 1.0, atol=1e-12)
    steps = np.arccos(np.clip(np.sum(got[:, 1:] * got[:, :-1], axis=-1), -1, 1))
    np.testing.assert_allclose(steps, np.broadcast_to(omega[:, :, 0] / 9, steps.shape), atol=1e-7)
    np.testing.assert_allclose(got[:, 0], u, atol=1e-15)
    np.testing.assert_allclose(got[:, -1], v, atol=1e-15)
    # the chord leaves the sphere: norm cos(45°) = 0.71 at the midpoint of a 90° pair
    e1, e2 = torch.eye(16, dtype=torch.float64)[:1], torch.eye(16, dtype=torch.float64)[1:2]
    mid = metrics.interpolation_codes(e1, e2, 3)[0, 1]
    assert float(mid.norm()) == pytest.approx(2**-0.5)


def test_great_circle_between_equal_codes_is_constant():
    u = torch.tensor(_unit(np.random.default_rng(1), 2))
    path = metrics.great_circle_codes(u, u.clone(), 10)
    assert torch.isfinite(path).all()
    torch.testing.assert_close(path, u[:, None].expand_as(path))


def test_paths_come_from_the_registry():
    declared = {n: registry.get_spec(n).interpolation for n in registry.ALL_MODEL_NAMES}
    assert declared["SVAE"] == "great_circle" and declared["PoincareVAE"] == "poincare_geodesic"
    assert {n for n, p in declared.items() if p != "line"} == {"SVAE", "PoincareVAE"}
    assert registry.get_spec("SVAE").extra_interpolations == ("chord",)
    assert registry.get_spec("VQVAE").extra_interpolations == ("requantised",)
    with pytest.raises(ValueError, match="unknown interpolation"):
        catalogue.Entry("VAE", "VAE", "baseline", interpolation="spiral")


def _pairs(model, x):
    with torch.no_grad():
        return latent.encode_mean(model, x[:4]), latent.encode_mean(model, x[4:8])


def test_svae_frames_decode_codes_of_norm_one(tiny_splits):
    torch.manual_seed(0)
    model = registry.build_model("SVAE").eval()
    z1, z2 = _pairs(model, tiny_splits.test_x)
    codes = latent.path_codes(model, z1, z2, 10, registry.get_spec("SVAE").interpolation)
    np.testing.assert_allclose(codes.norm(dim=-1).numpy(), 1.0, atol=1e-5)
    chord = latent.path_codes(model, z1, z2, 10, "chord")
    assert float(chord.norm(dim=-1).min()) < 0.999  # the study's literal path leaves the sphere


def test_poincare_geodesic_stays_in_the_ball_and_hits_both_ends(tiny_splits):
    torch.manual_seed(0)
    model = registry.build_model("PoincareVAE").eval()
    z1, z2 = _pairs(model, tiny_splits.test_x)
    codes = latent.path_codes(model, z1, z2, 10, "poincare_geodesic")
    assert float(codes.norm(dim=-1).max()) < 1
    torch.testing.assert_close(codes[:, 0], z1, atol=1e-5, rtol=0)
    torch.testing.assert_close(codes[:, -1], z2, atol=1e-5, rtol=0)
    # the geodesic's hyperbolic step lengths are equal (constant speed), the chord's are not
    dist = model.latent_manifold.dist(codes[:, 1:], codes[:, :-1])
    torch.testing.assert_close(dist, dist[:, :1].expand_as(dist), atol=1e-4, rtol=1e-3)


def test_vqvae_requantised_path_emits_codebook_values_only(tiny_splits):
    torch.manual_seed(0)
    model = registry.build_model("VQVAE").eval()
    with torch.no_grad():
        model.quantizer.embeddings.copy_(torch.randn(512, 1))  # a spread-out codebook
    z1, z2 = _pairs(model, tiny_splits.test_x)
    codes = latent.path_codes(model, z1, z2, 10, "requantised")
    book = model.quantizer.embeddings.flatten()
    gap = (codes.reshape(-1, 1) - book.reshape(1, -1)).abs().min(dim=1).values
    assert float(gap.max()) < 1e-6
    line = latent.path_codes(model, z1, z2, 10, "line")
    assert float((line.reshape(-1, 1) - book.reshape(1, -1)).abs().min(dim=1).values.max()) > 1e-4


def test_evaluation_stores_the_declared_and_extra_paths(tiny_splits):
    torch.manual_seed(0)
    model = registry.build_model("SVAE")
    out = evaluation.evaluate_model(model, tiny_splits, seed=0)["metrics"]
    assert out["interpolation_path"] == "great_circle"
    assert set(out["interpolation_paths"]) == {"chord"}
    chord, main = out["interpolation_paths"]["chord"], out["interpolation"]
    assert chord["per_sequence"]["piq"].shape == main["per_sequence"]["piq"].shape
    assert not np.array_equal(chord["per_sequence"]["piq"], main["per_sequence"]["piq"])


def test_mean_image_mse_and_collapse_verdict(tiny_splits):
    train, test = tiny_splits.train_x, tiny_splits.test_x
    mean = train.numpy().astype(np.float64).mean(axis=0)
    want = float(((test.numpy() - mean) ** 2).reshape(len(test), -1).mean())
    assert evaluation.mean_image_mse(train, test) == pytest.approx(want, rel=1e-9)
    assert collapse_verdict(0.065, 0.067)["collapsed"] and not collapse_verdict(0.031, 0.067)["collapsed"]
    edge = collapse_verdict(COLLAPSE_RATIO * 0.05, 0.05)
    assert edge["collapsed"] and edge["ratio"] == pytest.approx(COLLAPSE_RATIO)


def test_a_constant_decoder_is_flagged_collapsed(tiny_splits):
    torch.manual_seed(0)
    model = registry.build_model("AE")
    mean = tiny_splits.train_x.mean(0)
    model.decoder.forward = lambda z: ModelOutput(reconstruction=mean.expand(len(z), 1, 28, 28))
    verdict = evaluation.evaluate_model(model, tiny_splits, seed=0)["metrics"]["collapse"]
    assert verdict["collapsed"] and verdict["ratio"] == pytest.approx(1.0, rel=1e-4)


def test_capacity_model_validates_on_its_final_objective(tiny_splits, monkeypatch):
    """Disentangled β-VAE's C changes every epoch: each epoch is validated at the last epoch's C."""
    seen: dict[str, list[int]] = {}

    def recording(model, x, epoch, batch_size, precision="fp32"):
        seen.setdefault(name, []).append(epoch)
        return {"loss": 1.0}

    monkeypatch.setattr(training, "evaluate_loss", recording)
    for name in ("DisentangledBetaVAE", "VAE"):
        train_model(name, tiny_splits, TrainSettings(epochs=3, seed=0, progress=False))
    assert seen == {"DisentangledBetaVAE": [3, 3, 3], "VAE": [1, 2, 3]}


def test_run_records_installed_pythae_and_the_setting_that_differs(tiny_splits):
    result = train_model("RAE_GP", tiny_splits, TrainSettings(epochs=1, seed=1, progress=False))
    budget = experiment.run_budget("RAE_GP", "smoke", epochs=1)
    config = experiment.run_record("RAE_GP", "smoke", budget, tiny_splits, result, None)["config"]
    assert config["versions"]["pythae"] == importlib.metadata.version("pythae")
    assert config["setting_differs"] == "λ = 1e-7 (study: 10)"
    assert registry.get_spec("RAE_GP").setting_differs_for("study_literal") == ""
    assert registry.get_spec("VAE").setting_differs_for(None) == ""


def test_every_variant_declares_whether_it_uses_the_study_setting():
    """A variant changes a setting: each must say which study setting it departs from ("" = none)."""
    for name in registry.ALL_MODEL_NAMES:
        spec = registry.get_spec(name)
        assert set(spec.variants) == set(spec.variant_setting_differs), name
