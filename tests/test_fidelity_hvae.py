"""HVAE against Caterini, Doucet & Sejdinovic (2018), computed independently here.

pythae 0.1.2's HVAE (hvae/hvae_model.py) is not a bound (see shared.fixes.HVAE); these tests check
the reductions and pieces of the paper's algorithm that any correct implementation must satisfy,
and that pythae's class fails the first one.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import pythae.models as pm
import torch
from pythae.models.base.base_utils import ModelOutput
from pythae.models.nn import BaseDecoder
from torch import nn

from shared import fixes
from shared.backbone import Encoder
from shared.registry import build_config, build_model

D = 16
pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True:UserWarning")


@pytest.fixture(scope="module")
def digits(embedded_splits) -> torch.Tensor:
    return embedded_splits.train_x[:8].clone()


class SigmoidDecoder(BaseDecoder):
    """Dec(z) = sigmoid(W z + b): no BatchNorm, and a gradient of U written out by hand below."""

    def __init__(self, seed: int = 0):
        BaseDecoder.__init__(self)
        gen = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(0.3 * torch.randn(784, D, generator=gen, dtype=torch.float64))
        self.b = nn.Parameter(0.1 * torch.randn(784, generator=gen, dtype=torch.float64))

    def forward(self, z):
        return ModelOutput(reconstruction=torch.sigmoid(z @ self.w.T + self.b).reshape(len(z), 1, 28, 28))


def _toy_hvae(n_lf: int, eps_lf: float, beta_zero: float) -> fixes.HVAE:
    config = pm.HVAEConfig(input_dim=(1, 28, 28), latent_dim=D, n_lf=n_lf, eps_lf=eps_lf, beta_zero=beta_zero)
    return fixes.HVAE(config, encoder=Encoder(latent_dim=D), decoder=SigmoidDecoder()).double().eval()


def _grad_u(dec: SigmoidDecoder, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """grad_z of U = 0.5 ||x - s(Wz + b)||^2 + 0.5 ||z||^2, by hand: W^T[(s - x) s (1 - s)] + z."""
    s = torch.sigmoid(z @ dec.w.T + dec.b)
    return ((s - x.reshape(len(x), -1)) * s * (1 - s)) @ dec.w + z


def _draws(model: nn.Module, x: torch.Tensor, n: int, seed: int = 0) -> np.ndarray:
    torch.manual_seed(seed)
    return np.array([float(model({"data": x}).loss) for _ in range(n)])


@pytest.mark.slow  # 400 + 100 Monte Carlo passes
def test_no_dynamics_reduces_to_the_elbo(digits):
    """eps_lf = 0, beta_0 = 1: identity dynamics, so E[loss] = recon + KL of the sampled Gaussian.

    pythae's HVAE misses it (its z0 has std softplus(log_var), its entropy -1/2 sum log_var)."""
    torch.manual_seed(0)
    overrides = {"eps_lf": 0.0, "beta_zero": 1.0}
    model = build_model("HVAE", overrides=overrides).eval()
    x = digits
    with torch.no_grad():
        enc = model.encoder(x)
        q = torch.distributions.Normal(enc.embedding, torch.exp(0.5 * enc.log_covariance))
        kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(-1).mean()
        torch.manual_seed(1)
        recon = [
            float((0.5 * (model.decoder(q.sample()).reconstruction - x) ** 2).flatten(1).sum(1).mean())
            for _ in range(400)
        ]
        ours = _draws(model, x, 400)
    want, se_want = float(kl) + np.mean(recon), np.std(recon, ddof=1) / 20
    se = math.hypot(ours.std(ddof=1) / 20, se_want)
    assert abs(ours.mean() - want) < 4 * se, (ours.mean(), want, se)

    twin = pm.HVAE(build_config("HVAE", overrides=overrides), encoder=model.encoder, decoder=model.decoder)
    theirs = _draws(twin.eval(), x, 100)  # needs autograd: pythae's leapfrog calls grad(U, z)
    assert abs(theirs.mean() - want) > 10 * se, (theirs.mean(), want, se)


def test_zero_step_equals_the_per_sample_elbo_for_any_beta(digits):
    """eps_lf = 0, beta_0 = 0.3: rho_K = sqrt(beta_0) rho_0 = gamma, so the momentum terms, the
    log N(rho_0; 0, I/beta_0) normaliser and the (D/2) log beta_0 Jacobian cancel exactly: the loss
    is the single-sample ELBO of the same draw (without the Jacobian it would be off by 9.6)."""
    torch.manual_seed(0)
    model = build_model("HVAE", overrides={"eps_lf": 0.0, "beta_zero": 0.3}).eval()
    with torch.no_grad():
        out = model({"data": digits})
        z0 = out.mu + torch.exp(0.5 * out.log_var) * out.eps0
        sse = ((model.decoder(z0).reconstruction - digits) ** 2).flatten(1).sum(1)
        elbo = -0.5 * sse - 0.5 * (z0**2).sum(1) + 0.5 * (out.log_var + out.eps0**2).sum(1)
    assert float(out.loss) == pytest.approx(float(-elbo.mean()), rel=1e-5)
    assert 0.5 * D * math.log(0.3) == pytest.approx(-9.63, abs=0.01)


