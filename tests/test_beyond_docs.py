"""The numbers docs/PROTOCOL.md §10 and the README quote for the metrics beyond the study are the code's."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared import beyond_study, distribution, generation

ROOT = Path(__file__).resolve().parents[1]


def _section_10() -> str:
    text = (ROOT / "docs" / "PROTOCOL.md").read_text()
    return text[text.index("## 10. Beyond the study") :]


@pytest.mark.parametrize(
    "quoted",
    [
        f"{generation.N_SAMPLES:,} samples per sampler, at most {generation.SAMPLES_PER_TEST_IMAGE} per test image",
        f"a smoke run's 128 test images\nget {generation.n_samples_for(128):,}",
        f"a {generation.GMM_COMPONENTS}-component full-covariance Gaussian mixture",
        f"(k = {distribution.DEFAULT_K})",
        f"first {beyond_study.N_PR:,} points of each set",
        f"{beyond_study.KMEANS_RESTARTS} restarts seeded from the run seed",
        "at most 1 − 10⁻³ from the origin",
        f"the first {beyond_study.N_TRAIN_CODES:,} training images",
    ],
)
def test_protocol_quotes_the_constants(quoted: str) -> None:
    assert quoted in _section_10()


def test_ball_margin_is_the_quoted_one() -> None:
    assert generation.BALL_MARGIN == 1e-3


def test_readme_quotes_the_same_sampler_size_and_neighbourhood() -> None:
    readme = (ROOT / "README.md").read_text()
    per_image = generation.SAMPLES_PER_TEST_IMAGE
    assert (
        f"*Samples* ({generation.N_SAMPLES:,} per sampler; smoke runs: {per_image} per test image)" in readme
    )
    assert f"k = {distribution.DEFAULT_K} nearest neighbours" in readme
    assert f"{generation.GMM_COMPONENTS}-component Gaussian mixture" in readme
