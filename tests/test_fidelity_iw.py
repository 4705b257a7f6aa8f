"""Importance-weighted family against the bounds of Burda et al. (2016) and Rainforth et al. (2018).

The expected values are computed here from the encoder's Gaussian parameters, the same standard-
normal draws (same seed, same draw order) and the decoder's outputs, with numpy/scipy: nothing
from pythae's or shared.fixes' loss code. Models run in eval mode so BatchNorm is per-image.
Convention (pythae's): log p(x|z) = -0.5 * SSE; the log(2 pi) terms of log p(z) and log q(z|x)
cancel, so scipy's full normal log-densities give the same log-weights.
"""

from __future__ import annotations

import numpy as np
import pytest
import pythae.models as pm
import torch
from scipy.special import logsumexp
from scipy.stats import norm

from shared import fixes
from shared.registry import build_config, build_model, get_spec

B, D = 3, 16

# Losses are compared as Python floats straight from tensors that carry gradients.
pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True:UserWarning")


@pytest.fixture(scope="module")
def x(embedded_splits) -> torch.Tensor:
    return embedded_splits.train_x[:B].clone()


def _build(name: str, cls: type | None = None, variant: str | None = None) -> torch.nn.Module:
    """Registry model, or the same weights in another class (pythae's unfixed one).

    Wide posteriors (log-variance bias 1.5) spread the importance weights, so the bounds, the
    surrogates and the two axes differ by clearly more than rounding.
    """
    torch.manual_seed(0)
    model = build_model(name, variant=variant)
    model.encoder.log_var.bias.data.fill_(1.5)
    if cls is not None:
        other = cls(model_config=build_config(name), encoder=model.encoder, decoder=model.decoder)
        other.load_state_dict(model.state_dict())
        model = other
    return model.eval()


def _log_weights(model: torch.nn.Module, x: torch.Tensor, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """log w [B, *shape] from scratch: z = mu + sigma * eps with the forward's own draws."""
    with torch.no_grad():
        enc = model.encoder(x)
        mu = enc.embedding.numpy().reshape((B,) + (1,) * len(shape) + (D,))
        sigma = np.exp(0.5 * enc.log_covariance.numpy()).reshape(mu.shape)
        torch.manual_seed(seed)
        eps = torch.randn((B, *shape, D)).numpy()
        z = mu + sigma * eps
        recon = model.decoder(torch.from_numpy(z.reshape(-1, D)).float()).reconstruction.numpy()
    recon = recon.reshape(B, *shape, -1)
    target = x.numpy().reshape((B,) + (1,) * len(shape) + (-1,))
    log_px = -0.5 * ((recon - target) ** 2).sum(-1)
    log_pz = norm.logpdf(z).sum(-1)
    log_qz = norm.logpdf(z, loc=mu, scale=sigma).sum(-1)
    return log_px + log_pz - log_qz


def _loss(model: torch.nn.Module, x: torch.Tensor, seed: int, key: str = "loss") -> float:
    torch.manual_seed(seed)
    with torch.no_grad():
        return float(model({"data": x})[key])


def _surrogate(log_w: np.ndarray, axis: int) -> np.ndarray:
    """sum stopgrad(w~) log w with w~ normalised over ``axis``: IWAE's gradient surrogate."""
    w = np.exp(log_w - log_w.max(axis=axis, keepdims=True))
    return (w / w.sum(axis=axis, keepdims=True) * log_w).sum(axis=axis)


# --- IWAE ------------------------------------------------------------------------------------


def test_iwae_reports_the_k_sample_bound(x):
    """Ours: -log (1/K) sum_k w_k. pythae: the surrogate, whose value is not the bound."""
    k = get_spec("IWAE").params["number_samples"]
    log_w = _log_weights(_build("IWAE"), x, (k,), seed=1)
    bound = (logsumexp(log_w, axis=1) - np.log(k)).mean()
    assert _loss(_build("IWAE"), x, 1) == pytest.approx(-bound, rel=1e-5)
    pythae_value = _loss(_build("IWAE", pm.IWAE), x, 1)
    assert pythae_value == pytest.approx(-_surrogate(log_w, 1).mean(), rel=1e-5)
    assert abs(pythae_value + bound) > 0.1


def test_iwae_gradient_is_pythae_gradient(x):
    """Where pythae is right: the surrogate has the bound's gradient, so training is unchanged."""
    grads = []
    for cls in (None, pm.IWAE):
        model = _build("IWAE", cls)
        torch.manual_seed(1)
        model({"data": x}).loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.encoder.parameters()]))
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_ciwae_reports_the_convex_combination(x):
    spec = get_spec("CIWAE")
    k, beta = spec.params["number_samples"], build_config("CIWAE").beta
    log_w = _log_weights(_build("CIWAE"), x, (k,), seed=2)
    expected = beta * log_w.mean(1) + (1 - beta) * (logsumexp(log_w, axis=1) - np.log(k))
    assert _loss(_build("CIWAE"), x, 2) == pytest.approx(-expected.mean(), rel=1e-5)
    pythae_expected = beta * log_w.mean(1) + (1 - beta) * _surrogate(log_w, 1)
    assert _loss(_build("CIWAE", pm.CIWAE), x, 2) == pytest.approx(-pythae_expected.mean(), rel=1e-5)


