"""shared.distribution: FD against scipy and closed forms, precision/recall against brute force
and hand-worked cases, and sanity checks in the MNIST classifier's feature space."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from shared import distribution
from shared.distribution import DEFAULT_K, distribution_metrics, frechet_distance, precision_recall


def _gaussian(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    """n points of a correlated Gaussian in d dimensions (a random linear map of N(0, I))."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g, dtype=torch.float64)
    return torch.randn(n, d, generator=g, dtype=torch.float64) @ mix + shift


def _scipy_fd(a: np.ndarray, b: np.ndarray) -> float:
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s_a @ s_b).real
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s_a + s_b - 2 * covmean))


# --- Fréchet distance ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fd_matches_scipy_sqrtm(seed):
    a, b = _gaussian(500, 8, seed), _gaussian(500, 8, seed + 10, shift=0.5)
    assert frechet_distance(a, b) == pytest.approx(_scipy_fd(a.numpy(), b.numpy()), rel=1e-6)


def test_fd_of_a_set_with_itself_is_zero():
    a = _gaussian(500, 8, 3)
    assert abs(frechet_distance(a, a)) < 1e-9


def test_fd_matches_closed_form_for_known_gaussians():
    """N(0, I) vs N(m, 4 I) in d=4: |m|^2 + Tr(I + 4I - 2*2I) = |m|^2 + d = 1 + 4."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(20_000, 4, generator=g, dtype=torch.float64)
    y = 2 * torch.randn(20_000, 4, generator=g, dtype=torch.float64)
    y[:, 0] += 1.0
    assert frechet_distance(x, y) == pytest.approx(5.0, rel=0.03)
    assert frechet_distance(x, x + torch.tensor([3.0, 4.0, 0.0, 0.0])) == pytest.approx(25.0, rel=1e-9)


def test_fd_keeps_its_digits_under_a_large_common_offset():
    """torchmetrics accumulates sum(x x^T); without the internal centring an offset of 1e5
    costs ~1e-6 relative, with it the value is unchanged to ~1e-12."""
    a, b = _gaussian(500, 8, 5), _gaussian(500, 8, 6, shift=0.5)
    assert frechet_distance(a + 1e5, b + 1e5) == pytest.approx(frechet_distance(a, b), rel=1e-10)


def test_fd_accepts_float32_and_returns_a_python_float():
    a, b = _gaussian(500, 8, 7), _gaussian(500, 8, 8)
    fd = frechet_distance(a.float(), b.float())
    assert type(fd) is float
    assert fd == pytest.approx(frechet_distance(a, b), rel=1e-5)


def test_fd_rejects_too_few_points_and_mismatched_dimensions():
    a = _gaussian(10, 3, 9)
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(a, a[:1])
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(a[:1], a)
    with pytest.raises(ValueError, match="dimensions differ"):
        frechet_distance(a, a[:, :2])
    with pytest.raises(ValueError, match="2-D"):
        frechet_distance(a[0], a)


# --- precision / recall ----------------------------------------------------------------------


def _brute_force_pr(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """The definition written out: full distance matrices, explicit loops over points."""

    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    def radii(a):
        d = dist(a, a)
        return np.array([np.sort(np.delete(d[i], i))[k - 1] for i in range(len(a))])

    r_real, r_fake = radii(real), radii(fake)
    d_fr = dist(fake, real)
    precision = np.mean([any(d_fr[i, j] <= r_real[j] for j in range(len(real))) for i in range(len(fake))])
    recall = np.mean([any(d_fr[i, j] <= r_fake[i] for i in range(len(fake))) for j in range(len(real))])
    return float(precision), float(recall)


@pytest.mark.parametrize(("seed", "k"), [(0, 1), (1, 3), (2, 5)])
def test_pr_matches_brute_force(seed, k):
    real, fake = _gaussian(70, 5, seed), _gaussian(50, 5, seed + 10, shift=0.7)
    assert precision_recall(real, fake, k=k) == pytest.approx(_brute_force_pr(real.numpy(), fake.numpy(), k))


def test_pr_is_unchanged_by_small_distance_blocks(monkeypatch):
    real, fake = _gaussian(70, 5, 3), _gaussian(50, 5, 4, shift=0.7)
    whole = precision_recall(real, fake)
    monkeypatch.setattr(distribution, "_CHUNK_ELEMENTS", 7 * 70)  # blocks of 7 or 10 rows
    assert precision_recall(real, fake) == whole


def test_pr_hand_worked_1d_case():
    """k=1. Real {0,1,2,3}: every radius is 1. Fake {0.5, 4.5, 10}: radii 4, 4, 5.5.
    Fake inside real: only 0.5 (4.5 is 1.5 from 3) -> precision 1/3.
    Real inside fake: 0, 1, 2 (<= 4 from 0.5) and 3 (1.5 from 4.5) -> recall 1."""
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    fake = torch.tensor([[0.5], [4.5], [10.0]])
    assert precision_recall(real, fake, k=1) == pytest.approx((1 / 3, 1.0))
    assert precision_recall(fake, real, k=1) == pytest.approx((1.0, 1 / 3))  # roles swap


def test_pr_counts_a_point_at_exactly_the_radius_as_inside():
    """k=1. Real {(0,0), (3,4)}: both radii 5. Fake (-3,-4) is exactly 5 from (0,0) (and 10
    from (3,4)): inside; fake (-6,0) is 6 from the nearest real point: outside."""
    real = torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=torch.float64)
    fake = torch.tensor([[-3.0, -4.0], [-6.0, 0.0]], dtype=torch.float64)
    assert precision_recall(real, fake, k=1)[0] == 0.5
    fake[0, 1] -= 1e-9  # now 5 + 8e-10 away: outside
    assert precision_recall(real, fake, k=1)[0] == 0.0


def test_pr_duplicates_are_neighbours_at_distance_zero():
    """k=1 on {0, 0, 5}: the two zeros have radius 0, the 5 radius 5. A fake at 0 is inside,
    one at 0.1 only through the ball of 5 (radius 5) -> both inside; one at -0.1 is not."""
    real = torch.tensor([[0.0], [0.0], [5.0]])
    assert precision_recall(real, torch.tensor([[0.0], [0.1], [-0.1]]), k=1)[0] == pytest.approx(2 / 3)


def test_pr_distances_are_exact_differences_not_the_matmul_shortcut():
    """Thirty duplicated pairs far from the origin (radius 0 at k=1), fakes 1e-6 off each pair.
    Exact distances put every fake outside; |a|^2 + |b|^2 - 2ab rounds ~1e-5 at this scale and
    would let some in."""
    real = (1000.0 + 10 * torch.arange(30, dtype=torch.float64)).repeat_interleave(2)[:, None].repeat(1, 4)
    fake = real[::2].clone()
    fake[:, 0] += 1e-6
    assert precision_recall(real, fake, k=1) == (0.0, 1.0)


def test_pr_of_a_set_with_itself_is_one():
    real = _gaussian(300, 6, 5)
    assert precision_recall(real, real) == (1.0, 1.0)


def test_pr_mode_collapse_gives_high_precision_low_recall():
    """Fakes in a tight cluster at the centre of a wide real cloud: realistic but not diverse.
    Guards the argument order (precision is about the fakes)."""
    real, fake = _gaussian(400, 4, 6), 0.05 * _gaussian(400, 4, 7)
    precision, recall = precision_recall(real, fake)
    assert precision > 0.9
    assert recall < 0.1


def test_pr_rejects_bad_k():
    a = _gaussian(4, 2, 8)
    with pytest.raises(ValueError, match="more than k"):
        precision_recall(a, a, k=4)
    with pytest.raises(ValueError, match="k must be"):
        precision_recall(a, a, k=0)


# --- distribution_metrics --------------------------------------------------------------------


def test_distribution_metrics_uses_all_points_for_fd_and_n_pr_for_pr():
    real, fake = _gaussian(200, 5, 9), _gaussian(150, 5, 10, shift=0.3)
    out = distribution_metrics(real, fake, n_pr=60)
    assert out == {
        "fd": frechet_distance(real, fake),
        "precision": precision_recall(real[:60], fake[:60])[0],
        "recall": precision_recall(real[:60], fake[:60])[1],
        "n_real": 200,
        "n_fake": 150,
        "k": DEFAULT_K,
    }
    everything = distribution_metrics(real, fake, k=2)
    assert (everything["precision"], everything["recall"]) == precision_recall(real, fake, k=2)
    assert everything["k"] == 2
    with pytest.raises(ValueError, match="n_pr"):
        distribution_metrics(real, fake, n_pr=0)


# --- sanity in the MNIST classifier's features -----------------------------------------------

N_HALF = 2_000


@pytest.fixture(scope="module")
def mnist_features(mnist_dir):
    """Classifier features of two interleaved 2,000-image halves of the test set (indices
    0, 5, 10, ... and 1, 6, 11, ...: both span the cleaner first and the harder last 5,000, whose
    FD to each other is several times larger), of 2,000 uniform-noise images, and of the mean
    test image repeated 2,000 times (its features computed once: the network is deterministic)."""
    from shared import classifier
    from shared.data import load_mnist

    net = classifier.load_classifier()
    test_x = load_mnist(mnist_dir).test_x
    noise = torch.rand(N_HALF, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    features = {
        "a": classifier.batched_features(net, test_x[0::5]),
        "b": classifier.batched_features(net, test_x[1::5]),
        "noise": classifier.batched_features(net, noise),
        "mean": classifier.batched_features(net, test_x.mean(dim=0, keepdim=True)).expand(N_HALF, -1),
    }
    assert all(len(f) == N_HALF for f in features.values())
    return features


def test_fd_between_test_halves_is_small_and_far_below_noise_and_mean_image(mnist_features):
    """Measured with mnist-lenet-840d8cf60ae8: halves 5.1 = 0.8 % of the total variance 652; noise 834
    (165x), mean image 964 (190x)."""
    f = mnist_features
    halves = frechet_distance(f["a"], f["b"])
    total_variance = torch.cov(f["a"].double().T).trace().item()
    assert 0 < halves < 0.02 * total_variance
    assert frechet_distance(f["a"], f["noise"]) > 50 * halves
    assert frechet_distance(f["a"], f["mean"]) > 50 * halves


def test_pr_of_the_test_set_with_itself_is_one(mnist_features):
    assert precision_recall(mnist_features["a"], mnist_features["a"]) == (1.0, 1.0)


def test_pr_between_test_halves_is_high(mnist_features):
    """Measured 0.894 / 0.894: with k=3 two samples of one distribution score ~0.9, not 1."""
    precision, recall = precision_recall(mnist_features["a"], mnist_features["b"])
    assert precision >= 0.85
    assert recall >= 0.85


def test_noise_and_the_mean_image_cover_none_of_the_test_set(mnist_features):
    """Recall 0 for both. Their precision is high (0.995, 1.0: the tight clusters fall inside
    outlying digits' large balls), which is why precision is never read alone; not asserted."""
    for fake in ("noise", "mean"):
        assert precision_recall(mnist_features["a"], mnist_features[fake])[1] == 0.0


def test_precomputed_real_radii_give_the_same_answer_and_are_checked() -> None:
    gen = torch.Generator().manual_seed(11)
    real = torch.randn(300, 8, generator=gen, dtype=torch.float64)
    fakes = [torch.randn(300, 8, generator=gen, dtype=torch.float64) * s for s in (0.5, 1.0, 2.0)]
    radii = distribution.knn_radii(real, 3)
    for fake in fakes:
        assert distribution.precision_recall(real, fake, 3, radii) == distribution.precision_recall(
            real, fake, 3
        )
    with pytest.raises(ValueError, match="one radius per real point"):
        distribution.precision_recall(real, fakes[0], 3, radii[:10])
