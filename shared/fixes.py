"""Subclasses of pythae 0.1.2 models that make each compute the objective its paper defines.

Every class here names the pythae file it corrects, what pythae does there, the paper it follows
and, where one exists, the pythae issue. ``tests/test_fidelity*.py`` checks each against an
independent computation of the paper's formula and shows that pythae's own class differs.

Conventions kept from pythae (so losses stay comparable across models): the decoder is a
unit-variance Gaussian whose negative log-likelihood is 0.5 * sum of squared errors (constants
dropped); Gaussian log-densities drop the 0.5 * log(2 pi) terms that cancel in log p(z) - log q(z|x).
Paths are relative to ``site-packages/pythae/models``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import pythae.models as pm
import torch
import torch.nn.functional as F
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pythae.models.base.base_utils import ModelOutput
from pythae.models.normalizing_flows import PlanarFlow
from pythae.models.vq_vae.vq_vae_utils import Quantizer, QuantizerEMA
from torch import nn

# ----------------------------------------------------------------------------------------------
# BatchNorm helpers
# ----------------------------------------------------------------------------------------------


def _batchnorms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextmanager
def batchnorm_in_eval(module: nn.Module) -> Iterator[None]:
    """Run ``module``'s BatchNorm layers on their running statistics, without updating them.

    Why: an auxiliary pass (VAMP's pseudo-inputs) must not pollute the statistics that
    evaluation uses, and must use the same normalisation as evaluation will.
    """
    switched = [m for m in _batchnorms(module) if m.training]
    for m in switched:
        m.eval()
    try:
        yield
    finally:
        for m in switched:
            m.train()


@contextmanager
def batchnorm_stats_frozen(module: nn.Module) -> Iterator[None]:
    """Keep batch statistics for normalisation but leave the running statistics untouched.

    Why: a second pass of the same batch through the decoder (PIWAE, VAE-GAN, to route each
    loss's gradient to its own network) must not move the running statistics twice.
    """
    saved = [(m, m.momentum) for m in _batchnorms(module)]
    for m, _ in saved:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in saved:
            m.momentum = momentum


# ----------------------------------------------------------------------------------------------
# Importance-weighted family (IWAE, CIWAE, MIWAE, PIWAE)
# ----------------------------------------------------------------------------------------------


def _neg_log_lik(model: nn.Module, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) up to constants, summed over pixels (pythae's 'mse' / 'bce')."""
    if model.model_config.reconstruction_loss == "bce":
        return F.binary_cross_entropy(recon, target, reduction="none").sum(dim=-1)
    return 0.5 * F.mse_loss(recon, target, reduction="none").sum(dim=-1)


def importance_log_weights(
    model: nn.Module, x: torch.Tensor, sample_shape: tuple[int, ...]
) -> dict[str, torch.Tensor]:
    """log w = log p(x|z) + log p(z) - log q(z|x) for z ~ q(z|x), shape [B, *sample_shape].

    Also returns the pieces the losses need: the decoded images [B, *sample_shape, P], the
    samples, the parameters of q, and the prior/posterior log-densities (pythae's conventions).
    """
    b = len(x)
    enc = model.encoder(x)
    view = (b,) + (1,) * len(sample_shape) + (-1,)
    mu, log_var = enc.embedding.reshape(view), enc.log_covariance.reshape(view)
    std = torch.exp(0.5 * log_var)
    eps = torch.randn((b, *sample_shape, mu.shape[-1]), device=x.device, dtype=mu.dtype)
    z = mu + std * eps
    recon = model.decoder(z.reshape(-1, mu.shape[-1])).reconstruction.reshape(b, *sample_shape, -1)
    target = x.reshape(view).expand_as(recon)
    recon_loss = _neg_log_lik(model, recon, target)
    log_q = (-0.5 * (log_var + (z - mu) ** 2 / log_var.exp())).sum(dim=-1)
    log_p = (-0.5 * z**2).sum(dim=-1)
    return {
        "log_w": -recon_loss + log_p - log_q,
        "recon": recon,
        "target": target,
        "z": z,
        "recon_loss": recon_loss,
        "kld": log_q - log_p,
        "log_p": log_p,
        "log_q": log_q,
    }


def log_mean_exp(log_w: torch.Tensor, dim: int) -> torch.Tensor:
    """log (1/K) sum_k exp(log_w_k): the K-sample importance-weighted bound on log p(x)."""
    return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])


def _iw_output(loss: torch.Tensor, iw: dict, x: torch.Tensor) -> ModelOutput:
    """pythae's output fields for a K-sample model: recon_x and z are the first sample's."""
    return ModelOutput(
        loss=loss,
        recon_loss=iw["recon_loss"].mean(),
        reg_loss=iw["kld"].mean(),
        recon_x=iw["recon"][:, 0].reshape_as(x),
        z=iw["z"][:, 0],
    )


class IWAE(pm.IWAE):
    """IWAE whose reported loss is the IWAE bound itself (Burda et al. 2016).

    pythae (iwae/iwae_model.py, ``loss_function``) returns the gradient surrogate
    -sum_k stopgrad(w~_k) log w_k: its *gradient* is that of the bound, its *value* is not (it
    exceeds -log mean_k w_k by log K - H(w~)). The value matters here because validation loss
    picks the best epoch. This class returns -log (1/K) sum_k w_k: same gradient, true value.
    """

    def forward(self, inputs, **kwargs) -> ModelOutput:
        x = inputs["data"]
        iw = importance_log_weights(self, x, (self.n_samples,))
        return _iw_output(-log_mean_exp(iw["log_w"], dim=1).mean(), iw, x)


