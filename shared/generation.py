"""New digits from a trained model: its own prior, and a Gaussian mixture fitted to its codes.

Two samplers per run (docs/PROTOCOL.md#10-beyond-the-study):
- ``prior``: the distribution the model was trained to match (registry ``prior``, the words in
  ``PRIOR_LABELS``). Autoencoders trained without one (AE, RAE-L2, RAE-GP) have no prior sampler.
  VQ-VAE learns no prior (van den Oord et al. fit a PixelCNN afterwards): its codes are drawn
  from the training set's code frequencies, every latent position independently -- a product
  of marginals, which ignores how positions co-occur, and is said so in every caption.
- ``gmm``: a 10-component, full-covariance Gaussian mixture (scikit-learn) fitted to the
  training images' mean codes -- the ex-post density estimate that the pythae benchmark uses
  and that gives deterministic autoencoders a sampler at all.
Every sample is mapped to where the decoder reads codes before decoding (``to_decoder_space``):
unit norm for SVAE, inside the ball for the Poincaré VAE, re-quantised for VQ-VAE.

Sampling is seeded and runs on a forked torch RNG, so it neither depends on nor moves the
caller's random state (evaluation after training equals re-evaluation from stored weights).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits
from torch import nn

from shared import latent, registry

N_SAMPLES = 10_000
SAMPLES_PER_TEST_IMAGE = 20  # only a smoke run's 128 test images get fewer (2,560): CI stays fast
GMM_COMPONENTS = 10
FIT_THREADS = 1
BALL_MARGIN = 1e-3  # Poincaré samples are pulled to at most 1 - margin from the origin
PRIOR_LABELS = {
    "normal": "N(0, I)",
    "vamp": "VAMP mixture of pseudo-input posteriors",
    "uniform_sphere": "uniform on the unit sphere",
    "code_frequencies": "training-set code frequencies, per position (no learned prior)",
    "poincare_wrapped_normal": "wrapped normal at the ball's origin",
    "none": "none (trained without a prior)",
}


def n_samples_for(n_test: int) -> int:
    """Samples per sampler: 10,000, at most 20 per test image they are compared with: the quick
    and paper profiles get 10,000; smoke runs (a test of the code path) get 2,560."""
    return min(N_SAMPLES, SAMPLES_PER_TEST_IMAGE * n_test)


def _normal(model: nn.Module, n: int, train_codes: torch.Tensor) -> torch.Tensor:
    return torch.randn(n, train_codes.shape[1], dtype=train_codes.dtype)


def _uniform_sphere(model: nn.Module, n: int, train_codes: torch.Tensor) -> torch.Tensor:
    z = _normal(model, n, train_codes)
    return z / z.norm(dim=1, keepdim=True)


@torch.no_grad()
def _vamp(model: nn.Module, n: int, train_codes: torch.Tensor) -> torch.Tensor:
    """A uniform draw of a pseudo-input, then z ~ q(z | pseudo-input) (Tomczak & Welling's prior)."""
    idle = model.idle_input.to(next(model.parameters()).device)  # a plain CPU tensor in pythae's VAMP
    pseudo = model.pseudo_inputs(idle).reshape(-1, *model.model_config.input_dim)
    out = model.encoder(pseudo)
    pick = torch.randint(len(pseudo), (n,))
    mu, std = out.embedding[pick], torch.exp(0.5 * out.log_covariance[pick])
    return (mu + std * torch.randn_like(std)).cpu()


def _code_frequencies(model: nn.Module, n: int, train_codes: torch.Tensor) -> torch.Tensor:
    """Each latent position's code taken from a random training image, independently."""
    grid = model.as_grid(train_codes)  # [N, H, W, C]: one codebook vector per position
    positions, width = grid.shape[1] * grid.shape[2], grid.shape[3]
    per_position = train_codes.reshape(len(train_codes), positions, width)
    donors = torch.randint(len(train_codes), (n, positions))
    picked = per_position[donors, torch.arange(positions)]  # [n, positions, width]
    return picked.reshape(n, -1)


@torch.no_grad()
def _poincare(model: nn.Module, n: int, train_codes: torch.Tensor) -> torch.Tensor:
    prior = model.prior(loc=model._pz_mu, scale=model._pz_logvar.exp(), manifold=model.latent_manifold)
    return prior.sample(torch.Size([n])).reshape(n, -1).cpu()


_PRIOR_SAMPLERS: dict[str, Callable[[nn.Module, int, torch.Tensor], torch.Tensor]] = {
    "normal": _normal,
    "vamp": _vamp,
    "uniform_sphere": _uniform_sphere,
    "code_frequencies": _code_frequencies,
    "poincare_wrapped_normal": _poincare,
}
if set(_PRIOR_SAMPLERS) | {"none"} != set(registry.PRIORS):
    raise RuntimeError("shared.generation and shared.registry.PRIORS list different priors")


def prior_codes(model: nn.Module, n: int, train_codes: torch.Tensor, seed: int) -> torch.Tensor | None:
    """``n`` codes from the model's prior (None when it has none), seeded on a forked RNG."""
    name = registry.get_spec(latent.model_name(model)).prior
    if name == "none":
        return None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _PRIOR_SAMPLERS[name](model, n, train_codes.cpu()).to(train_codes.dtype)


def gmm_codes(train_codes: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor | None, str]:
    """``n`` codes from a Gaussian mixture fitted to ``train_codes``, in random order, and a note.

    The note is "" on success; a fit that cannot be made (e.g. collapsed codes: fewer distinct
    points than components) returns None and the reason, so the run records why it has no samples.
    """
    x = train_codes.detach().cpu().double().numpy()
    if len(np.unique(x, axis=0)) < GMM_COMPONENTS:
        return None, f"fewer than {GMM_COMPONENTS} distinct training codes"
    gmm = GaussianMixture(GMM_COMPONENTS, covariance_type="full", random_state=seed)
    try:  # one BLAS / OpenMP thread: ~20x faster than threads contending with torch's on 2 cores
        with warnings.catch_warnings(), threadpool_limits(FIT_THREADS):
            warnings.simplefilter("ignore", ConvergenceWarning)
            gmm.fit(x)
    except ValueError as exc:  # ill-defined covariances
        return None, f"Gaussian mixture fit failed: {str(exc).splitlines()[0]}"
    samples, _ = gmm.sample(n)  # grouped by component: shuffle so any prefix is a fair draw
    order = np.random.default_rng(seed).permutation(n)
    return torch.as_tensor(samples[order], dtype=train_codes.dtype), ""


def to_decoder_space(model: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Samples mapped to the codes the decoder was trained on (registry ``mean_code``)."""
    kind = registry.get_spec(latent.model_name(model)).mean_code
    if kind == "unit_direction":
        return z / z.norm(dim=1, keepdim=True)
    if kind == "ball_location":
        radius = (1.0 - BALL_MARGIN) / model.latent_manifold.c**0.5
        norm = z.norm(dim=1, keepdim=True)
        return torch.where(norm > radius, z * radius / norm, z)
    if kind == "quantised":
        return latent.quantize(model, z)
    return z


@torch.no_grad()
def decode_codes(model: nn.Module, z: torch.Tensor, batch: int = 100) -> torch.Tensor:
    """Images [n, 1, 28, 28] (float32) decoded from codes, in batches of 100: cache-sized, 1.8x
    as fast on one CPU thread as 500 and the same bits per image (benchmarks/evaluation_batch.py)."""
    parts = [latent.decode(model, to_decoder_space(model, z[i : i + batch])) for i in range(0, len(z), batch)]
    return torch.cat(parts).float()


def generate(
    model: nn.Module, train_codes: torch.Tensor, seed: int, n: int = N_SAMPLES
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Images per sampler (``prior``, ``gmm``; a sampler that cannot run is absent) and notes
    saying why any is absent."""
    device = next(model.parameters()).device
    codes = train_codes.to(device)
    images, notes = {}, {}
    prior = prior_codes(model, n, codes, seed)
    if prior is None:
        notes["prior"] = PRIOR_LABELS["none"]
    else:
        images["prior"] = decode_codes(model, prior.to(device))
    mixture, why = gmm_codes(codes, n, seed)
    if mixture is None:
        notes["gmm"] = why
    else:
        images["gmm"] = decode_codes(model, mixture.to(device))
    return images, notes
