"""Models whose pythae 0.1.2 loss already matches the paper: the tests say so.

Hand-built batches, expected values written out with numpy / scipy (or finite differences /
autograd Jacobians for the flows' log-determinants), compared with the registry model's loss.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import ive, loggamma

from shared.registry import build_config, build_model, get_spec

D = 16

# Losses are compared as Python floats straight from tensors that carry gradients.
pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True:UserWarning")


def _batch(b: int = 5, seed: int = 0):
    r = np.random.default_rng(seed)
    x, recon = r.random((b, 1, 28, 28)), r.random((b, 1, 28, 28))
    mu, lv = r.normal(size=(b, D)), r.normal(scale=0.3, size=(b, D))
    return r, x, recon, mu, lv


def _t(a) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float32)


def _half_sse(recon, x) -> np.ndarray:
    return 0.5 * ((recon - x) ** 2).reshape(len(x), -1).sum(-1)


def _kl(mu, lv) -> np.ndarray:
    return 0.5 * (mu**2 + np.exp(lv) - 1 - lv).sum(-1)


def test_registry_keeps_pythae_classes_here():
    for name in ("VAE", "BetaVAE", "WAE_MMD", "Adversarial_AE", "VAE_IAF", "SVAE", "AE"):
        assert get_spec(name).model_class is None


def test_vae_negative_elbo():
    _, x, recon, mu, lv = _batch()
    model = build_model("VAE")
    loss = model.loss_function(_t(recon), _t(x), _t(mu), _t(lv), _t(mu))[0]
    assert float(loss) == pytest.approx((_half_sse(recon, x) + _kl(mu, lv)).mean(), rel=1e-5)


def test_beta_vae_weights_the_kl():
    _, x, recon, mu, lv = _batch()
    model = build_model("BetaVAE")
    assert model.beta == 4.0
    loss = model.loss_function(_t(recon), _t(x), _t(mu), _t(lv), _t(mu))[0]
    assert float(loss) == pytest.approx((_half_sse(recon, x) + 4.0 * _kl(mu, lv)).mean(), rel=1e-5)


def test_wae_mmd_rbf():
    """Tolstikhin et al. (2018) Alg. 2: U-statistics within, all pairs across; RBF, C = 2 d s^2."""
    r, x, recon, _, _ = _batch(6)
    z, zp = r.normal(size=(6, D)) + 0.5, r.normal(size=(6, D))
    cfg = build_config("WAE_MMD")
    c = 2.0 * D * cfg.kernel_bandwidth**2

    def k(a, b):
        return np.exp(-((a[:, None] - b[None]) ** 2).sum(-1) / c)

    n = len(z)
    mmd = (k(z, z).sum() - n + k(zp, zp).sum() - n) / (n * (n - 1)) - 2 * k(z, zp).mean()
    sse = ((recon - x) ** 2).reshape(n, -1).sum(-1)
    model = build_model("WAE_MMD")
    loss, _, got_mmd = model.loss_function(_t(recon), _t(x), _t(z), _t(zp))
    assert float(got_mmd) == pytest.approx(mmd, rel=1e-4)
    assert float(loss) == pytest.approx(sse.mean() + cfg.reg_weight * mmd, rel=1e-5)


def test_adversarial_ae_losses():
    """Makhzani et al.: reconstruction + s * BCE(D(z), prior); D separates prior from codes."""
    r, x, recon, _, _ = _batch()
    z, zp = r.normal(size=(5, D)), r.normal(size=(5, D))
    model = build_model("Adversarial_AE")
    _, ae_loss, disc_loss = model.loss_function(_t(recon), _t(x), _t(z), _t(zp))
    with torch.no_grad():
        d_z = model.discriminator(_t(z)).embedding.flatten().double().numpy()
        d_p = model.discriminator(_t(zp)).embedding.flatten().double().numpy()
    s = model.adversarial_loss_scale
    assert float(ae_loss) == pytest.approx((_half_sse(recon, x) - s * np.log(d_z).mean()).mean(), rel=1e-5)
    assert float(disc_loss) == pytest.approx(-np.log(d_p).mean() - np.log(1 - d_z).mean(), rel=1e-5)


def jacobian_logdet(f, z0: torch.Tensor) -> float:
    """log |det df/dz| at one point, from the full autograd Jacobian."""
    jac = torch.autograd.functional.jacobian(lambda v: f(v[None])[0], z0)
    return float(torch.linalg.slogdet(jac)[1])


def test_iaf_log_det():
    """z_K = IAF(z_0) (sampling direction): log_abs_det_jac is log |det dz_K / dz_0|."""
    torch.manual_seed(0)
    model = build_model("VAE_IAF").double().eval()
    for p in model.iaf_flow.parameters():  # move away from the near-identity initialisation
        p.data.add_(0.05 * torch.randn_like(p))
    z0 = torch.randn(3, D, dtype=torch.float64)
    out = model.iaf_flow.inverse(z0)
    for i in range(3):
        want = jacobian_logdet(lambda v: model.iaf_flow.inverse(v).out, z0[i])
        assert float(out.log_abs_det_jac[i]) == pytest.approx(want, rel=1e-6, abs=1e-8)
    assert abs(float(out.log_abs_det_jac[0])) > 0.01  # a non-trivial check


def test_radial_flow_log_det():
    torch.manual_seed(0)
    model = build_model("VAE_LinNF").double().eval()
    z0 = torch.randn(3, D, dtype=torch.float64)
    radial = [layer for layer in model.net if type(layer).__name__ == "RadialFlow"]
    for layer in radial:
        out = layer(z0)
        for i in range(3):
            want = jacobian_logdet(lambda v, lay=layer: lay(v).out, z0[i])
            assert float(out.log_abs_det_jac[i]) == pytest.approx(want, rel=1e-6, abs=1e-8)


def test_svae_vmf_kl():
    """KL(vMF(mu, k) || U(S^{m-1})) = k A_m(k) + log C_m(k) + log |S^{m-1}|, with scipy's ive."""
    model = build_model("SVAE")
    kappa = np.array([[0.5], [5.0], [50.0]])
    m = D
    log_bessel = np.log(ive(m / 2 - 1, kappa)) + kappa
    log_c = (m / 2 - 1) * np.log(kappa) - (m / 2) * np.log(2 * np.pi) - log_bessel
    log_area = np.log(2) + (m / 2) * np.log(np.pi) - loggamma(m / 2)
    want = (kappa * ive(m / 2, kappa) / ive(m / 2 - 1, kappa) + log_c + log_area).ravel()
    got = model._compute_kl(m=m, concentration=_t(kappa)).double().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["AE", "RAE_L2", "RAE_GP"])
def test_deterministic_sampled_reconstruction_is_the_forward_output_bit_for_bit(name: str) -> None:
    """The direct Decoder(E(x)) of the deterministic autoencoders equals what their forward returns."""
    from shared import latent, registry

    torch.manual_seed(0)
    model = registry.build_model(name).eval()
    x = torch.rand(64, 1, 28, 28)
    assert registry.get_spec(name).sampled_recon == "deterministic"
    with torch.enable_grad():  # RAE-GP's forward differentiates inside
        forward = model({"data": x}, epoch=1, dataset_size=len(x), uses_ddp=False).recon_x.detach()
    assert torch.equal(latent.reconstruct_sampled(model, x), forward.reshape(len(x), 1, 28, 28))