def test_one_leapfrog_step_by_hand(digits):
    """Half momentum step, position step with the half-step momentum, half step, tempering."""
    eps, beta0 = 0.05, 0.4
    model = _toy_hvae(n_lf=1, eps_lf=eps, beta_zero=beta0)
    x = digits[:4].double()
    gen = torch.Generator().manual_seed(3)
    z0, rho0 = (
        torch.randn(4, D, generator=gen, dtype=torch.float64),
        torch.randn(4, D, generator=gen).double(),
    )
    with torch.no_grad():
        got = model.flow(z0, rho0, x)
    dec = model.decoder
    rho_half = rho0 - eps / 2 * _grad_u(dec, z0, x)
    z1 = z0 + eps * rho_half
    rho1 = (rho_half - eps / 2 * _grad_u(dec, z1, x)) * math.sqrt(beta0 / 1.0)
    torch.testing.assert_close(got["z"], z1)
    torch.testing.assert_close(got["rho"], rho1)
    # pythae's position update uses the old momentum: a different point
    assert (z0 + eps * rho0 - z1).abs().max() > 1e-4


def _flow_jacobian(model: fixes.HVAE, x: torch.Tensor) -> torch.Tensor:
    def f(v):
        out = model.flow(v[:D][None], v[D:][None], x)
        return torch.cat([out["z"][0], out["rho"][0]])

    v = torch.randn(2 * D, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    return torch.autograd.functional.jacobian(f, v)


def test_leapfrog_preserves_volume_and_tempering_scales_it(digits):
    """det d(z_1, rho_1)/d(z_0, rho_0) = 1 for a leapfrog step; with tempering over K steps it is
    (beta_0 / beta_K)^(D/2), the Jacobian term of the bound."""
    x = digits[:1].double()
    det_lf = torch.linalg.det(_flow_jacobian(_toy_hvae(n_lf=1, eps_lf=0.1, beta_zero=1.0), x))
    assert float(det_lf) == pytest.approx(1.0, abs=1e-8)
    det_t = torch.linalg.det(_flow_jacobian(_toy_hvae(n_lf=3, eps_lf=0.1, beta_zero=0.3), x))
    assert float(det_t) == pytest.approx(0.3 ** (D / 2), rel=1e-6)


def test_tempering_schedule():
    """Quadratic schedule 1/sqrt(beta_k) = (1 - 1/sqrt(beta_0)) (k/K)^2 + 1/sqrt(beta_0)."""
    betas = [float(b) for b in fixes.tempering_schedule(torch.tensor(0.3, dtype=torch.float64), 3)]
    a = 1 / math.sqrt(0.3)
    want = [((1 - a) * (k / 3) ** 2 + a) ** -2 for k in range(4)]
    assert betas == pytest.approx(want, rel=1e-12)
    assert betas[0] == pytest.approx(0.3) and betas[-1] == pytest.approx(1.0)
    assert all(b1 > b0 for b0, b1 in zip(betas, betas[1:], strict=False))


def test_gradients_flow_through_the_dynamics(digits):
    """Variant 'learned': the loss depends on eps and beta_0 only through the dynamics and the bound's
    terms, so both get gradients; the decoder's gradient differs from a pass that stops gradients
    through grad U (pythae's grad(U, z) without create_graph)."""
    torch.manual_seed(0)
    model = build_model("HVAE", variant="learned", overrides={"eps_lf": 0.05})
    torch.manual_seed(1)
    model({"data": digits}).loss.backward()
    assert model.eps_lf_learned.grad.abs().sum() > 0
    assert model.beta_zero_logit.grad.abs() > 0
    assert float(model.beta_zero()) == pytest.approx(0.3, rel=1e-6)

    def stopped_energy(m, z, x, track):
        u, recon = m.potential(z, x)
        (grad_u,) = torch.autograd.grad(u.sum(), z, retain_graph=True)  # no create_graph: pythae's
        return z, u, recon, grad_u

    def decoder_grad(through_dynamics: bool) -> torch.Tensor:
        torch.manual_seed(0)
        m = build_model("HVAE", overrides={"eps_lf": 0.05})
        if not through_dynamics:
            m._energy = lambda z, x, track: stopped_energy(m, z, x, track)
        torch.manual_seed(1)
        m({"data": digits}).loss.backward()
        return torch.cat([p.grad.flatten() for p in m.decoder.parameters()])

    assert not torch.allclose(decoder_grad(True), decoder_grad(False))


def test_runs_under_no_grad(digits):
    torch.manual_seed(0)
    model = build_model("HVAE").eval()
    with torch.no_grad():
        out = model({"data": digits[:2]})
    assert math.isfinite(float(out.loss)) and not out.loss.requires_grad
