"""shared.codes: linear probe and Hungarian-matched k-means accuracy, against hand computations."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from shared import codes as C


def blobs(rng: np.random.Generator, n: int, spread: float = 0.1, scale: float = 50.0):
    """Ten far-apart Gaussian blobs in 16 dimensions, labels 0..9 in random order."""
    centres = rng.normal(size=(10, 16)) * scale
    y = rng.permutation(np.repeat(np.arange(10), n // 10))
    return centres[y] + spread * rng.normal(size=(len(y), 16)), y


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_separated_blobs_are_perfect(rng: np.random.Generator) -> None:
    centres = rng.normal(size=(10, 16)) * 50.0
    y_train, y_test = np.repeat(np.arange(10), 100), np.repeat(np.arange(10), 30)
    x_train = centres[y_train] + 0.1 * rng.normal(size=(len(y_train), 16))
    x_test = centres[y_test] + 0.1 * rng.normal(size=(len(y_test), 16))
    assert C.linear_probe_accuracy(x_train, y_train, x_test, y_test) == 1.0
    acc = C.kmeans_accuracy(x_test, y_test)
    assert acc.dtype == np.float64 and acc.shape == (5,)
    np.testing.assert_array_equal(acc, 1.0)


def brute_force_accuracy(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Best one-to-one cluster -> label assignment by trying every injective map."""
    cs, ls = np.unique(clusters), np.unique(labels)
    best = 0
    for image in itertools.permutations(ls, len(cs)) if len(cs) <= len(ls) else ():
        mapping = dict(zip(cs, image))
        best = max(best, sum(mapping[c] == y for c, y in zip(clusters, labels)))
    if len(cs) > len(ls):  # more clusters than labels: choose which clusters get a label
        for chosen in itertools.permutations(cs, len(ls)):
            mapping = dict(zip(chosen, ls))
            best = max(best, sum(mapping.get(c) == y for c, y in zip(clusters, labels)))
    return best / len(labels)


@pytest.mark.parametrize("case", range(20))
def test_hungarian_matches_brute_force(case: int) -> None:
    rng = np.random.default_rng(case)
    n_clusters = (3, 2, 4)[case % 3]
    clusters = rng.integers(0, n_clusters, 40)
    labels = rng.integers(0, 3, 40)
    assert C.matched_accuracy(clusters, labels) == pytest.approx(brute_force_accuracy(clusters, labels))


def test_hungarian_hand_case() -> None:
    # contingency (rows clusters 0..2, columns labels 0..2): [[1, 3, 0], [2, 0, 0], [0, 1, 4]]
    # best: 0->1, 1->0, 2->2 = 3 + 2 + 4 = 9 of 11
    clusters = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    labels = np.array([0, 1, 1, 1, 0, 0, 1, 2, 2, 2, 2])
    assert C.matched_accuracy(clusters, labels) == pytest.approx(9 / 11)


def test_kmeans_label_permutation_invariance(rng: np.random.Generator) -> None:
    x, y = blobs(rng, 600, spread=30.0)  # overlapping: accuracy well below 1
    perm = rng.permutation(10)
    plain, renamed = C.kmeans_accuracy(x, y), C.kmeans_accuracy(x, perm[y])
    assert plain.min() < 1.0
    np.testing.assert_array_equal(plain, renamed)


def test_deterministic(rng: np.random.Generator) -> None:
    x, y = blobs(rng, 1000, spread=30.0)
    np.testing.assert_array_equal(C.kmeans_accuracy(x, y, seed=3), C.kmeans_accuracy(x, y, seed=3))
    a = C.codes_metrics(x[:800], y[:800], x[800:], y[800:], seed=1)
    b = C.codes_metrics(x[:800], y[:800], x[800:], y[800:], seed=1)
    assert a["probe_accuracy"] == b["probe_accuracy"]
    np.testing.assert_array_equal(a["kmeans_accuracy"], b["kmeans_accuracy"])


def test_restarts_use_different_seeds(rng: np.random.Generator) -> None:
    x, y = blobs(rng, 1000, spread=40.0)
    acc = C.kmeans_accuracy(x, y, restarts=8)
    assert len(np.unique(acc)) > 1  # n_init=1 per restart: the initialisations differ


def test_collapsed_codes(rng: np.random.Generator) -> None:
    y_train = np.array([0] * 5 + [1] * 60 + [2] * 35)
    y_test = np.array([0] * 10 + [1] * 30 + [2] * 60)
    x_train, x_test = np.full((100, 16), 0.3), np.full((100, 16), 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = C.codes_metrics(x_train, y_train, x_test, y_test, restarts=3)
    assert out["probe_accuracy"] == pytest.approx(0.30)  # always "1", the training majority
    np.testing.assert_allclose(out["kmeans_accuracy"], 0.60)  # one cluster -> test majority "2"
    assert out["kmeans_std"] == 0.0


def test_fewer_distinct_codes_than_clusters(rng: np.random.Generator) -> None:
    points = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    which = rng.integers(0, 3, 90)
    labels = np.where(rng.random(90) < 0.8, which, rng.integers(0, 10, 90))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        acc = C.kmeans_accuracy(points[which], labels)
    np.testing.assert_allclose(acc, C.matched_accuracy(which, labels))


def test_probe_constant_features_ignored(rng: np.random.Generator) -> None:
    # one informative feature and one constant one: the scaler must not divide by zero
    y = np.repeat([0, 1], 50)
    x = np.column_stack([y * 10.0 + rng.normal(size=100), np.ones(100)])
    assert C.linear_probe_accuracy(x, y, x, y) == 1.0


def test_probe_converges() -> None:
    from sklearn.exceptions import ConvergenceWarning

    x, y = blobs(np.random.default_rng(1), 5000, spread=60.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        acc = C.linear_probe_accuracy(x[:4000], y[:4000], x[4000:], y[4000:])
    assert 0.1 < acc < 1.0


def test_summarise_kmeans() -> None:
    s = C.summarise_kmeans(np.array([0.5, 0.7, 0.9]))
    assert s["mean"] == pytest.approx(0.7)
    assert s["std"] == pytest.approx(0.2)  # ddof=1
    one = C.summarise_kmeans([0.4])
    assert one["mean"] == 0.4 and np.isnan(one["std"])


def test_codes_metrics_keys_and_types(rng: np.random.Generator) -> None:
    x, y = blobs(rng, 500)
    out = C.codes_metrics(x[:400], y[:400], x[400:], y[400:], restarts=4)
    assert list(out) == [
        "probe_accuracy", "kmeans_accuracy", "kmeans_mean", "kmeans_std",
        "n_train_codes", "n_test_codes", "restarts",
    ]  # fmt: skip
    assert isinstance(out["probe_accuracy"], float)
    assert out["kmeans_accuracy"].dtype == np.float32 and out["kmeans_accuracy"].shape == (4,)
    assert (out["n_train_codes"], out["n_test_codes"], out["restarts"]) == (400, 100, 4)
    direct = C.kmeans_accuracy(x[400:], y[400:], restarts=4)  # on the TEST codes
    assert out["kmeans_mean"] == pytest.approx(direct.mean())
    assert out["kmeans_std"] == pytest.approx(direct.std(ddof=1))
