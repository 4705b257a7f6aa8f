"""Posterior collapse, defined from the data (torch-free, so tables can state the rule).

A model has collapsed when its codes carry almost nothing about the image: reconstructing every
test image from its mean code is barely better than predicting the mean training image for all
of them. The verdict is stored with each run (``metrics.collapse``, schema in ``shared.results``)
and every table and figure flags such runs; they are kept out of recommendations and off the
Pareto frontier, because a constant output is trivially "smooth" (PIQ near 0). A run that has
not learned at all (ratio above 1, e.g. the one-epoch smoke profile) is flagged by the same rule:
its reconstructions say no more about the image than the mean image does.
"""

from __future__ import annotations

#: mean-code MSE / mean-image MSE at or above this: the codes explain under 10 % of the pixel
#: variance that the mean image leaves. Working models reach 0.2-0.8 in the quick profile;
#: collapsed ones (beta-VAE at beta = 4, VAE-GAN) sit at 0.97-1.03.
COLLAPSE_RATIO = 0.9

COLLAPSE_RULE = (
    "collapsed: test MSE of the reconstruction from the mean code >= "
    f"{COLLAPSE_RATIO:g} x the MSE of predicting the mean training image (the codes explain "
    f"less than {1 - COLLAPSE_RATIO:.0%} of the pixel variance around the mean image)"
)


def collapse_verdict(mean_code_mse: float, mean_image_mse: float) -> dict[str, float | bool]:
    """The stored ``metrics.collapse`` block for one run."""
    ratio = float(mean_code_mse) / float(mean_image_mse) if mean_image_mse > 0 else float("inf")
    return {
        "mean_code_mse": float(mean_code_mse),
        "mean_image_mse": float(mean_image_mse),
        "ratio": ratio,
        "collapsed": bool(ratio >= COLLAPSE_RATIO),
    }