# --- MIWAE -----------------------------------------------------------------------------------


def test_miwae_normalises_over_k_not_m(x):
    """MIWAE_{M,K} = (1/M) sum_m log (1/K) sum_k w_mk, log-weights [B, M, K]."""
    params = get_spec("MIWAE").params
    m, k = params["number_gradient_estimates"], params["number_samples"]
    log_w = _log_weights(_build("MIWAE"), x, (m, k), seed=3)
    bound = (logsumexp(log_w, axis=2) - np.log(k)).mean(axis=1)
    assert _loss(_build("MIWAE"), x, 3) == pytest.approx(-bound.mean(), rel=1e-5)
    pythae_value = _loss(_build("MIWAE", pm.MIWAE), x, 3)
    # pythae normalises the weights over axis 1 (the M estimates) and averages over K ...
    assert pythae_value == pytest.approx(-_surrogate(log_w, 1).mean(), rel=1e-5)
    # ... which is not the surrogate over K (the axis the paper normalises).
    assert abs(pythae_value + _surrogate(log_w, 2).mean(1).mean()) > 0.1


def _grads(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


def test_miwae_pythae_axes_variant_trains_what_pythae_trains(x, monkeypatch):
    """pythae's MIWAE under the study's K = 10 (M = 5) has the gradient of our MIWAE_{10,5}.

    Same weights, and the same noise: pythae's eps [B, 5, 10, D], ours its transpose [B, 10, 5, D]
    (pythae groups the 5 along axis 1, we group along K). Eval mode, so BatchNorm is per sample.
    """
    assert build_config("MIWAE", variant="pythae_axes").number_samples == 5
    assert build_config("MIWAE", variant="pythae_axes").number_gradient_estimates == 10
    eps = torch.randn((B, 5, 10, D), generator=torch.Generator().manual_seed(4))
    pythae_model = _build("MIWAE", pm.MIWAE)
    monkeypatch.setattr(torch, "randn_like", lambda t, **kw: eps.clone())
    pythae_model({"data": x}).loss.backward()
    ours = _build("MIWAE", variant="pythae_axes")  # same weights, M = 10, K = 5
    monkeypatch.setattr(torch, "randn", lambda *a, **kw: eps.transpose(1, 2).contiguous())
    ours({"data": x}).loss.backward()
    assert torch.allclose(_grads(pythae_model), _grads(ours), rtol=1e-4, atol=1e-6)
    # ... and not the gradient of the default (M = 5, K = 10) on the same samples.
    default = _build("MIWAE")
    monkeypatch.setattr(torch, "randn", lambda *a, **kw: eps.clone())
    default({"data": x}).loss.backward()
    assert not torch.allclose(_grads(pythae_model), _grads(default), rtol=1e-2, atol=1e-4)


def _coupled_step_grads(
    model: torch.nn.Module, x: torch.Tensor, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder and decoder gradients after pythae's CoupledOptimizerTrainer step order."""
    torch.manual_seed(seed)
    out = model({"data": x})
    model.zero_grad()
    out.encoder_loss.backward(retain_graph=True)
    model.decoder.zero_grad()
    out.decoder_loss.backward()
    enc = torch.cat([p.grad.flatten() for p in model.encoder.parameters()])
    dec = torch.cat([p.grad.flatten() for p in model.decoder.parameters()])
    return enc, dec


def _paper_piwae_grads(model: torch.nn.Module, x: torch.Tensor, seed: int, m: int, k: int):
    """grad_phi MIWAE_{M,K} and grad_theta IWAE_{MK}, written out here with torch autograd."""
    enc_out = model.encoder(x)
    mu, log_var = enc_out.embedding[:, None, None], enc_out.log_covariance[:, None, None]
    torch.manual_seed(seed)
    z = mu + torch.exp(0.5 * log_var) * torch.randn((B, m, k, D))
    recon = model.decoder(z.reshape(-1, D)).reconstruction.reshape(B, m, k, -1)
    log_w = (
        -0.5 * ((recon - x.reshape(B, 1, 1, -1)) ** 2).sum(-1)
        - 0.5 * (z**2).sum(-1)
        + 0.5 * (log_var + (z - mu) ** 2 / log_var.exp()).sum(-1)
    )
    miwae = (torch.logsumexp(log_w, dim=2) - np.log(k)).mean()
    iwae = (torch.logsumexp(log_w.reshape(B, m * k), dim=1) - np.log(m * k)).mean()
    g_enc = torch.autograd.grad(-miwae, list(model.encoder.parameters()), retain_graph=True)
    g_dec = torch.autograd.grad(-iwae, list(model.decoder.parameters()))
    return torch.cat([g.flatten() for g in g_enc]), torch.cat([g.flatten() for g in g_dec])


def test_piwae_encoder_gets_miwae_decoder_gets_iwae(x):
    params = get_spec("PIWAE").params
    m, k = params["number_gradient_estimates"], params["number_samples"]
    ours = _build("PIWAE")
    want_enc, want_dec = _paper_piwae_grads(ours, x, 4, m, k)
    got_enc, got_dec = _coupled_step_grads(ours, x, 4)
    assert torch.allclose(got_enc, want_enc, rtol=1e-3, atol=1e-5)
    assert torch.allclose(got_dec, want_dec, rtol=1e-3, atol=1e-5)
    pythae_enc, _ = _coupled_step_grads(_build("PIWAE", pm.PIWAE), x, 4)
    assert (pythae_enc - want_enc).norm() > 0.1 * want_enc.norm()


def test_piwae_reports_the_iwae_mk_bound(x):
    params = get_spec("PIWAE").params
    m, k = params["number_gradient_estimates"], params["number_samples"]
    log_w = _log_weights(_build("PIWAE"), x, (m, k), seed=5)
    iwae = (logsumexp(log_w.reshape(B, m * k), axis=1) - np.log(m * k)).mean()
    miwae = (logsumexp(log_w, axis=2) - np.log(k)).mean()
    assert _loss(_build("PIWAE"), x, 5, "decoder_loss") == pytest.approx(-iwae, rel=1e-5)
    assert _loss(_build("PIWAE"), x, 5, "encoder_loss") == pytest.approx(-miwae, rel=1e-5)
    assert _loss(_build("PIWAE"), x, 5, "loss") == pytest.approx(-iwae, rel=1e-5)


def test_iw_family_uses_the_fixing_classes():
    for name in ("IWAE", "CIWAE", "MIWAE", "PIWAE"):
        assert get_spec(name).pythae_class is getattr(fixes, name)


def test_sampled_reconstruction_is_one_posterior_draw(x):
    """IWAE family: the study's sampled reconstruction is Decoder(mu + sigma * eps), one draw."""
    from shared.latent import reconstruct_sampled

    model = _build("MIWAE")
    with torch.no_grad():
        enc = model.encoder(x)
        torch.manual_seed(6)
        z = enc.embedding + torch.exp(0.5 * enc.log_covariance) * torch.randn(B, D)
        want = model.decoder(z).reconstruction
        torch.manual_seed(6)
        got = reconstruct_sampled(model, x)
    assert got.shape == (B, 1, 28, 28)
    assert torch.allclose(got, want.reshape(B, 1, 28, 28), atol=1e-6)
