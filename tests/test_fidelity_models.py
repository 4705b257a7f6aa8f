"""Each fixed trap of the model-fidelity issue, against an independent computation of the paper.

For every trap: one assertion that pythae 0.1.2's own class (or default setting) gives the wrong
value, one that the registry's model gives the paper's. Expected values are written out here with
numpy / scipy / plain torch autograd; nothing is taken from the loss code under test.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import pythae.models as pm
import torch
from pythae.models.msssim_vae.msssim_vae_utils import MSSSIM
from scipy.signal import convolve2d
from scipy.special import logsumexp
from scipy.stats import norm

from shared import fixes
from shared.backbone import Decoder, Encoder
from shared.registry import build_config, build_model, get_spec

D = 16

# Losses are compared as Python floats straight from tensors that carry gradients.
pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True:UserWarning")


@pytest.fixture(scope="module")
def digits(embedded_splits) -> torch.Tensor:
    return embedded_splits.train_x[:8].clone()


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float32)


def _pythae_twin(name: str, model: torch.nn.Module, config=None) -> torch.nn.Module:
    """pythae's unfixed class with the same config and weights as the registry model."""
    cls = getattr(pm, get_spec(name).pythae_name)
    twin = cls(model_config=config or build_config(name), encoder=model.encoder, decoder=model.decoder)
    twin.load_state_dict(model.state_dict(), strict=False)
    return twin


# --- 1. InfoVAE: MMD weight alpha + lambda - 1 ---------------------------------------------------


def _imq_mmd(z: np.ndarray, zp: np.ndarray, scales=(0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)) -> float:
    """Unbiased within-sample terms, all pairs across (Tolstikhin et al.), multi-scale IMQ."""
    base = 2.0 * z.shape[1] * 1.0**2

    def k(a, b):
        d2 = ((a[:, None] - b[None]) ** 2).sum(-1)
        return sum(s * base / (s * base + d2) for s in scales)

    n = len(z)
    kzz, kpp = k(z, z), k(zp, zp)
    within = (kzz.sum() - np.trace(kzz) + kpp.sum() - np.trace(kpp)) / (n * (n - 1))
    return within - 2 * k(z, zp).mean()


def _infovae_inputs():
    r = _rng()
    x = r.random((6, 1, 28, 28))
    recon = r.random((6, 1, 28, 28))
    mu, log_var = r.normal(size=(6, D)), r.normal(scale=0.3, size=(6, D))
    z, zp = r.normal(size=(6, D)) * 2 + 1, r.normal(size=(6, D))
    recon_term = 0.5 * ((recon - x) ** 2).reshape(6, -1).sum(-1)
    kl = 0.5 * (mu**2 + np.exp(log_var) - 1 - log_var).sum(-1)
    return (x, recon, mu, log_var, z, zp), recon_term, kl, _imq_mmd(z, zp)


def _infovae_loss(config) -> float:
    (x, recon, mu, log_var, z, zp), *_ = _infovae_inputs()
    model = pm.INFOVAE_MMD(config, encoder=Encoder(), decoder=Decoder())
    return float(model.loss_function(_t(recon), _t(x), _t(z), _t(zp), _t(mu), _t(log_var))[0])


def test_infovae_mmd_weight_matches_zhao():
    """Zhao et al.: recon + (1 - alpha) KL + (alpha + lambda - 1) MMD, with a positive MMD weight."""
    _, recon_term, kl, mmd = _infovae_inputs()
    cfg = build_config("INFOVAE_MMD")
    alpha, lbd = cfg.alpha, cfg.lbd
    assert alpha == 0.5 and alpha + lbd - 1 > 0
    want = (recon_term + (1 - alpha) * kl).mean() + (alpha + lbd - 1) * mmd
    assert _infovae_loss(cfg) == pytest.approx(want, rel=1e-5)
    # pythae's default lambda with the study's alpha: the MMD weight is negative (MMD rewarded).
    default = pm.INFOVAE_MMD_Config(input_dim=(1, 28, 28), latent_dim=D, alpha=0.5)
    weight = default.alpha + default.lbd - 1
    assert weight < 0
    assert _infovae_loss(default) == pytest.approx((recon_term + 0.5 * kl).mean() + weight * mmd, rel=1e-5)