class CIWAE(pm.CIWAE):
    """CIWAE with the true value of beta * ELBO + (1 - beta) * IWAE_K (Rainforth et al. 2018).

    pythae (ciwae/ciwae_model.py, ``loss_function``) uses the IWAE gradient surrogate for the
    IWAE part (right gradient, wrong value, see ``IWAE``); this class reports the bound.
    """

    def forward(self, inputs, **kwargs) -> ModelOutput:
        x = inputs["data"]
        iw = importance_log_weights(self, x, (self.n_samples,))
        elbo = iw["log_w"].mean(dim=1)
        iwae = log_mean_exp(iw["log_w"], dim=1)
        return _iw_output(-(self.beta * elbo + (1 - self.beta) * iwae).mean(), iw, x)


def miwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """MIWAE_{M,K} per image from log-weights [B, M, K]: (1/M) sum_m log (1/K) sum_k w_mk."""
    return log_mean_exp(log_w, dim=2).mean(dim=1)


class MIWAE(pm.MIWAE):
    """MIWAE with the importance weights normalised over K, as Rainforth et al. (2018) define.

    pythae (miwae/miwae_model.py, ``loss_function``): log_w has shape [B, M, K]
    (M = number_gradient_estimates, K = number_samples) but ``w.sum(axis=1)`` and ``.sum(1)``
    normalise and sum over axis 1 = M, then average over K: it computes MIWAE_{K,M}, i.e.
    ``number_samples`` and ``number_gradient_estimates`` swap roles. This class averages M
    independent K-sample IWAE bounds and reports the bound's value (same gradient as the
    surrogate with the right axis).
    """

    def forward(self, inputs, **kwargs) -> ModelOutput:
        x = inputs["data"]
        iw = importance_log_weights(self, x, (self.gradient_n_estimates, self.n_samples))
        loss = -miwae_bound(iw["log_w"]).mean()
        return ModelOutput(
            loss=loss,
            recon_loss=iw["recon_loss"].mean(),
            reg_loss=iw["kld"].mean(),
            recon_x=iw["recon"][:, 0, 0].reshape_as(x),
            z=iw["z"][:, 0, 0],
        )


class PIWAE(pm.PIWAE):
    """PIWAE: encoder on MIWAE_{M,K}, decoder on IWAE_{M*K}, each gradient to its own network.

    pythae (piwae/piwae_model.py, ``loss_function``) has MIWAE's axis error (see ``MIWAE``), and
    with pythae's CoupledOptimizerTrainer (trainers/coupled_optimizer_trainer, whose order our
    loop reproduces) the decoder loss's backward also lands in the encoder's gradients, so the
    encoder is trained on MIWAE + IWAE. Rainforth et al. (2018, Alg. "PIWAE") update phi with
    grad_phi MIWAE and theta with grad_theta IWAE. Here the decoder loss is computed on a second
    decoder pass of the *detached* samples, so it reaches the decoder only. Its value equals the
    IWAE_{M*K} bound; ``loss`` reports that bound (the model's fit).
    """

    def forward(self, inputs, **kwargs) -> ModelOutput:
        x = inputs["data"]
        m, k = self.gradient_n_estimates, self.n_samples
        iw = importance_log_weights(self, x, (m, k))
        encoder_loss = -miwae_bound(iw["log_w"]).mean()
        z = iw["z"].detach()
        with batchnorm_stats_frozen(self.decoder):
            recon = self.decoder(z.reshape(-1, z.shape[-1])).reconstruction.reshape(len(x), m, k, -1)
        prior_minus_q = (iw["log_p"] - iw["log_q"]).detach()
        log_w_dec = -_neg_log_lik(self, recon, iw["target"]) + prior_minus_q
        decoder_loss = -log_mean_exp(log_w_dec.reshape(len(x), m * k), dim=1).mean()
        return ModelOutput(
            loss=decoder_loss,
            encoder_loss=encoder_loss,
            decoder_loss=decoder_loss,
            update_encoder=True,
            update_decoder=True,
            recon_loss=iw["recon_loss"].mean(),
            reg_loss=iw["kld"].mean(),
            recon_x=iw["recon"][:, 0, 0].reshape_as(x),
            z=iw["z"][:, 0, 0],
        )


# ----------------------------------------------------------------------------------------------
# Hamiltonian VAE
# ----------------------------------------------------------------------------------------------


def tempering_schedule(beta_zero: torch.Tensor, n_steps: int) -> list[torch.Tensor]:
    """Inverse temperatures beta_0..beta_K of Caterini et al.'s (2018) quadratic tempering:
    1 / sqrt(beta_k) = (1 - 1 / sqrt(beta_0)) (k / K)^2 + 1 / sqrt(beta_0), so beta_K = 1."""
    inv_sqrt0 = beta_zero.rsqrt()
    k_max = max(n_steps, 1)
    return [((1 - inv_sqrt0) * (k / k_max) ** 2 + inv_sqrt0) ** -2 for k in range(n_steps + 1)]


