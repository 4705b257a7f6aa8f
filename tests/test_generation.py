"""Samplers of shared.generation against what each prior is (independent numpy / scikit-learn checks)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from shared import generation, latent, registry


def _model(name: str, **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return registry.build_model(name, 5, **overrides).eval()


def _codes(model: torch.nn.Module, n: int = 200) -> torch.Tensor:
    torch.manual_seed(1)
    with torch.no_grad():
        return latent.encode_mean(model, torch.rand(n, 1, 28, 28))


def test_every_registry_prior_has_a_sampler_and_a_label() -> None:
    assert set(generation.PRIOR_LABELS) == set(registry.PRIORS)
    assert {n for n, s in registry.REGISTRY.items() if s.prior == "none"} == {"AE", "RAE_L2", "RAE_GP"}


def test_normal_prior_has_zero_mean_and_identity_covariance() -> None:
    model = _model("VAE")
    z = generation.prior_codes(model, 20_000, _codes(model), seed=3).numpy()
    assert z.shape == (20_000, 16)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=0.04)
    np.testing.assert_allclose(np.cov(z.T), np.eye(16), atol=0.05)


def test_sphere_prior_is_on_the_sphere_and_centred() -> None:
    model = _model("SVAE")
    z = generation.prior_codes(model, 20_000, _codes(model), seed=3).numpy()
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=0.02)  # uniform: no preferred direction
    np.testing.assert_allclose(np.cov(z.T), np.eye(16) / 16, atol=0.01)


def test_vamp_prior_draws_from_its_pseudo_inputs_posteriors() -> None:
    model = _model("VAMP")
    with torch.no_grad():
        out = model.encoder(model.pseudo_inputs(model.idle_input).reshape(-1, 1, 28, 28))
    mu, var = out.embedding.numpy(), np.exp(out.log_covariance.numpy())
    z = generation.prior_codes(model, 40_000, _codes(model), seed=3).numpy()
    np.testing.assert_allclose(z.mean(0), mu.mean(0), atol=0.03)  # mixture mean
    mixture_var = var.mean(0) + mu.var(0)  # law of total variance, equal weights
    np.testing.assert_allclose(z.var(0), mixture_var, rtol=0.05)


@pytest.mark.parametrize("variant", [None, "one_code"])
def test_vq_prior_draws_each_position_from_its_training_frequencies(variant) -> None:
    model = _model("VQVAE", variant=variant)
    train = _codes(model, 300)
    z = generation.prior_codes(model, 30_000, train, seed=3)
    positions = 16 if variant is None else 1
    width = 16 // positions
    train_np = train.numpy().reshape(len(train), positions, width)
    z_np = z.numpy().reshape(len(z), positions, width)
    for p in range(positions):
        values, counts = np.unique(train_np[:, p], axis=0, return_counts=True)
        drawn, drawn_counts = np.unique(z_np[:, p], axis=0, return_counts=True)
        assert {tuple(v) for v in drawn} <= {tuple(v) for v in values}  # only codes seen in training
        expected = dict(zip(map(tuple, values), counts / counts.sum(), strict=True))
        for v, c in zip(map(tuple, drawn), drawn_counts / len(z), strict=True):
            assert abs(c - expected[v]) < 0.02


def test_poincare_prior_lies_in_the_ball() -> None:
    model = _model("PoincareVAE")
    z = generation.prior_codes(model, 5_000, _codes(model), seed=3)
    assert float(z.norm(dim=1).max()) < 1.0


def test_autoencoders_have_no_prior_sampler_but_a_mixture() -> None:
    model = _model("AE")
    images, notes = generation.generate(model, _codes(model), seed=0, n=50)
    assert set(images) == {"gmm"} and "prior" in notes
    assert images["gmm"].shape == (50, 1, 28, 28)


def test_mixture_samples_follow_the_fitted_mixture_in_random_order() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=10, size=(10, 16))
    train = torch.as_tensor(np.repeat(centres, 100, axis=0) + rng.normal(size=(1000, 16)))
    z, note = generation.gmm_codes(train, 10_000, seed=5)
    assert note == ""
    nearest = np.argmin(((z.numpy()[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(np.bincount(nearest, minlength=10) / 10_000, 0.1, atol=0.02)
    assert len(set(nearest[:100])) > 5  # not grouped by component: any prefix is a fair draw
    np.testing.assert_array_equal(z.numpy(), generation.gmm_codes(train, 10_000, seed=5)[0].numpy())


def test_collapsed_codes_give_no_mixture_and_say_why() -> None:
    z, note = generation.gmm_codes(torch.zeros(500, 16), 100, seed=0)
    assert z is None and "distinct" in note


def test_samples_are_mapped_to_where_the_decoder_reads() -> None:
    z = torch.randn(100, 16) * 3
    sphere = generation.to_decoder_space(_model("SVAE"), z)
    np.testing.assert_allclose(sphere.norm(dim=1).numpy(), 1.0, atol=1e-6)
    ball = generation.to_decoder_space(_model("PoincareVAE"), z)
    assert float(ball.norm(dim=1).max()) < 1.0
    vq = _model("VQVAE")
    quantised = generation.to_decoder_space(vq, z)
    # a fixed point of quantisation (up to the straight-through estimator's rounding)
    np.testing.assert_allclose(quantised.numpy(), latent.quantize(vq, quantised).numpy(), atol=1e-6)
    assert not np.allclose(quantised.numpy(), z.numpy(), atol=1e-3)


def test_sampling_is_seeded_and_leaves_the_global_rng_alone() -> None:
    model = _model("VAE")
    codes = _codes(model)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = generation.prior_codes(model, 100, codes, seed=9)
    assert torch.equal(torch.get_rng_state(), before)
    b = generation.prior_codes(model, 100, codes, seed=9)
    c = generation.prior_codes(model, 100, codes, seed=10)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_sample_count_is_ten_thousand_except_for_smoke_runs() -> None:
    assert generation.n_samples_for(10_000) == 10_000  # the paper profile
    assert generation.n_samples_for(1_000) == generation.n_samples_for(500) == 10_000  # quick
    assert generation.n_samples_for(128) == 2_560  # smoke
