"""The evaluation blocks beyond the study: generation quality and what the codes know.

Computed for every run by ``shared.evaluation.evaluate_model`` (docs/PROTOCOL.md#10-beyond-the-study;
schema v2 in ``shared.results``): samples from the model's prior and from a Gaussian mixture on
its training codes (``shared.generation``), their Fréchet distance and precision / recall
against the test images in the features of the project's MNIST classifier
(``shared.classifier``, ``shared.distribution``) -- "FD (MNIST-classifier features)", never FID --
and the linear-probe / k-means accuracy of the mean codes (``shared.codes``).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from shared import classifier, codes, distribution, generation, latent, registry

GRID_IMAGES = 64  # generated images stored per sampler (samples.generated_<sampler>)
KMEANS_RESTARTS = 5
N_TRAIN_CODES = 10_000  # training images whose codes fit the mixture and the probe (the first ones)
N_PR = 3_000  # points per set for precision / recall (quadratic cost); FD uses every point


@functools.lru_cache(maxsize=1)
def _feature_net() -> classifier.MNISTClassifier:
    # channels_last: ~1.5x faster convolutions on CPU (the features are most of the added cost)
    return classifier.load_classifier().to(memory_format=torch.channels_last)


def _features(x: torch.Tensor) -> torch.Tensor:
    net = _feature_net().to(x.device)
    x = x.contiguous(memory_format=torch.channels_last)
    return classifier.batched_features(net, x).double().cpu()


def generation_block(
    model: nn.Module,
    train_codes: torch.Tensor,
    test_x: torch.Tensor,
    recon_mean: torch.Tensor,
    seed: int,
) -> tuple[dict, dict[str, np.ndarray]]:
    """``metrics.generation`` and the sample grids (``samples.generated_<sampler>``); the
    mean-code reconstructions of the test images are the reference set (what the decoder
    achieves from real codes). The sampled ones are left out: they cost as much again and
    equal the mean-code ones for the deterministic models."""
    n_samples = generation.n_samples_for(len(test_x))
    images, notes = generation.generate(model, train_codes, seed, n_samples)
    real = _features(test_x)
    n_pr = min(N_PR, len(real))
    radii = distribution.knn_radii(real[:n_pr], distribution.DEFAULT_K)  # once for every set
    sets = {}
    for name, fake in {**images, "reconstruction_mean": recon_mean}.items():
        values = distribution.distribution_metrics(real, _features(fake), n_pr=n_pr, real_radii=radii)
        sets[name] = {key: values[key] for key in ("fd", "precision", "recall", "n_fake")}
    prior = registry.get_spec(latent.model_name(model)).prior
    block = {
        "prior": prior,
        "prior_label": generation.PRIOR_LABELS[prior],
        "n_samples": n_samples,
        "gmm_components": generation.GMM_COMPONENTS,
        "notes": notes,
        "feature_net": classifier.classifier_id(),
        "k": distribution.DEFAULT_K,
        "n_real": len(real),
        "n_pr": n_pr,
        "sets": sets,
    }
    grids = {
        f"generated_{name}": imgs[:GRID_IMAGES].cpu().reshape(-1, 28, 28).numpy().astype(np.float16)
        for name, imgs in images.items()
    }
    return block, grids


def codes_block(
    train_codes: torch.Tensor,
    train_y: torch.Tensor,
    test_codes: torch.Tensor,
    test_y: torch.Tensor,
    seed: int,
) -> dict:
    """``metrics.codes``: linear probe (train -> test) and k-means on the test codes."""
    as_np = lambda t: t.detach().cpu().double().numpy()  # noqa: E731
    return codes.codes_metrics(
        as_np(train_codes),
        train_y.cpu().numpy(),
        as_np(test_codes),
        test_y.cpu().numpy(),
        seed,
        KMEANS_RESTARTS,
    )
