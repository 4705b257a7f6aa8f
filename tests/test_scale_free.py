"""Scale-free interpolation metrics of shared.metrics (endpoint distance, path excess, step CV)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shared import metrics

K = 10


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def two_images(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.random((28, 28)), rng.random((28, 28))


def run(frames: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in metrics.interpolation_metrics(frames).items()}


def numpy_reference(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Independent per-sequence computation, one sequence at a time with plain numpy loops."""
    out: dict[str, list[float]] = {"endpoint_distance": [], "path_excess": [], "step_cv": []}
    for seq in frames:
        k = len(seq)
        d = np.array([np.mean((seq[i + 1] - seq[i]) ** 2) for i in range(k - 1)])
        end = float(np.mean((seq[-1] - seq[0]) ** 2))
        lengths = np.sqrt(d)
        out["endpoint_distance"].append(end)
        out["path_excess"].append(d.mean() * (k - 1) ** 2 / end if end > 1e-12 else math.nan)
        out["step_cv"].append(np.std(lengths) / lengths.mean() if lengths.mean() > 0 else 0.0)
    return {k: np.array(v) for k, v in out.items()}


def test_public_names() -> None:
    assert metrics.SCALE_FREE_METRICS == ("endpoint_distance", "path_excess", "step_cv")
    out = metrics.interpolation_metrics(np.zeros((2, K, 28, 28)))
    assert set(metrics.SCALE_FREE_METRICS) <= set(out)
    for name in metrics.SCALE_FREE_METRICS:
        assert out[name].shape == (2,) and out[name].dtype.is_floating_point


def test_straight_morph_is_one_and_even(rng: np.random.Generator) -> None:
    a, b = two_images(rng)
    alpha = np.linspace(0.0, 1.0, K)
    frames = ((1 - alpha)[:, None, None] * a + alpha[:, None, None] * b)[None]
    out = run(frames)
    np.testing.assert_allclose(out["endpoint_distance"], [np.mean((b - a) ** 2)], rtol=1e-12)
    np.testing.assert_allclose(out["path_excess"], [1.0], atol=1e-12)
    np.testing.assert_allclose(out["step_cv"], [0.0], atol=1e-12)


@pytest.mark.parametrize("jump_at", [0, 4, K - 2])
def test_single_jump_hand_values(rng: np.random.Generator, jump_at: int) -> None:
    # n = K-1 steps, one of length s: PIQ = s^2/n, endpoint = s^2 -> path excess = n;
    # step lengths mean s/n, population variance s^2/n - s^2/n^2 -> CV = sqrt(n - 1).
    a, b = two_images(rng)
    frames = np.stack([a if i <= jump_at else b for i in range(K)])[None]
    out = run(frames)
    n = K - 1
    np.testing.assert_allclose(out["path_excess"], [n], rtol=1e-12)
    np.testing.assert_allclose(out["step_cv"], [math.sqrt(n - 1)], rtol=1e-12)
    np.testing.assert_allclose(out["step_cv"], [2 * math.sqrt(2)], rtol=1e-12)  # K = 10


def test_identical_ends_with_motion_is_nan(rng: np.random.Generator) -> None:
    a, b = two_images(rng)
    frames = np.stack([a, b, b, a, b, a, a, b, b, a])[None]  # a round trip
    out = run(frames)
    assert out["endpoint_distance"][0] == 0.0
    assert np.isnan(out["path_excess"][0])
    assert np.isfinite(out["step_cv"][0]) and out["step_cv"][0] > 0
    assert out["piq"][0] > 0


def test_static_sequence_is_nan_and_zero(rng: np.random.Generator) -> None:
    a, _ = two_images(rng)
    out = run(np.repeat(a[None, None], K, axis=1))
    assert np.isnan(out["path_excess"][0])
    assert out["step_cv"][0] == 0.0
    assert out["endpoint_distance"][0] == 0.0


def test_floor_marks_nearly_identical_ends(rng: np.random.Generator) -> None:
    a, b = two_images(rng)
    end = a + 1e-7  # per-pixel mean squared difference 1e-14 <= floor
    frames = np.stack([a, b] + [b] * (K - 3) + [end])[None]
    assert np.isnan(run(frames)["path_excess"][0])
    assert metrics.ENDPOINT_DISTANCE_FLOOR == 1e-12


def test_path_excess_at_least_one_on_random_sequences(rng: np.random.Generator) -> None:
    frames = rng.random((200, K, 28, 28))
    out = run(frames)
    assert np.all(out["path_excess"] >= 1.0)
    assert np.all(out["step_cv"] >= 0.0)


@pytest.mark.parametrize("c", [0.1, 0.5, 3.0])
def test_scale_invariance(rng: np.random.Generator, c: float) -> None:
    base = rng.random((28, 28))
    frames = rng.random((5, K, 28, 28))
    scaled = base + c * (frames - base)
    plain, out = run(frames), run(scaled)
    np.testing.assert_allclose(out["path_excess"], plain["path_excess"], rtol=1e-10)
    np.testing.assert_allclose(out["step_cv"], plain["step_cv"], rtol=1e-10)
    np.testing.assert_allclose(out["piq"], c**2 * plain["piq"], rtol=1e-10)
    np.testing.assert_allclose(out["endpoint_distance"], c**2 * plain["endpoint_distance"], rtol=1e-10)


def test_matches_independent_numpy(rng: np.random.Generator) -> None:
    frames = rng.random((6, K, 28, 28))
    frames[1] = frames[1, :1]  # static
    frames[2, -1] = frames[2, 0]  # identical ends
    frames[3, 3:] = frames[3, 3]  # one stretch of motion, then still
    out, ref = run(frames), numpy_reference(frames)
    for name in metrics.SCALE_FREE_METRICS:
        np.testing.assert_allclose(out[name], ref[name], rtol=1e-12, equal_nan=True)


def test_study_metrics_unchanged(rng: np.random.Generator) -> None:
    frames = rng.random((4, K, 28, 28))
    out = metrics.interpolation_metrics(frames)
    d = metrics.frame_distances(frames)
    assert out["piq"].equal(d.mean(1))
    assert out["iss"].equal(d.var(1, correction=0))
    assert out["issim"].equal(metrics.ssim_pairs(frames).mean(1))