# --- 3. RAE-GP: the gradient penalty is on the decoder at z ----------------------------------


def test_rae_gp_penalises_decoder_gradient_at_z(digits):
    torch.manual_seed(0)  # lambda = 10 so that the penalty weighs visibly in the total
    model = build_model("RAE_GP", variant="study_literal").double().eval()
    x = digits[:3].double()
    with torch.no_grad():
        z = model.encoder(x).embedding
        h = 1e-5
        fd = torch.zeros_like(z)
        for j in range(D):  # central differences of sum_pixels D(z) along each code axis
            dz = torch.zeros_like(z)
            dz[:, j] = h
            up = model.decoder(z + dz).reconstruction.flatten(1).sum(1)
            down = model.decoder(z - dz).reconstruction.flatten(1).sum(1)
            fd[:, j] = (up - down) / (2 * h)
        recon = model.decoder(z).reconstruction
    gp = (fd**2).sum(1)
    cfg = model.model_config
    sse = ((recon - x) ** 2).flatten(1).sum(1)
    want = (sse + cfg.embedding_weight * 0.5 * (z**2).sum(1) + cfg.reg_weight * gp).mean()
    out = model({"data": x})
    assert float(out.gen_reg_loss.detach()) == pytest.approx(float(gp.mean()), rel=1e-5)
    assert float(out.loss.detach()) == pytest.approx(float(want), rel=1e-6)
    pythae_gp = float(_pythae_twin("RAE_GP", model)({"data": x.clone()}).gen_reg_loss.detach())
    assert abs(pythae_gp - float(gp.mean())) > 0.5 * float(gp.mean())  # pythae: gradient w.r.t. x


def test_rae_gp_training_penalty_is_per_image(digits):
    """In training mode too, the penalty is the per-image decoder gradient (running statistics)."""
    torch.manual_seed(0)
    model = build_model("RAE_GP").double().train()
    x = digits[:4].double()
    out = model({"data": x})  # updates BatchNorm's running statistics once
    model.eval()
    with torch.no_grad():
        z, h = out.z.detach(), 1e-5
        fd = torch.stack(
            [
                (
                    model.decoder(z + h * torch.eye(D, dtype=z.dtype)[j]).reconstruction.flatten(1).sum(1)
                    - model.decoder(z - h * torch.eye(D, dtype=z.dtype)[j]).reconstruction.flatten(1).sum(1)
                )
                / (2 * h)
                for j in range(D)
            ],
            dim=1,
        )
    assert float(out.gen_reg_loss.detach()) == pytest.approx(float((fd**2).sum(1).mean()), rel=1e-5)


def test_rae_gp_study_lambda_is_a_variant():
    spec = get_spec("RAE_GP")
    assert spec.variants["study_literal"] == {"reg_weight": 10.0}
    assert build_config("RAE_GP", variant="study_literal").reg_weight == 10.0


# --- 4. VAMP: pseudo-inputs stay out of BatchNorm's statistics ------------------------------