class HVAE(pm.HVAE):
    """The Hamiltonian VAE of Caterini, Doucet & Sejdinovic (2018): a bound on log p(x).

    pythae (hvae/hvae_model.py, ``forward`` and ``loss_function``) is not that model: z0 is
    drawn with std = softplus(log_var) while the entropy term is -1/2 sum log_var (no bound);
    the position update uses the old momentum, not the half-step one; the tempered momentum is
    overwritten on the next line (``rho = rho__``: no tempering); ``grad(U, z)`` has no
    ``create_graph`` (no gradient through the dynamics); the rho_0 and (D/2) log beta_0 terms
    are missing. Here, with U(z) = -log p(x, z) (pythae's conventions: 0.5 SSE, N(0, I) prior):
    z0 = mu + sigma * eps, rho0 = gamma / sqrt(beta_0), gamma ~ N(0, I); K leapfrog steps
    (half momentum step, full position step with the half-step momentum, half momentum step),
    each followed by tempering rho <- sqrt(beta_{k-1} / beta_k) rho; and the extended-space ELBO

        log p(x, z_K) + log N(rho_K; 0, I) - log q(z_0|x) - log N(rho_0; 0, I / beta_0)
        + (D/2) log(beta_0 / beta_K)          (the Jacobian of tempering; leapfrog has det 1)

    with gradients through the dynamics. Gradients of U are taken in training and evaluation
    alike (``torch.enable_grad``), so the class also runs under ``torch.no_grad``.
    Learned step size and temperature (config ``learn_eps_lf`` / ``learn_beta_zero``, variant
    'learned' as in the paper): one step size per latent dimension, unconstrained (leapfrog is
    volume-preserving for any step), and beta_0 = sigmoid(logit) in (0, 1).
    """

    def __init__(self, model_config, encoder=None, decoder=None):
        super().__init__(model_config=model_config, encoder=encoder, decoder=decoder)
        del self.eps_lf, self.beta_zero_sqrt  # pythae's unconstrained parameters, replaced below
        eps = torch.tensor(float(model_config.eps_lf))
        beta = torch.tensor(float(model_config.beta_zero))
        if model_config.learn_eps_lf:
            self.eps_lf_learned = nn.Parameter(eps.repeat(model_config.latent_dim))
        else:
            self.register_buffer("eps_lf_fixed", eps)
        if model_config.learn_beta_zero:
            self.beta_zero_logit = nn.Parameter(torch.logit(beta))
        else:
            self.register_buffer("beta_zero_fixed", beta)

    def step_size(self) -> torch.Tensor:
        return self.eps_lf_learned if self.model_config.learn_eps_lf else self.eps_lf_fixed

    def beta_zero(self) -> torch.Tensor:
        learned = self.model_config.learn_beta_zero
        return torch.sigmoid(self.beta_zero_logit) if learned else self.beta_zero_fixed

    def potential(self, z: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """U(z) = -log p(x, z) per image (constants dropped) and the decoded images."""
        recon = self.decoder(z)["reconstruction"]
        u = _neg_log_lik(self, recon.reshape(len(x), -1), x.reshape(len(x), -1)) + 0.5 * z.pow(2).sum(-1)
        return u, recon

    def _energy(self, z: torch.Tensor, x: torch.Tensor, track: bool):
        """U(z), the decoded images and grad_z U (differentiable when ``track``)."""
        if not track:
            z = z.detach().requires_grad_(True)
        u, recon = self.potential(z, x)
        (grad_u,) = torch.autograd.grad(u.sum(), z, create_graph=track)
        return z, u, recon, grad_u

    def flow(self, z0: torch.Tensor, rho0: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Tempered leapfrog dynamics from (z0, rho0): z_K, rho_K, U(z_K), Dec(z_K) and the log
        Jacobian determinant of the map, (D/2) log(beta_0 / beta_K) (leapfrog steps have det 1).

        The decoder passes at z_0 .. z_{K-1} leave BatchNorm's running statistics alone, so a
        training step updates them once, at z_K, as every other model's step does."""
        track = torch.is_grad_enabled()
        eps, betas = self.step_size(), tempering_schedule(self.beta_zero(), self.n_lf)

        def energy_at(z: torch.Tensor, k: int):
            with batchnorm_stats_frozen(self.decoder) if k < self.n_lf else nullcontext():
                return self._energy(z, x, track)

        with torch.enable_grad():
            z, u, recon, grad_u = energy_at(z0, 0)
            rho = rho0
            for k in range(1, self.n_lf + 1):
                rho_half = rho - eps / 2 * grad_u
                z, u, recon, grad_u = energy_at(z + eps * rho_half, k)
                rho = (rho_half - eps / 2 * grad_u) * (betas[k - 1] / betas[k]).sqrt()
        if not track:
            z, u, recon, rho = z.detach(), u.detach(), recon.detach(), rho.detach()
        log_det = 0.5 * z0.shape[-1] * torch.log(betas[0] / betas[-1])
        return {"z": z, "rho": rho, "potential": u, "recon": recon, "log_det": log_det}

    def forward(self, inputs, **kwargs) -> ModelOutput:
        x = inputs["data"]
        enc = self.encoder(x)
        mu, log_var = enc.embedding, enc.log_covariance
        eps0 = torch.randn_like(mu)
        z0 = mu + torch.exp(0.5 * log_var) * eps0
        gamma = torch.randn_like(z0)
        beta0 = self.beta_zero()
        rho0 = gamma / beta0.sqrt()
        out = self.flow(z0, rho0, x)
        log_q_z0 = (-0.5 * (log_var + eps0**2)).sum(-1)
        log_p_rho0 = -0.5 * beta0 * rho0.pow(2).sum(-1) + 0.5 * mu.shape[-1] * torch.log(beta0)
        log_p_rho_k = -0.5 * out["rho"].pow(2).sum(-1)
        elbo = -out["potential"] + log_p_rho_k - log_q_z0 - log_p_rho0 + out["log_det"]
        recon_loss = _neg_log_lik(self, out["recon"].reshape(len(x), -1), x.reshape(len(x), -1))
        return ModelOutput(
            loss=-elbo.mean(),
            recon_loss=recon_loss.mean(),
            reg_loss=(-elbo - recon_loss).mean(),
            recon_x=out["recon"].reshape_as(x),
            z=out["z"],
            z0=z0,
            rho=out["rho"],
            rho0=rho0,
            eps0=eps0,
            gamma=gamma,
            mu=mu,
            log_var=log_var,
        )


def hvae_metrics(model: nn.Module, val_x: torch.Tensor) -> dict[str, float]:
    """Per-epoch step size, beta_0 and how far the dynamics move z (mean ||z_K - z_0||, against
    the posterior's own spread mean ||z_0 - mu||): with a tiny step the flow is nearly idle."""
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(0)  # own generator: measuring must not move training's RNG
    x = val_x[:256]
    with torch.no_grad():
        enc = model.encoder(x)
        noise = torch.randn((2, *enc.embedding.shape), generator=gen).to(x.device)
        spread = torch.exp(0.5 * enc.log_covariance) * noise[0]
        z0 = enc.embedding + spread
        out = model.flow(z0, noise[1] / model.beta_zero().sqrt(), x)
    model.train(was_training)
    return {
        "eps_lf": float(model.step_size().detach().mean()),
        "beta_zero": float(model.beta_zero().detach()),
        "flow_shift": float((out["z"] - z0).norm(dim=-1).mean()),
        "posterior_spread": float(spread.norm(dim=-1).mean()),
    }


# ----------------------------------------------------------------------------------------------
# β-TCVAE
# ----------------------------------------------------------------------------------------------


def mss_log_weight_matrix(batch_size: int, dataset_size: int) -> torch.Tensor:
    """log of Chen et al.'s minibatch-stratified-sampling weights, W[i, j] for q(z_i | x_j).

    Row i: 1/N for its own image (j = i), (N - M)/(N M) for one other image, 1/M for the
    remaining M - 1 (M = batch_size - 1); each row sums to 1.
    """
    n, m = dataset_size, batch_size - 1
    w = torch.full((batch_size, batch_size), 1.0 / m)
    idx = torch.arange(batch_size)
    w[idx, idx] = 1.0 / n
    w[idx, (idx + 1) % batch_size] = (n - m) / (n * m)
    return w.log()


class BetaTCVAE(pm.BetaTCVAE):
    """β-TCVAE with the stratified weights on the diagonal, as Chen et al. (2018) define them.

    pythae (beta_tc_vae/beta_tc_vae_model.py, ``_log_importance_weight_matrix``) copies the
    authors' code: ``W.view(-1)[::M + 1]`` with M + 1 = batch size strides down *column 0*, not
    the diagonal, so every z_i is weighted as if it came from image 0 and its own image gets
    1/M instead of 1/N. Known upstream: rtqichen/beta-tcvae PR #1, YannDubs/disentangling-vae
    #58. This class puts 1/N on the diagonal.
    """

    def _log_importance_weight_matrix(self, batch_size, dataset_size):
        return mss_log_weight_matrix(batch_size, dataset_size)


# ----------------------------------------------------------------------------------------------
# FactorVAE
# ----------------------------------------------------------------------------------------------


class FactorVAE(pm.FactorVAE):
    """FactorVAE whose discriminator loss does not train the encoder (Kim & Mnih 2018, Alg. 2).

    pythae (factor_vae/factor_vae_model.py, ``loss_function``) scores the un-detached z in the
    discriminator's cross-entropy. With the AdversarialTrainer's step (trainers/
    adversarial_trainer: ae.zero_grad; autoencoder_loss.backward; disc.zero_grad;
    discriminator_loss.backward; ae.step; disc.step), that loss's gradient is added to the
    encoder's: the encoder is also trained to make its codes *easier* to tell from permuted
    ones, against the γ·TC term. Kim & Mnih update the discriminator on its own loss only.
    Everything else is pythae's (and matches the paper): the density-ratio estimate
    TC ≈ E[logit_real - logit_permuted], permuted codes from the other half of the batch.
    """

    def loss_function(self, recon_x, x, mu, log_var, z, z_bis_permuted):
        recon_loss = _neg_log_lik(self, recon_x.reshape(len(x), -1), x.reshape(len(x), -1))
        kld = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=-1)
        scores = self.discriminator(z)
        tc = (scores[:, 0] - scores[:, 1]).mean()
        autoencoder_loss = recon_loss + kld + self.gamma * tc
        real = self.discriminator(z.detach())
        permuted = self.discriminator(z_bis_permuted.detach())
        zeros = torch.zeros(len(real), dtype=torch.long, device=z.device)
        ones = torch.ones(len(permuted), dtype=torch.long, device=z.device)
        discriminator_loss = 0.5 * (F.cross_entropy(real, zeros) + F.cross_entropy(permuted, ones))
        return recon_loss.mean(), autoencoder_loss.mean(), discriminator_loss


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each latent dimension shuffled independently across the batch (Kim & Mnih, Alg. 1)."""
    cols = [z[torch.randperm(len(z), generator=generator), j] for j in range(z.shape[1])]
    return torch.stack(cols, dim=1)


@torch.no_grad()
def factor_vae_metrics(model: nn.Module, val_x: torch.Tensor) -> dict[str, float]:
    """Discriminator accuracy on validation codes vs their permutation, and its TC estimate.

    Why: a discriminator loss at ln 2 means either "q(z) is factorised" or "the discriminator
    learns nothing"; accuracy and the TC estimate on held-out codes tell the two apart.
    """
    was_training = model.training
    model.eval()
    enc = model.encoder(val_x)
    gen = torch.Generator().manual_seed(0)  # own generator: measuring must not move training's RNG
    eps = torch.randn(enc.embedding.shape, generator=gen).to(enc.embedding.device)
    z = enc.embedding + torch.exp(0.5 * enc.log_covariance) * eps
    perm = permute_dims(z.cpu(), gen).to(z.device)
    real, fake = model.discriminator(z), model.discriminator(perm)
    acc = 0.5 * ((real.argmax(1) == 0).float().mean() + (fake.argmax(1) == 1).float().mean())
    model.train(was_training)
    return {"disc_accuracy": float(acc), "tc_estimate": float((real[:, 0] - real[:, 1]).mean())}


# ----------------------------------------------------------------------------------------------
# VAMP
# ----------------------------------------------------------------------------------------------


class VAMP(pm.VAMP):
    """VAMP whose pseudo-inputs do not touch the encoder's BatchNorm running statistics.

    pythae (vamp/vamp_model.py, ``_log_p_z``) encodes the C pseudo-inputs with the encoder in
    whatever mode it is in: during training every step feeds BatchNorm a batch of C = 500
    pseudo-images, whose statistics then dominate the running averages that evaluation uses
    (eval-mode results far worse than train-mode ones). Tomczak & Welling's prior is
    p(z) = (1/C) sum_k q(z|u_k) with the *same* encoder that evaluation uses, so here the
    pseudo-inputs pass through the encoder with BatchNorm on its running statistics (no update).
    """

    def _log_p_z(self, z):
        with batchnorm_in_eval(self.encoder):
            return super()._log_p_z(z)


# ----------------------------------------------------------------------------------------------
# RAE-GP
# ----------------------------------------------------------------------------------------------


class RAE_GP(pm.RAE_GP):
    """RAE-GP with the gradient penalty taken w.r.t. the code z, as Ghosh et al. (2020) define.

    pythae (rae_gp/rae_gp_model.py, ``_compute_gp``) differentiates the reconstruction w.r.t.
    the *input image* x (784 dims, through encoder and decoder). The paper's
    L_GP = ||grad_{E(x)} D(E(x))||^2 is the decoder's gradient at the code; the authors' code
    (ParthaEth/Regularized_autoencoders-RAE-, models/rae/loss_functions.py) differentiates
    w.r.t. the embedding too. Like pythae, the vector output is contracted with ones
    (grad of sum_pixels D(z)). The penalty needs autograd also at evaluation.

    The penalty is a property of the decoder *per image*. In training mode BatchNorm normalises
    over the batch, so grad_z of the batch's summed output mixes images (and is nearly zero: a
    batch-normalised channel sums to a constant), while evaluation's running statistics give
    the per-image gradient. pythae's penalty is therefore ~0.1 in training and ~50 at
    validation (probe, λ = 10): training does not control what validation measures. Here the
    penalty is computed on a second decoder pass with BatchNorm on its running statistics
    (``batchnorm_in_eval``): the per-image decoder that evaluation uses, in both modes.
    """

    def forward(self, inputs, **kwargs) -> ModelOutput:
        x = inputs["data"]
        with torch.enable_grad():
            z = self.encoder(x).embedding
            if not z.requires_grad:  # frozen encoder: still differentiate the decoder at z
                z = z.detach().requires_grad_(True)
            recon_x = self.decoder(z)["reconstruction"]
            with batchnorm_in_eval(self.decoder):
                per_image = self.decoder(z)["reconstruction"]
            (grad_z,) = torch.autograd.grad(per_image.sum(), z, create_graph=True)
        recon_loss = F.mse_loss(recon_x.reshape(len(x), -1), x.reshape(len(x), -1), reduction="none").sum(-1)
        gen_reg_loss = grad_z.reshape(len(x), -1).pow(2).sum(-1)
        embedding_loss = 0.5 * z.reshape(len(x), -1).pow(2).sum(-1)
        loss = (
            recon_loss
            + self.model_config.embedding_weight * embedding_loss
            + self.model_config.reg_weight * gen_reg_loss
        )
        return ModelOutput(
            loss=loss.mean(),
            recon_loss=recon_loss.mean(),
            gen_reg_loss=gen_reg_loss.mean(),
            embedding_loss=embedding_loss.mean(),
            recon_x=recon_x,
            z=z,
        )


# ----------------------------------------------------------------------------------------------
# VQ-VAE
# ----------------------------------------------------------------------------------------------


#: VQ-VAE latent layouts of a flat [B, D] code (config ``code_layout``): the latent map [B, H, W, C]
#: that is quantised position by position, C being the codebook vectors' size.
CODE_LAYOUTS = ("positions", "vector")


@pydantic_dataclass
class VQVAEConfig(pm.VQVAEConfig):
    """pythae's VQ-VAE config plus the layout of a flat code (see ``CODE_LAYOUTS``).

    "positions" (default): D latent positions with a 1-d codebook of 512 scalars each -- what
    pythae 0.1.2 does with a flat code, so what the study ran (D x 9 bits per image).
    "vector": one D-dimensional codebook vector per image (at most 512 distinct codes).
    """

    code_layout: str = "positions"

    def __post_init__(self):
        super().__post_init__()
        if self.code_layout not in CODE_LAYOUTS:
            raise ValueError(f"code_layout must be one of {CODE_LAYOUTS}, got {self.code_layout!r}")


class VQVAE(pm.VQVAE):
    """VQ-VAE with a declared code layout and per-position squared-L2 VQ losses.

    Layout (``VQVAEConfig.code_layout``): pythae (vq_vae/vq_vae_model.py, ``_set_quantizer`` and
    ``forward``) reshapes a flat [B, D] code to [B, 1, 1, D] and permutes it to [B, 1, D, 1]: D
    latent positions, embedding_dim 1, each coordinate quantised against 512 learned scalars
    (pythae issue #138 reads it as a bug; it is van den Oord et al.'s per-position quantisation
    with 1-d embeddings). That is the default here, as the study ran it; "vector" treats the
    code as a 1 x 1 map with D channels: one D-dimensional codebook vector per image.
    pythae 0.1.2 (vq_vae/vq_vae_utils.py) also takes the *mean* over the code's coordinates in
    the commitment and codebook losses (fixed upstream in pythae #124/#125), which divides them
    by D relative to the paper's ||z_e - sg(e)||^2. Here they are squared L2 norms per latent
    position, summed over positions, averaged over the batch like the reconstruction term.
    """

    def _set_quantizer(self, model_config):
        z = self.encoder(torch.randn((2,) + tuple(model_config.input_dim))).embedding
        self.model_config.embedding_dim = self.as_grid(z).shape[-1]
        self.quantizer = (QuantizerEMA if model_config.use_ema else Quantizer)(model_config=model_config)

    def as_grid(self, embedding: torch.Tensor) -> torch.Tensor:
        """[B, D] or [B, C, H, W] -> [B, H, W, C], one codebook vector per latent position."""
        if embedding.dim() == 2:
            if getattr(self.model_config, "code_layout", "positions") == "vector":
                embedding = embedding.reshape(len(embedding), -1, 1, 1)
            else:
                embedding = embedding.reshape(len(embedding), 1, 1, -1).permute(0, 1, 3, 2)
        return embedding.permute(0, 2, 3, 1)

    def quantize_embedding(self, embedding: torch.Tensor, uses_ddp: bool = False) -> ModelOutput:
        """Quantise an encoder output; ``z`` has the encoder's shape (straight-through)."""
        grid = self.as_grid(embedding)
        out = self.quantizer(grid, uses_ddp=uses_ddp)
        z_q = out.quantized_vector.reshape(embedding.shape)
        return ModelOutput(z=z_q, grid=grid, codes=out.quantized_vector.permute(0, 2, 3, 1), out=out)

    def forward(self, inputs, **kwargs) -> ModelOutput:
        x = inputs["data"]
        q = self.quantize_embedding(self.encoder(x).embedding, uses_ddp=kwargs.pop("uses_ddp", False))
        recon_x = self.decoder(q.z).reconstruction
        recon_loss = F.mse_loss(recon_x.reshape(len(x), -1), x.reshape(len(x), -1), reduction="none").sum(-1)
        vq_loss = self._vq_loss(q.grid, q.codes, q.out.quantized_indices)
        return ModelOutput(
            loss=(recon_loss + vq_loss).mean(),
            recon_loss=recon_loss.mean(),
            vq_loss=vq_loss.mean(),
            recon_x=recon_x,
            z=q.z,
            quantized_indices=q.out.quantized_indices,
        )

    def _vq_loss(self, grid: torch.Tensor, codes: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """beta ||z_e - sg(e)||^2 (+ ||sg(z_e) - e||^2 without EMA), per image."""
        commitment = (grid - codes.detach()).pow(2).flatten(1).sum(-1)
        loss = self.model_config.commitment_loss_factor * commitment
        if not self.model_config.use_ema:
            e = self.quantizer.embeddings.weight[indices.reshape(grid.shape[:-1])]
            codebook = (grid.detach() - e).pow(2).flatten(1).sum(-1)
            loss = loss + self.model_config.quantization_loss_factor * codebook
        return loss


def codebook(model: nn.Module) -> torch.Tensor:
    """The VQ-VAE codebook [K, D], EMA buffer or learned embedding."""
    q = model.quantizer
    return q.embeddings if torch.is_tensor(q.embeddings) else q.embeddings.weight


@torch.no_grad()
def vq_code_indices(model: VQVAE, x: torch.Tensor) -> torch.Tensor:
    """Nearest-codebook index of every latent position of ``x`` (eval mode, no EMA update)."""
    was_training = model.training
    model.eval()
    grid = model.as_grid(model.encoder(x).embedding)
    flat = grid.reshape(-1, grid.shape[-1])
    idx = torch.cdist(flat, codebook(model)).argmin(dim=1)
    model.train(was_training)
    return idx


def codebook_usage(indices: torch.Tensor, num_embeddings: int) -> dict[str, float]:
    """Distinct codes used and perplexity exp(H(p)) of the code frequencies p."""
    counts = torch.bincount(indices.flatten(), minlength=num_embeddings).double()
    p = counts / counts.sum()
    nz = p[p > 0]
    return {"codes_used": float((counts > 0).sum()), "perplexity": float(torch.exp(-(nz * nz.log()).sum()))}


def vq_metrics(model: nn.Module, val_x: torch.Tensor) -> dict[str, float]:
    """Per-epoch codebook usage and perplexity on the validation images, and how many distinct
    whole-image codes they get (the layout's capacity: one 16-d code gives at most 512)."""
    idx = vq_code_indices(model, val_x)
    usage = codebook_usage(idx, model.model_config.num_embeddings)
    usage["distinct_image_codes"] = float(len(torch.unique(idx.reshape(len(val_x), -1), dim=0)))
    return usage


# ----------------------------------------------------------------------------------------------
# MS-SSIM VAE
# ----------------------------------------------------------------------------------------------


def _gaussian_window(size: int, sigma: float = 1.5) -> torch.Tensor:
    g = torch.tensor([math.exp(-((i - size // 2) ** 2) / (2 * sigma**2)) for i in range(size)])
    g = g / g.sum()
    return (g[:, None] @ g[None, :])[None, None]


MSSSIM_WEIGHTS = {  # pythae's per-size choice (msssim_vae_utils.py); 5 scales need >= 32 px
    5: (0.0448, 0.2856, 0.3001, 0.2363, 0.1333),
    4: (0.3117, 0.3384, 0.2675, 0.0824),
}


def ms_ssim_per_image(img1: torch.Tensor, img2: torch.Tensor, window_size: int = 11) -> torch.Tensor:
    """MS-SSIM of each image pair [B], Wang et al. (2003): prod_{j<M} cs_j^w_j * ssim_M^w_M.

    Window, zero padding, constants, scale weights and the (v + 1) / 2 mapping are pythae's
    (msssim_vae_utils.py); what differs is per-image values and the exponent of the last scale.
    """
    side = min(img1.shape[-2:])
    weights = MSSSIM_WEIGHTS[5 if side >= 32 else 4] if side >= 16 else None
    if weights is None:
        raise ValueError("images smaller than 16 px are not supported")
    w = torch.tensor(weights, dtype=img1.dtype, device=img1.device)
    window = _gaussian_window(window_size).to(img1)
    pad = window_size // 2
    c1, c2 = 0.01**2, 0.03**2
    sims, css = [], []
    for level in range(len(weights)):
        mu1, mu2 = F.conv2d(img1, window, padding=pad), F.conv2d(img2, window, padding=pad)
        s11 = F.conv2d(img1 * img1, window, padding=pad) - mu1**2
        s22 = F.conv2d(img2 * img2, window, padding=pad) - mu2**2
        s12 = F.conv2d(img1 * img2, window, padding=pad) - mu1 * mu2
        cs_map = (2 * s12 + c2) / (s11 + s22 + c2)
        ssim_map = (2 * mu1 * mu2 + c1) / (mu1**2 + mu2**2 + c1) * cs_map
        css.append(cs_map.flatten(1).mean(-1))
        sims.append(ssim_map.flatten(1).mean(-1))
        if level < len(weights) - 1:
            img1, img2 = F.avg_pool2d(img1, 2), F.avg_pool2d(img2, 2)
    cs = (torch.stack(css, dim=1) + 1) / 2
    sim = (torch.stack(sims, dim=1) + 1) / 2
    return (cs[:, :-1] ** w[:-1]).prod(dim=1) * sim[:, -1] ** w[-1]


class MSSSIM_VAE(pm.MSSSIM_VAE):
    """MS-SSIM-VAE with a per-image MS-SSIM and the right exponent on the last scale.

    pythae (msssim_vae/msssim_vae_utils.py, ``MSSSIM.forward``, from jorge-pessoa/pytorch-msssim)
    computes ``prod(pow1[:-1] * pow2[-1])``: the last scale's SSIM is multiplied in once per
    coarser scale, i.e. raised to w_M * (M - 1) instead of w_M; and it returns one scalar for
    the whole batch (means pooled over all images), so the "per-image" reconstruction term of
    the ELBO is a batch statistic. Here: 1 - MS-SSIM(x_i, x^_i) per image, Wang et al.'s
    product. For 28x28 images pythae (and this class) uses 4 scales with weights
    (0.3117, 0.3384, 0.2675, 0.0824), not the 5 scales the study states.
    """

    def loss_function(self, recon_x, x, mu, log_var, z):
        recon_loss = 1 - ms_ssim_per_image(recon_x, x, self.model_config.window_size)
        kld = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=-1)
        return (recon_loss + self.beta * kld).mean(dim=0), recon_loss.mean(dim=0), kld.mean(dim=0)


# ----------------------------------------------------------------------------------------------
# VAE with linear normalising flows
# ----------------------------------------------------------------------------------------------


class InvertiblePlanarFlow(PlanarFlow):
    """Planar flow f(z) = z + u^ h(w^T z + b) with Rezende & Mohamed's (2015, App. A.1) u^.

    pythae (normalizing_flows/planar_flow/planar_flow_model.py) uses u as is. With u, w ~ N(0, I)
    at initialisation, u^T w < -1 for a large share of layers, and the flow is then not
    invertible, so log q(z_K) by change of variables is not a density. u^ = u + (m(w^T u) -
    w^T u) w / ||w||^2, m(a) = -1 + softplus(a), guarantees w^T u^ > -1 (sufficient for tanh).
    pythae's +1e-4 inside the log-determinant is not needed then and is dropped.
    """

    def u_hat(self) -> torch.Tensor:
        wu = (self.w * self.u).sum()
        return self.u + (F.softplus(wu) - 1 - wu) * self.w / (self.w**2).sum()

    def forward(self, x: torch.Tensor, **kwargs) -> ModelOutput:
        x = x.reshape(x.shape[0], -1)
        u = self.u_hat()
        lin = x @ self.w.T + self.b
        out = x + u * self.activation(lin)
        psi = self.activation_derivative(lin) @ self.w
        log_det = torch.log(torch.abs(1 + psi @ u.T)).squeeze(-1)
        return ModelOutput(out=out, log_abs_det_jac=log_det)


class VAE_LinNF(pm.VAE_LinNF):
    """VAE-LinNF whose planar layers are invertible (see ``InvertiblePlanarFlow``)."""

    def __init__(self, model_config, encoder=None, decoder=None):
        super().__init__(model_config=model_config, encoder=encoder, decoder=decoder)
        for i, layer in enumerate(self.net):
            if type(layer) is PlanarFlow:
                fixed = InvertiblePlanarFlow(layer.model_config)
                fixed.load_state_dict(layer.state_dict())
                self.net[i] = fixed


# ----------------------------------------------------------------------------------------------
# VAE-GAN
# ----------------------------------------------------------------------------------------------


class VAEGAN(pm.VAEGAN):
    """VAE-GAN with each network trained on its own loss only (Larsen et al. 2016, Alg. 1).

    pythae (vae_gan/vae_gan_model.py, ``loss_function``) computes the discriminator's loss on
    the un-detached prior samples Dec(z_p). With the CoupledOptimizerAdversarialTrainer's step
    (trainers/coupled_optimizer_adversarial_trainer: enc.zero_grad; enc_loss.backward;
    dec.zero_grad; dec_loss.backward; disc.zero_grad; disc_loss.backward; steps), that backward
    adds +grad_dec L_GAN to the decoder, whose own loss already has -s * L_GAN: the decoder ends
    up *helping* the discriminator with weight 1 - s. Likewise the decoder's feature-space
    reconstruction term reaches the encoder a second time. Here the discriminator sees detached
    images, and the decoder's loss is computed on a second decoder pass of detached codes.
    The study's other trap is a config choice (registry): reconstruction_layer = 1 compares
    discriminator *features* (Larsen's Dis_l); pythae's default (-1 = the last layer) compares
    the discriminator's real/fake probabilities.
    """

    def forward(self, inputs, **kwargs) -> ModelOutput:
        x = inputs["data"]
        enc = self.encoder(x)
        mu, log_var = enc.embedding, enc.log_covariance
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
        recon_x = self.decoder(z).reconstruction
        with batchnorm_stats_frozen(self.decoder):
            recon_dec = self.decoder(z.detach()).reconstruction
        gen_prior = self.decoder(torch.randn_like(z)).reconstruction
        kld = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=-1)
        recon_loss = self._feature_loss(x, recon_x)
        recon_loss_dec = self._feature_loss(x, recon_dec)

        ones = torch.ones(len(x), device=x.device)
        zeros = torch.zeros(len(x), device=x.device)
        real_cost = F.binary_cross_entropy(self.discriminator(x).embedding.flatten(), ones)
        fake_score = self.discriminator(gen_prior).embedding.flatten()
        gan_loss_dec = real_cost.detach() + F.binary_cross_entropy(fake_score, zeros)
        fake_cost = F.binary_cross_entropy(self.discriminator(gen_prior.detach()).embedding.flatten(), zeros)
        discriminator_loss = real_cost + fake_cost

        s = self.adversarial_loss_scale
        encoder_loss = (kld + recon_loss).mean()
        decoder_loss = (1 - s) * recon_loss_dec.mean() - s * gan_loss_dec
        update_disc = not (
            real_cost < self.equilibrium - self.margin or fake_cost < self.equilibrium - self.margin
        )
        update_dec = not (
            real_cost > self.equilibrium + self.margin or fake_cost > self.equilibrium + self.margin
        )
        if not update_dec and not update_disc:
            update_dec = update_disc = True
        return ModelOutput(
            loss=encoder_loss + decoder_loss + discriminator_loss,
            recon_loss=recon_loss.mean(),
            encoder_loss=encoder_loss,
            decoder_loss=decoder_loss,
            discriminator_loss=discriminator_loss,
            update_encoder=True,
            update_decoder=bool(update_dec),
            update_discriminator=bool(update_disc),
            recon_x=recon_x,
            z=z,
        )

    def _feature_loss(self, x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        """0.5 ||Dis_l(x) - Dis_l(x^)||^2 per image (pythae's learned-similarity term)."""
        key = f"embedding_layer_{self.reconstruction_layer}"
        real = self.discriminator(x, output_layer_levels=[self.reconstruction_layer])[key]
        fake = self.discriminator(recon, output_layer_levels=[self.reconstruction_layer])[key]
        return 0.5 * (real.reshape(len(x), -1) - fake.reshape(len(x), -1)).pow(2).sum(-1)


# ----------------------------------------------------------------------------------------------
# Poincaré VAE
# ----------------------------------------------------------------------------------------------


class PoincareVAE(pm.PoincareVAE):
    """Poincaré VAE whose posterior means lie in the ball: mu = exp_0(encoder output).

    pythae (pvae/pvae_model.py, ``forward``) uses the encoder's raw output as the wrapped
    normal's location; nothing maps it into the unit ball, and ``WrappedNormal.__init__``
    (pvae/pvae_utils.py) calls ``_check_point_on_manifold`` but ignores its verdict, so
    locations outside the ball (97-99.8 % in the probe) give meaningless densities and a
    negative "KL" without any error. Mathieu et al. (2019) parametrise the mean by the
    exponential map at the origin of the encoder's Euclidean output, as done here.
    """

    def ball_location(self, embedding: torch.Tensor) -> torch.Tensor:
        """exp_0 of the encoder output: the posterior location on the Poincaré ball."""
        return self.latent_manifold.expmap0(embedding)

    def forward(self, inputs, **kwargs) -> ModelOutput:
        x = inputs["data"]
        enc = self.encoder(x)
        mu = self.ball_location(enc.embedding)
        scale_param = (
            enc.log_concentration
            if self.model_config.posterior_distribution == "riemannian_normal"
            else enc.log_covariance
        )
        qz_x = self.posterior(loc=mu, scale=torch.exp(0.5 * scale_param), manifold=self.latent_manifold)
        z = qz_x.rsample(torch.Size([1]))
        recon_x = self.decoder(z.squeeze(0))["reconstruction"]
        loss, recon_loss, kld = self.loss_function(recon_x, x, z, qz_x)
        return ModelOutput(recon_loss=recon_loss, reg_loss=kld, loss=loss, recon_x=recon_x, z=z.squeeze(0))


def poincare_fraction_outside(model: nn.Module, val_x: torch.Tensor) -> dict[str, float]:
    """Share of posterior locations outside the unit ball (must be 0 after the fix)."""
    with torch.no_grad():
        emb = model.encoder(val_x).embedding
        loc = model.ball_location(emb) if isinstance(model, PoincareVAE) else emb
    return {"frac_outside_ball": float((loc.norm(dim=-1) >= 1).float().mean())}


__all__ = [
    "BetaTCVAE",
    "CIWAE",
    "FactorVAE",
    "HVAE",
    "IWAE",
    "MIWAE",
    "MSSSIM_VAE",
    "PIWAE",
    "PoincareVAE",
    "RAE_GP",
    "VAEGAN",
    "VAMP",
    "VAE_LinNF",
    "InvertiblePlanarFlow",
    "VQVAE",
    "VQVAEConfig",
    "batchnorm_in_eval",
    "batchnorm_stats_frozen",
    "codebook_usage",
    "factor_vae_metrics",
    "hvae_metrics",
    "importance_log_weights",
    "tempering_schedule",
    "miwae_bound",
    "ms_ssim_per_image",
    "mss_log_weight_matrix",
    "poincare_fraction_outside",
    "vq_metrics",
]
