"""How each model maps images to codes and codes to images, for evaluation.

Four operations, each as the model's registry entry declares it (``mean_code``,
``sampled_recon``, ``needs_autograd``; the path in ``shared.catalogue``):
- ``path_codes(model, z1, z2, k, path)``: the interpolation path between two codes (straight
  line, great circle, Poincaré geodesic, ...).
- ``encode_mean(model, x)``: the deterministic code used for interpolation, latent plots and
  "mean-code" reconstructions (Gaussian mean; flows applied to the mean for VAE-IAF/LinNF so
  the code lives where the decoder reads; unit-norm direction for SVAE; the quantised code for
  VQ-VAE; exp_0 of the mean for PoincareVAE).
- ``decode(model, z)``: images [B, 1, 28, 28] from codes.
- ``reconstruct_sampled(model, x)``: the study's reconstruction, x_hat from z ~ q(z|x) through
  the model's own forward pass or one direct draw (seed torch before calling for repeatable draws).
"""

from __future__ import annotations

import torch
from torch import nn

from shared import metrics, registry


def model_name(model: nn.Module) -> str:
    """The registry name of a built model (pythae sets ``model_name``)."""
    return model.model_name if hasattr(model, "model_name") else type(model).__name__


def _spec(model: nn.Module) -> registry.ModelSpec:
    return registry.get_spec(model_name(model))


def needs_autograd(model: nn.Module) -> bool:
    """True for models whose ``forward`` needs autograd from the caller (registry field: RHVAE,
    whose leapfrog steps differentiate inside; shared.fixes.HVAE enables autograd itself)."""
    return _spec(model).needs_autograd


def _ball_location(model: nn.Module, z: torch.Tensor) -> torch.Tensor:
    # shared.fixes.PoincareVAE maps the mean into the ball by exp_0; pythae's own class uses z as is
    return model.ball_location(z) if hasattr(model, "ball_location") else z


def _planar_flows(model: nn.Module, z: torch.Tensor) -> torch.Tensor:
    for layer in model.net:
        z = layer(z).out
    return z


#: registry ``mean_code`` -> the map from the encoder's embedding [B, D] to the code.
_MEAN_CODE = {
    "embedding": lambda model, z: z,
    "iaf_flow": lambda model, z: model.iaf_flow.inverse(z).out,
    "planar_flows": _planar_flows,
    "unit_direction": lambda model, z: z / z.norm(dim=-1, keepdim=True),
    "quantised": lambda model, z: quantize(model, z),
    "ball_location": _ball_location,
}


def encode_mean(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The deterministic code of ``x`` (see module doc and registry ``mean_code``); [B, latent_dim]."""
    z = model.encoder(x).embedding.reshape(len(x), -1)
    return _MEAN_CODE[_spec(model).mean_code](model, z)


def quantize(model: nn.Module, embedding: torch.Tensor) -> torch.Tensor:
    """Nearest-codebook codes of an encoder output, in the model's layout (shared.fixes.VQVAE)."""
    return model.quantize_embedding(embedding).z.reshape(len(embedding), -1)


def path_codes(model: nn.Module, z1: torch.Tensor, z2: torch.Tensor, k: int, path: str) -> torch.Tensor:
    """Codes [S, K, D] along ``path`` (shared.registry.INTERPOLATION_PATHS) from z1 to z2."""
    if path in ("line", "chord"):
        return metrics.interpolation_codes(z1, z2, k)
    if path == "great_circle":
        return metrics.great_circle_codes(z1, z2, k)
    if path == "poincare_geodesic":  # pythae's PoincareBall.geodesic: z1 (+) t (x) ((-z1) (+) z2)
        t = torch.linspace(0.0, 1.0, k, dtype=z1.dtype, device=z1.device).view(1, k, 1)
        return model.latent_manifold.geodesic(t, z1[:, None], z2[:, None])
    if path == "requantised":
        line = metrics.interpolation_codes(z1, z2, k)
        return quantize(model, line.reshape(-1, line.shape[-1])).reshape(line.shape)
    raise ValueError(f"unknown interpolation path {path!r}")


def decode(model: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Images [B, 1, 28, 28] for codes ``z``."""
    return model.decoder(z).reconstruction.reshape(len(z), 1, 28, 28)


def reconstruct_sampled(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """x_hat = Decoder(z), z ~ q(z|x): via the model's forward, or one direct draw (see above)."""
    if _spec(model).sampled_recon == "deterministic":  # nothing to sample: the forward's x_hat
        with torch.no_grad():
            return decode(model, encode_mean(model, x))
    if _spec(model).sampled_recon == "encoder_gaussian":
        with torch.no_grad():  # no graph: kept across batches it would hold the whole test set
            out = model.encoder(x)
            std = torch.exp(0.5 * out.log_covariance)
            return decode(model, out.embedding + std * torch.randn_like(std))
    with torch.set_grad_enabled(needs_autograd(model)):
        out = model({"data": x}, epoch=10**6, dataset_size=len(x), uses_ddp=False)
    return out.recon_x.detach().reshape(len(x), 1, 28, 28)