def _bn_buffers(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([b.flatten().float() for n, b in module.named_buffers() if "running" in n])


def test_vamp_pseudo_inputs_leave_running_stats_alone(digits):
    torch.manual_seed(0)
    model = build_model("VAMP").train()
    reference = copy.deepcopy(model.encoder).train()
    twin = _pythae_twin("VAMP", copy.deepcopy(model)).train()
    with torch.no_grad():
        reference(digits)  # what BatchNorm should have seen: the data batch only
        model({"data": digits})
        twin({"data": digits})
    assert torch.allclose(_bn_buffers(model.encoder), _bn_buffers(reference), atol=1e-6)
    assert not torch.allclose(_bn_buffers(twin.encoder), _bn_buffers(reference), atol=1e-3)


def test_vamp_training_prior_is_the_evaluation_prior(digits):
    """p(z) = (1/C) sum_k N(z; mu(u_k), sigma(u_k)) with the encoder evaluation uses."""
    torch.manual_seed(0)
    model = build_model("VAMP")
    c = model.number_components
    with torch.no_grad():
        model.eval()
        u = model.pseudo_inputs(torch.eye(c)).reshape(c, 1, 28, 28)
        enc = model.encoder(u)
        mu, sd = enc.embedding.numpy(), np.exp(0.5 * enc.log_covariance.numpy())
        z = np.random.default_rng(1).normal(size=(4, D))
        model.train()
        got = model._log_p_z(_t(z)).numpy()
    comp = norm.logpdf(z[:, None], loc=mu[None], scale=sd[None]).sum(-1)
    want = logsumexp(comp, axis=1) - np.log(c) + 0.5 * D * np.log(2 * np.pi)  # pythae drops log 2 pi
    np.testing.assert_allclose(got, want, rtol=1e-4)


# --- 5. FactorVAE: the discriminator's loss does not train the encoder ---------------------


def test_factorvae_discriminator_loss(digits):
    torch.manual_seed(0)
    model = build_model("FactorVAE").eval()
    twin = _pythae_twin("FactorVAE", model).eval()
    enc_params = list(model.encoder.parameters())
    torch.manual_seed(1)
    out = model({"data": digits})
    grads = torch.autograd.grad(out.discriminator_loss, enc_params, allow_unused=True, retain_graph=True)
    assert all(g is None or float(g.abs().max()) == 0.0 for g in grads)
    with torch.no_grad():  # Kim & Mnih: 0.5 [CE(D(z), real) + CE(D(perm(z')), permuted)]
        real = torch.log_softmax(model.discriminator(out.z), 1)[:, 0].numpy()
        fake = torch.log_softmax(model.discriminator(out.z_bis_permuted), 1)[:, 1].numpy()
        logits = model.discriminator(out.z).numpy()
        enc = model.encoder(digits[out.recon_x_indices])
    assert float(out.discriminator_loss) == pytest.approx(-0.5 * (real.mean() + fake.mean()), rel=1e-5)
    mu, lv = enc.embedding.numpy(), enc.log_covariance.numpy()
    kl = 0.5 * (mu**2 + np.exp(lv) - 1 - lv).sum(1)
    recon = 0.5 * ((out.recon_x.detach().numpy() - digits[out.recon_x_indices].numpy()) ** 2)
    tc = (logits[:, 0] - logits[:, 1]).mean()
    want_ae = (recon.reshape(len(mu), -1).sum(1) + kl).mean() + model.gamma * tc
    assert float(out.autoencoder_loss) == pytest.approx(want_ae, rel=1e-5)
    torch.manual_seed(1)
    twin_out = twin({"data": digits})
    twin_grads = torch.autograd.grad(twin_out.discriminator_loss, list(twin.encoder.parameters()))
    assert max(float(g.abs().max()) for g in twin_grads) > 0  # pythae: reaches the encoder


def test_factorvae_logs_discriminator_accuracy(digits):
    torch.manual_seed(0)
    model = build_model("FactorVAE")
    metrics = get_spec("FactorVAE").epoch_metrics(model, digits)
    assert 0.0 <= metrics["disc_accuracy"] <= 1.0 and math.isfinite(metrics["tc_estimate"])


# --- 6. Disentangled beta-VAE: capacity 0 -> 25 over the run ------------------------------


def _capacity(model, epoch: int) -> float:
    """C(epoch) read back from the loss: with KL > C, loss = recon + beta (KL - C)."""
    x = torch.zeros(1, 1, 28, 28)
    mu = torch.full((1, D), 3.0)  # KL = 16 * 4.5 = 72 > 25
    lv = torch.zeros(1, D)
    loss, recon, kl = model.loss_function(x, x, mu, lv, mu, epoch)
    return float(kl - (loss - recon) / model.beta)


@pytest.mark.parametrize("epochs", [1, 20, 100])
def test_disentangled_capacity_schedule(epochs):
    model = build_model("DisentangledBetaVAE", epochs=epochs)
    c = [_capacity(model, e) for e in range(1, epochs + 1)]
    assert c[-1] == pytest.approx(25.0, rel=1e-5)  # reaches the target at the last epoch
    want = [25.0 * e / epochs for e in range(1, epochs + 1)]  # linear, C(0) = 0 before training
    np.testing.assert_allclose(c, want, rtol=1e-5)
    if epochs > 1:  # pythae's default warmup_epoch = 25 misses it for a 20-epoch run ...
        default = pm.DisentangledBetaVAE(
            pm.DisentangledBetaVAEConfig(input_dim=(1, 28, 28), latent_dim=D, C=25.0),
            encoder=Encoder(),
            decoder=Decoder(),
        )
        c_default = [_capacity(default, e) for e in range(1, epochs + 1)]
        # ... and reaches 25 at epoch 25 of a 100-epoch run, then stays flat.
        assert c_default[-1] < 25.0 - 1e-3 if epochs < 25 else c_default[25] == pytest.approx(25.0)
        assert not np.allclose(c_default, want, rtol=1e-3)


# --- 7. VQ-VAE: pythae's per-position layout (default) or one 16-d code; squared-L2 commitment --


def test_vqvae_default_quantises_each_position_to_a_scalar(digits):
    """16 positions x 512 learned scalars (pythae's layout of a flat code, what the study ran);
    commitment = beta * sum_d (z_e,d - e_d)^2 per image, where pythae 0.1.2 averages over d (#124)."""
    torch.manual_seed(0)
    model = build_model("VQVAE").eval()
    assert model.model_config.embedding_dim == 1 and model.model_config.code_layout == "positions"
    book = torch.randn(512, 1)
    model.quantizer.embeddings.copy_(book)
    x = digits[:4]
    out = model({"data": x})
    with torch.no_grad():
        e = model.encoder(x).embedding.numpy()
    d2 = (e[:, :, None] - book.numpy()[None, None, :, 0]) ** 2  # [B, D, 512]
    np.testing.assert_allclose(out.z.detach().numpy(), book.numpy()[d2.argmin(-1), 0], atol=1e-6)
    beta = model.model_config.commitment_loss_factor
    want = beta * d2.min(-1).sum(1).mean()
    assert float(out.vq_loss) == pytest.approx(want, rel=1e-5)
    twin = pm.VQVAE(_pythae_vq_config(), encoder=model.encoder, decoder=model.decoder).eval()
    twin.quantizer.embeddings.copy_(book)
    theirs = twin({"data": x})
    np.testing.assert_allclose(theirs.z.detach().numpy().reshape(4, D), out.z.detach().numpy(), atol=1e-6)
    assert float(theirs.vq_loss) == pytest.approx(want / D, rel=1e-5)  # pythae: 1/16 of the paper's


def _pythae_vq_config():
    cfg = {
        k: v for k, v in registry_config_dict("VQVAE").items() if k not in ("code_layout", "embedding_dim")
    }
    return pm.VQVAEConfig(**cfg)


def registry_config_dict(name: str) -> dict:
    from shared.registry import config_as_dict

    cfg = config_as_dict(build_config(name))
    cfg["input_dim"] = tuple(cfg["input_dim"])
    return cfg


def test_vqvae_one_code_variant_quantises_one_vector_per_image(digits):
    torch.manual_seed(0)
    model = build_model("VQVAE", variant="one_code").eval()
    book = torch.randn(512, D)
    model.quantizer.embeddings.copy_(book)
    x = digits[:4]
    out = model({"data": x})
    with torch.no_grad():
        e = model.encoder(x).embedding.numpy()
    d2 = ((e[:, None] - book.numpy()[None]) ** 2).sum(-1)
    idx = d2.argmin(1)
    np.testing.assert_allclose(out.z.detach().numpy(), book.numpy()[idx], atol=1e-5)
    beta = model.model_config.commitment_loss_factor
    assert float(out.vq_loss) == pytest.approx(beta * d2.min(1).mean(), rel=1e-5)
    assert model.model_config.embedding_dim == D
    assert out.quantized_indices.numel() == 4
    twin = pm.VQVAE(_pythae_vq_config(), encoder=model.encoder, decoder=model.decoder).eval()
    assert twin.model_config.embedding_dim == 1  # pythae has no one-vector layout for a flat code


def test_vqvae_rejects_an_unknown_layout():
    with pytest.raises(ValueError, match="code_layout"):
        build_config("VQVAE", overrides={"code_layout": "grid"})


def test_codebook_usage_and_perplexity():
    got = fixes.codebook_usage(torch.tensor([0, 0, 1, 2]), 8)
    p = np.array([0.5, 0.25, 0.25])
    assert got["codes_used"] == 3
    assert got["perplexity"] == pytest.approx(np.exp(-(p * np.log(p)).sum()))


def test_vq_epoch_metrics_are_logged(digits):
    torch.manual_seed(0)
    model = build_model("VQVAE")
    metrics = get_spec("VQVAE").epoch_metrics(model, digits)
    assert 1 <= metrics["codes_used"] <= len(digits) * D and metrics["perplexity"] >= 1  # 16 positions
    assert 1 <= metrics["distinct_image_codes"] <= len(digits)
    assert model.training  # the hook must not leave the model in eval mode


# --- beta-TCVAE: minibatch-stratified sampling with the own image on the diagonal -----------


def _mss_terms(mu, lv, z, n):
    """log q(z|x), log q(z), log prod_j q(z_j), log p(z) by Chen et al.'s MSS, written as loops."""
    b = len(z)
    m = b - 1
    sd = np.exp(0.5 * lv)
    log_w = np.full((b, b), -np.log(m))
    for i in range(b):
        log_w[i, i] = -np.log(n)
        log_w[i, (i + 1) % b] = np.log((n - m) / (n * m))
    per_dim = norm.logpdf(z[:, None, :], loc=mu[None], scale=sd[None])  # [i, j, d] = log q(z_id | x_j)
    log_qz = logsumexp(log_w + per_dim.sum(-1), axis=1)
    log_prod = logsumexp(log_w[:, :, None] + per_dim, axis=1).sum(-1)
    log_qzx = norm.logpdf(z, loc=mu, scale=sd).sum(-1)
    return log_qzx, log_qz, log_prod, norm.logpdf(z).sum(-1)


def test_beta_tcvae_mss_decomposition():
    r = _rng()
    b, n = 6, 1000
    mu, lv = r.normal(size=(b, D)) * 0.5, r.normal(scale=0.3, size=(b, D)) - 1
    z = mu + np.exp(0.5 * lv) * r.normal(size=(b, D))
    x = r.random((b, 1, 28, 28))
    recon = r.random((b, 1, 28, 28))
    log_qzx, log_qz, log_prod, log_pz = _mss_terms(mu, lv, z, n)
    cfg = build_config("BetaTCVAE")
    mi, tc, dkl = log_qzx - log_qz, log_qz - log_prod, log_prod - log_pz
    sse = 0.5 * ((recon - x) ** 2).reshape(b, -1).sum(-1)
    want = (sse + cfg.alpha * mi + cfg.beta * tc + cfg.gamma * dkl).mean()
    args = (_t(recon), _t(x), _t(mu), _t(lv), _t(z), n)
    ours = build_model("BetaTCVAE")
    assert float(ours.loss_function(*args)[0]) == pytest.approx(want, rel=1e-5)
    twin = _pythae_twin("BetaTCVAE", ours)
    assert abs(float(twin.loss_function(*args)[0]) - want) > 1.0
    # pythae's weights: column 0 (not the diagonal) gets 1/N, and one row does not sum to 1.
    w = twin._log_importance_weight_matrix(b, n).exp()
    assert float(w[1, 1]) != pytest.approx(1 / n) and not torch.allclose(w.sum(1), torch.ones(b))
    w_ours = ours._log_importance_weight_matrix(b, n).exp()
    assert torch.allclose(torch.diagonal(w_ours), torch.full((b,), 1 / n))
    assert torch.allclose(w_ours.sum(1), torch.ones(b))


# --- MS-SSIM-VAE ---------------------------------------------------------------------------


def _ms_ssim_numpy(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. (2003) MS-SSIM with pythae's window, zero padding and (v + 1) / 2 mapping."""
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    g /= g.sum()
    win = np.outer(g, g)
    weights = [0.3117, 0.3384, 0.2675, 0.0824]  # 4 scales for 28-px images
    c1, c2 = 0.01**2, 0.03**2
    out = 1.0
    for level, w in enumerate(weights):

        def f(img):
            return convolve2d(img, win, mode="same")

        mu1, mu2 = f(a), f(b)
        s11, s22, s12 = f(a * a) - mu1**2, f(b * b) - mu2**2, f(a * b) - mu1 * mu2
        cs = (2 * s12 + c2) / (s11 + s22 + c2)
        if level < len(weights) - 1:
            out *= ((cs.mean() + 1) / 2) ** w
            h, wd = a.shape[0] // 2, a.shape[1] // 2
            a = a[: 2 * h, : 2 * wd].reshape(h, 2, wd, 2).mean((1, 3))
            b = b[: 2 * h, : 2 * wd].reshape(h, 2, wd, 2).mean((1, 3))
        else:
            ssim = (2 * mu1 * mu2 + c1) / (mu1**2 + mu2**2 + c1) * cs
            out *= ((ssim.mean() + 1) / 2) ** w
    return out


def test_ms_ssim_is_wangs_product_per_image(digits):
    x = digits[:2].double()
    noisy = (x + 0.2 * torch.rand_like(x)).clamp(0, 1)
    want = np.array([_ms_ssim_numpy(x[i, 0].numpy(), noisy[i, 0].numpy()) for i in range(2)])
    got = fixes.ms_ssim_per_image(noisy, x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)
    model = build_model("MSSSIM_VAE").double()
    z = torch.zeros(2, D, dtype=torch.float64)
    recon_term = model.loss_function(noisy, x, z, z, z)[1]
    assert float(recon_term) == pytest.approx(float((1 - want).mean()), rel=1e-6)
    pythae_value = 1 - float(MSSSIM(11)(noisy[:1].float(), x[:1].float()))
    assert abs(pythae_value - want[0]) > 1e-3  # last scale raised to 3 x its weight


# --- 8. VAE-GAN: learned similarity on discriminator features; gradients routed -------------


def test_vaegan_reconstructs_in_feature_space(digits):
    torch.manual_seed(0)
    model = build_model("VAEGAN").eval()
    assert model.reconstruction_layer == 1
    x = digits[:4]
    first = model.discriminator.layers[0][0]
    torch.manual_seed(1)
    out = model({"data": x})
    with torch.no_grad():
        w, b = first.weight.numpy(), first.bias.numpy()
        feats = lambda img: np.maximum(img.reshape(len(img), -1).numpy() @ w.T + b, 0)  # noqa: E731
        want = 0.5 * ((feats(x) - feats(out.recon_x)) ** 2).sum(1).mean()
    assert float(out.recon_loss) == pytest.approx(float(want), rel=1e-5)
    default = pm.VAEGANConfig(input_dim=(1, 28, 28), latent_dim=D)
    twin = pm.VAEGAN(default, encoder=model.encoder, decoder=model.decoder)
    assert twin.reconstruction_layer == twin.discriminator.depth  # the real/fake probability


def _coupled_adversarial_decoder_grad(model, x, seed):
    """Decoder gradient after pythae's CoupledOptimizerAdversarialTrainer step order."""
    torch.manual_seed(seed)
    out = model({"data": x})
    model.zero_grad()
    out.encoder_loss.backward(retain_graph=True)
    model.decoder.zero_grad()
    out.decoder_loss.backward(retain_graph=True)
    model.discriminator.zero_grad()
    out.discriminator_loss.backward()
    return torch.cat([p.grad.flatten() for p in model.decoder.parameters()])


def test_vaegan_decoder_gradient_is_larsens(digits):
    """grad_dec [(1 - s) L_llike - s L_GAN]; L_GAN = BCE(D(x), 1) + BCE(D(Dec(z_p)), 0)."""
    torch.manual_seed(0)
    model = build_model("VAEGAN").eval()
    x = digits[:4]
    s = model.adversarial_loss_scale
    enc = model.encoder(x)
    torch.manual_seed(2)
    z = (enc.embedding + torch.exp(0.5 * enc.log_covariance) * torch.randn(4, D)).detach()
    zp = torch.randn(4, D)
    key = "embedding_layer_1"
    feat = lambda img: model.discriminator(img, output_layer_levels=[1])[key]  # noqa: E731
    llike = 0.5 * ((feat(x) - feat(model.decoder(z).reconstruction)) ** 2).sum(1).mean()
    p_real = model.discriminator(x).embedding.flatten()
    p_fake = model.discriminator(model.decoder(zp).reconstruction).embedding.flatten()
    gan = -torch.log(p_real).mean() - torch.log(1 - p_fake).mean()
    params = list(model.decoder.parameters())
    g_llike = torch.cat([g.flatten() for g in torch.autograd.grad(llike, params)])
    g_gan = torch.cat([g.flatten() for g in torch.autograd.grad(gan, params)])
    got = _coupled_adversarial_decoder_grad(model, x, 2)
    assert torch.allclose(got, (1 - s) * g_llike - s * g_gan, rtol=1e-3, atol=1e-6)
    # The GAN part alone (the feature term dominates the total at initialisation):
    gan_part = got - (1 - s) * g_llike
    assert torch.allclose(gan_part, -s * g_gan, rtol=1e-2, atol=1e-3 * float(g_gan.norm()))
    twin = _pythae_twin("VAEGAN", copy.deepcopy(model)).eval()
    pythae_gan_part = _coupled_adversarial_decoder_grad(twin, x, 2) - (1 - s) * g_llike
    # pythae: -s grad L_GAN from the decoder's loss + grad L_GAN from the discriminator's backward.
    assert torch.allclose(pythae_gan_part, (1 - s) * g_gan, rtol=1e-2, atol=1e-3 * float(g_gan.norm()))
    assert float(pythae_gan_part @ g_gan) > 0 > float(gan_part @ g_gan)  # helps the discriminator


# --- 8. Poincaré VAE: locations and samples in the ball ----------------------------------------


def _recorded_locations(model, x):
    seen = []
    original = model.posterior

    def record(loc, scale, manifold):
        seen.append(loc.detach())
        return original(loc=loc, scale=scale, manifold=manifold)

    model.posterior = record
    out = model({"data": x})
    model.posterior = original
    return seen[0], out


def test_poincare_locations_lie_in_the_ball(digits):
    torch.manual_seed(0)
    model = build_model("PoincareVAE").eval()
    model.encoder.embedding.weight.data.mul_(30)  # code norms ~3, as after training (probe: 97-99.8 %)
    with torch.no_grad():
        u = model.encoder(digits).embedding.numpy()
    want = np.tanh(np.linalg.norm(u, axis=1, keepdims=True)) * u / np.linalg.norm(u, axis=1, keepdims=True)
    loc, out = _recorded_locations(model, digits)
    np.testing.assert_allclose(loc.numpy(), want, rtol=1e-5, atol=1e-6)
    assert float(out.z.norm(dim=1).max()) < 1.0
    twin = _pythae_twin("PoincareVAE", model).eval()
    twin_loc, twin_out = _recorded_locations(twin, digits)
    assert float((twin_loc.norm(dim=1) >= 1).float().mean()) > 0.5  # raw encoder output
    assert float(twin_out.z.norm(dim=1).max()) >= 1.0  # "samples" off the manifold


def test_wrapped_normal_density_in_the_ball():
    """Where pythae is right: its WrappedNormal log-density inside the ball (Mathieu et al. 2019)."""
    from pythae.models.pvae.pvae_utils import PoincareBall, WrappedNormal

    ball, s = PoincareBall(dim=D, c=1.0), 0.5
    torch.manual_seed(0)
    loc = ball.expmap0(torch.randn(1, D) * 0.3)
    q = WrappedNormal(loc=loc, scale=torch.full((1, D), s), manifold=ball)
    z = q.rsample(torch.Size([5]))
    got = q.log_prob(z).flatten().double().numpy()
    zz, mm = z[:, 0].double().numpy(), loc.double().numpy()
    sq = lambda a: (a**2).sum(-1)  # noqa: E731
    dist = np.arccosh(1 + 2 * sq(zz - mm) / ((1 - sq(mm)) * (1 - sq(zz))))
    want = -D / 2 * np.log(2 * np.pi * s**2) - dist**2 / (2 * s**2) - (D - 1) * np.log(np.sinh(dist) / dist)
    np.testing.assert_allclose(got, want, rtol=1e-4)


# --- 9. Smaller items: RAE-L2's logged loss, HVAE without outer autograd -----------------------------------


def test_rae_l2_logs_its_real_loss(digits):
    from shared.training import loss_components

    torch.manual_seed(0)
    model = build_model("RAE_L2").eval()
    with torch.no_grad():
        z = model.encoder(digits).embedding
        recon = model.decoder(z).reconstruction
        out = model({"data": digits})
    want = float((((recon - digits) ** 2).flatten(1).sum(1) + 1e-4 * 0.5 * (z**2).sum(1)).mean())
    assert loss_components(out)["loss"] == pytest.approx(want, rel=1e-6)  # what our loop logs
    # pythae's CoupledOptimizerTrainer logs encoder_loss + decoder_loss: twice the objective.
    assert float(out.encoder_loss + out.decoder_loss) == pytest.approx(2 * want, rel=1e-6)


def test_hvae_evaluates_without_autograd(digits):
    """shared.fixes.HVAE differentiates U inside its forward itself: no autograd needed outside."""
    from shared.latent import needs_autograd, reconstruct_sampled
    from shared.training import evaluate_loss

    torch.manual_seed(0)
    model = build_model("HVAE").eval()
    assert not needs_autograd(model)
    assert math.isfinite(evaluate_loss(model, digits[:4], epoch=1, batch_size=2)["loss"])
    with torch.no_grad():
        assert reconstruct_sampled(model, digits[:2]).shape == (2, 1, 28, 28)


# --- VAE-LinNF: invertible planar flows (found while checking the flows' log-determinants) ------


def _planar_jacobian_sign_and_logdet(layer, z: torch.Tensor) -> tuple[float, float]:
    jac = torch.autograd.functional.jacobian(lambda v: layer(v[None]).out[0], z)
    sign, logdet = torch.linalg.slogdet(jac)
    return float(sign), float(logdet)


def test_planar_flow_is_invertible_and_log_det_exact():
    """Rezende & Mohamed: u^ keeps w^T u^ > -1, so det(df/dz) > 0 everywhere (tanh)."""
    from pythae.models.normalizing_flows import PlanarFlow

    torch.manual_seed(0)
    model = build_model("VAE_LinNF").double()
    layer = model.net[0]
    assert isinstance(layer, fixes.InvertiblePlanarFlow)
    with torch.no_grad():  # a layer pythae leaves non-invertible: u = -3 w / ||w||^2
        layer.u.copy_(-3 * layer.w / (layer.w**2).sum())
        layer.b.zero_()
    pythae_layer = PlanarFlow(layer.model_config).double()
    pythae_layer.load_state_dict(layer.state_dict())
    zs = torch.randn(64, D, dtype=torch.float64) * 2
    ours = [_planar_jacobian_sign_and_logdet(layer, z) for z in zs]
    theirs = [_planar_jacobian_sign_and_logdet(pythae_layer, z) for z in zs]
    assert all(sign > 0 for sign, _ in ours)
    assert {sign for sign, _ in theirs} == {-1.0, 1.0}  # folds space: not invertible
    out = layer(zs)
    np.testing.assert_allclose(
        out.log_abs_det_jac.detach().numpy(), [ld for _, ld in ours], rtol=1e-8, atol=1e-12
    )
