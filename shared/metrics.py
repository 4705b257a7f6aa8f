"""Image metrics of the benchmark (docs/PROTOCOL.md#5-metrics), in plain torch.

Everything here works on batches, on CPU or GPU, and returns one value per image or per
sequence, so that the notebooks can keep per-item values and aggregate them later.

Conventions
-----------
- Images are in [0, 1] and shaped ``[N, 1, H, W]`` or ``[N, H, W]`` (numpy arrays accepted).
- Computation is done in float64 (float32 on devices without float64, e.g. Apple MPS), so that
  SSIM matches scikit-image to ~1e-7; the returned tensors are float64 on the input device.
- MSE / MAE: mean over the pixels of ``(x - x_hat)**2`` / ``|x - x_hat|``.
- PSNR: ``10 * log10(1 / max(MSE, 1e-10))`` dB (MAX = 1). The clamp turns a perfect
  reconstruction into 100 dB instead of ``inf``, which would poison every mean.
- SSIM: Wang et al. (2004) with a Gaussian window, sigma = 1.5, truncated at 3.5 sigma, i.e. an
  11x11 window (radius 5); c1 = (0.01 L)^2, c2 = (0.03 L)^2, L = 1; population (not sample)
  covariances; the SSIM map is averaged over the *valid* region only (the 5-pixel border is
  dropped, 28x28 -> 18x18). This is exactly ``skimage.metrics.structural_similarity(a, b,
  data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``: skimage
  filters with mode='reflect' and then crops ``(win_size - 1) // 2 = 5`` pixels, so the reflected
  pixels never reach the averaged region.
- Sharpness: variance (ddof=0) of the 3x3 Laplacian ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]``
  response over the valid region (26x26 for 28x28), the kernel of ``scipy.ndimage.laplace``.
- Interpolation (the study's metrics): for frames ``f_1..f_K``, ``d_i = mean over pixels of
  (f_{i+1} - f_i)**2`` (the per-pixel mean, not the squared L2 norm: only that matches the
  study's PIQ ~ 1e-3); PIQ = mean of d_i; ISS = population variance (ddof=0) of d_i, in plain
  units (no x10); I-SSIM = mean over i of SSIM(f_i, f_{i+1}).
- Scale-free interpolation metrics (ours, not the study's; :data:`SCALE_FREE_METRICS`). PIQ and
  ISS grow with the distance the frames travel: a sharper model moves further between the same
  two digits, which raises PIQ without making the path any less smooth. These remove that scale:

  - ``endpoint_distance`` = mean over pixels of ``(f_K - f_1)**2``, the scale itself;
  - ``path_excess`` = PIQ / (endpoint_distance / (K-1)**2): PIQ relative to the straight
    pixel-space morph at constant speed between the same end frames. It is >= 1 (triangle
    inequality and Cauchy-Schwarz: ``mean d_i >= (mean sqrt d_i)**2 >= endpoint/(K-1)**2``) and
    exactly 1 for that morph; K-1 when all the change happens in one step. NaN ("undefined: the
    end frames are identical") when endpoint_distance <= ``ENDPOINT_DISTANCE_FLOOR`` (1e-12,
    an RMS pixel difference of 1e-6), so a loop or a frozen sequence never divides by zero;
  - ``step_cv`` = population std / mean of the step lengths ``sqrt(d_i)``: how unevenly the path
    is paced (0 at constant speed, sqrt(K-2) for a single jump). 0 when every step is 0 (a
    sequence that does not move is perfectly even).

  Multiplying every frame's deviation from a fixed image by c multiplies PIQ and
  endpoint_distance by c**2 and ISS by c**4, and leaves path_excess and step_cv unchanged.
"""

from __future__ import annotations

import numpy as np
import torch

PSNR_MSE_FLOOR = 1e-10
SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5
SSIM_RADIUS = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)  # 5, as scipy.ndimage / skimage compute it
SSIM_WIN_SIZE = 2 * SSIM_RADIUS + 1  # 11
SSIM_K1, SSIM_K2, SSIM_DATA_RANGE = 0.01, 0.03, 1.0
ENDPOINT_DISTANCE_FLOOR = 1e-12  # at or below it the end frames count as identical
# Images per SSIM pass: the whole 10,000-image test set at once held ~0.65 GB of float64
# intermediates (issue #15: an evaluation's peak memory); per-image values are the same.
SSIM_CHUNK = 1000
#: Interpolation metrics free of the path's scale (see the module docstring).
SCALE_FREE_METRICS = ("endpoint_distance", "path_excess", "step_cv")

Array = torch.Tensor | np.ndarray


def _work_dtype(device: torch.device) -> torch.dtype:
    """float64 for accuracy, except where the device has none (MPS)."""
    return torch.float32 if device.type == "mps" else torch.float64


def _as_tensor(x: Array) -> torch.Tensor:
    t = torch.as_tensor(x)
    return t.to(_work_dtype(t.device))


def _images(x: Array) -> torch.Tensor:
    """``[N, 1, H, W]`` or ``[N, H, W]`` -> ``[N, H, W]`` in the working dtype."""
    t = _as_tensor(x)
    if t.dim() == 4 and t.shape[1] == 1:
        t = t[:, 0]
    if t.dim() != 3:
        raise ValueError(f"expected images [N, 1, H, W] or [N, H, W], got {tuple(t.shape)}")
    return t


def _pair(x: Array, x_hat: Array) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = _images(x), _images(x_hat)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {tuple(a.shape)} vs {tuple(b.shape)}")
    return a, b.to(a.device)


def mse(x: Array, x_hat: Array) -> torch.Tensor:
    """Per-image mean squared error, ``[N]``."""
    a, b = _pair(x, x_hat)
    return (a - b).pow(2).flatten(1).mean(1)


def mae(x: Array, x_hat: Array) -> torch.Tensor:
    """Per-image mean absolute error, ``[N]``."""
    a, b = _pair(x, x_hat)
    return (a - b).abs().flatten(1).mean(1)


def psnr(x: Array, x_hat: Array) -> torch.Tensor:
    """Per-image PSNR in dB with MAX = 1; MSE clamped at 1e-10 (so at most 100 dB)."""
    return 10.0 * torch.log10(1.0 / mse(x, x_hat).clamp_min(PSNR_MSE_FLOOR))


def _gaussian_1d(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The 11-tap Gaussian of ``scipy.ndimage.gaussian_filter(sigma=1.5, truncate=3.5)``."""
    x = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, device=device, dtype=dtype)
    g = torch.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
    return g / g.sum()


def _valid_filter_matrix(n: int, g: torch.Tensor) -> torch.Tensor:
    """``[n - 10, n]`` banded matrix: row i holds the Gaussian taps over columns i..i+10."""
    rows = n - g.numel() + 1
    cols = torch.arange(rows, device=g.device)[:, None] + torch.arange(g.numel(), device=g.device)
    return torch.zeros(rows, n, device=g.device, dtype=g.dtype).scatter_(1, cols, g.expand(rows, -1))


def _blur_valid(t: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter, valid region only: ``[M, H, W] -> [M, H-10, W-10]``.

    Written as ``Gh @ t @ Gw^T`` with banded matrices: same numbers as a convolution, but
    float64 matrix products are ~10x faster than float64 ``conv2d`` on CPU.
    """
    g = _gaussian_1d(t.device, t.dtype)
    gh, gw = _valid_filter_matrix(t.shape[-2], g), _valid_filter_matrix(t.shape[-1], g)
    return gh @ t @ gw.T


def _ssim_flat(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of matching images of two ``[M, H, W]`` stacks, ``[M]``, ``SSIM_CHUNK`` at a time."""
    if min(a.shape[-2:]) < SSIM_WIN_SIZE:
        raise ValueError(f"images must be at least {SSIM_WIN_SIZE}x{SSIM_WIN_SIZE} for SSIM")
    if len(a) <= SSIM_CHUNK:
        return _ssim_stack(a, b)
    return torch.cat(
        [_ssim_stack(a[i : i + SSIM_CHUNK], b[i : i + SSIM_CHUNK]) for i in range(0, len(a), SSIM_CHUNK)]
    )


def _ssim_stack(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    m = a.shape[0]
    stats = _blur_valid(torch.cat([a, b, a * a, b * b, a * b]))
    ux, uy, uxx, uyy, uxy = stats.split(m)
    vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
    c1 = (SSIM_K1 * SSIM_DATA_RANGE) ** 2
    c2 = (SSIM_K2 * SSIM_DATA_RANGE) ** 2
    num = (2 * ux * uy + c1) * (2 * vxy + c2)
    den = (ux * ux + uy * uy + c1) * (vx + vy + c2)
    return (num / den).flatten(1).mean(1)


def ssim(x: Array, x_hat: Array) -> torch.Tensor:
    """Per-image SSIM, ``[N]``; identical to skimage's Gaussian SSIM (see module docstring)."""
    a, b = _pair(x, x_hat)
    return _ssim_flat(a, b)


def _frames(frames: Array) -> torch.Tensor:
    """``[S, K, H, W]`` or ``[S, K, 1, H, W]`` -> ``[S, K, H, W]`` in the working dtype."""
    t = _as_tensor(frames)
    if t.dim() == 5 and t.shape[2] == 1:
        t = t[:, :, 0]
    if t.dim() != 4 or t.shape[1] < 2:
        raise ValueError(f"expected frames [S, K>=2, H, W], got {tuple(t.shape)}")
    return t


def ssim_pairs(frames: Array) -> torch.Tensor:
    """SSIM of each pair of consecutive frames, ``[S, K, H, W] -> [S, K-1]``."""
    f = _frames(frames)
    s, k, h, w = f.shape
    first = f[:, :-1].reshape(-1, h, w)
    second = f[:, 1:].reshape(-1, h, w)
    return _ssim_flat(first, second).view(s, k - 1)


def laplacian_variance(x: Array) -> torch.Tensor:
    """Per-image sharpness: variance (ddof=0) of the 3x3 Laplacian over the valid region."""
    t = _images(x)
    centre = t[:, 1:-1, 1:-1]
    response = t[:, :-2, 1:-1] + t[:, 2:, 1:-1] + t[:, 1:-1, :-2] + t[:, 1:-1, 2:] - 4 * centre
    return response.flatten(1).var(1, correction=0)


def reconstruction_metrics(x: Array, x_hat: Array) -> dict[str, torch.Tensor]:
    """All per-image reconstruction metrics of the schema: ssim, mse, psnr, mae, sharpness.

    ``sharpness`` is the Laplacian variance of the reconstruction ``x_hat``.
    """
    return {
        "ssim": ssim(x, x_hat),
        "mse": mse(x, x_hat),
        "psnr": psnr(x, x_hat),
        "mae": mae(x, x_hat),
        "sharpness": laplacian_variance(x_hat),
    }


def frame_distances(frames: Array) -> torch.Tensor:
    """``d_i`` = per-pixel mean squared difference of consecutive frames, ``[S, K-1]``."""
    f = _frames(frames)
    return (f[:, 1:] - f[:, :-1]).pow(2).flatten(2).mean(2)


def endpoint_distance(frames: Array) -> torch.Tensor:
    """Per-pixel mean squared difference of the last and first frame, ``[S]``: the path's scale."""
    f = _frames(frames)
    return (f[:, -1] - f[:, 0]).pow(2).flatten(1).mean(1)


def path_excess(d: torch.Tensor, endpoint: torch.Tensor) -> torch.Tensor:
    """PIQ over that of the straight constant-speed morph, ``[S]``; NaN when the ends coincide."""
    straight = endpoint / (d.shape[1] ** 2)  # (K-1)**2, K-1 = number of steps
    undefined = endpoint <= ENDPOINT_DISTANCE_FLOOR
    ratio = d.mean(1) / torch.where(undefined, torch.ones_like(straight), straight)
    return torch.where(undefined, torch.full_like(ratio, float("nan")), ratio)


def step_cv(d: torch.Tensor) -> torch.Tensor:
    """Coefficient of variation (ddof=0) of the step lengths ``sqrt(d_i)``, ``[S]``; 0 if none move."""
    steps = d.sqrt()
    mean = steps.mean(1)
    still = mean == 0
    cv = steps.std(1, correction=0) / torch.where(still, torch.ones_like(mean), mean)
    return torch.where(still, torch.zeros_like(cv), cv)


def interpolation_metrics(frames: Array) -> dict[str, torch.Tensor]:
    """Per sequence of frames ``[S, K, H, W]``, each ``[S]``: the study's PIQ, ISS (ddof=0) and
    I-SSIM, then the scale-free endpoint_distance, path_excess and step_cv (module docstring)."""
    d = frame_distances(frames)
    endpoint = endpoint_distance(frames)
    return {
        "piq": d.mean(1),
        "iss": d.var(1, correction=0),
        "issim": ssim_pairs(frames).mean(1),
        "endpoint_distance": endpoint,
        "path_excess": path_excess(d, endpoint),
        "step_cv": step_cv(d),
    }


def interpolation_codes(z1: torch.Tensor, z2: torch.Tensor, k: int = 10) -> torch.Tensor:
    """Linear path ``z_i = (1 - a_i) z1 + a_i z2``, ``a_i = (i-1)/(K-1)``: ``[S, D] -> [S, K, D]``.

    Extra trailing code dimensions are kept (``[S, *shape] -> [S, K, *shape]``). The first
    frame is exactly ``z1`` and the last exactly ``z2``.
    """
    if k < 2:
        raise ValueError("k must be at least 2")
    if z1.shape != z2.shape:
        raise ValueError(f"shape mismatch: {tuple(z1.shape)} vs {tuple(z2.shape)}")
    alpha = torch.linspace(0.0, 1.0, k, device=z1.device, dtype=z1.dtype)
    alpha = alpha.view(1, k, *([1] * (z1.dim() - 1)))
    path = (1 - alpha) * z1.unsqueeze(1) + alpha * z2.unsqueeze(1)
    path[:, -1] = z2  # exact endpoint, free of rounding
    return path


def great_circle_codes(z1: torch.Tensor, z2: torch.Tensor, k: int = 10) -> torch.Tensor:
    """Spherical path (slerp) between unit vectors: ``[S, D] -> [S, K, D]``, every code of norm 1.

    z_i = sin((1 - a_i) W) / sin W * z1 + sin(a_i W) / sin W * z2, W the angle between z1 and z2,
    a_i = (i-1)/(K-1) as for the straight line. Nearly equal codes (sin W < 1e-6) fall back to
    the normalised straight line, the limit of slerp; antipodal pairs have no unique great
    circle (that same line, undefined at its midpoint) and do not occur for encoder outputs.
    """
    u = z1 / z1.norm(dim=-1, keepdim=True)
    v = z2 / z2.norm(dim=-1, keepdim=True)
    omega = torch.arccos((u * v).sum(-1, keepdim=True).clamp(-1.0, 1.0))[:, None]  # [S, 1, 1]
    alpha = torch.linspace(0.0, 1.0, k, device=z1.device, dtype=z1.dtype).view(1, k, 1)
    sin_omega = torch.sin(omega)
    small = sin_omega < 1e-6
    safe = torch.where(small, torch.ones_like(sin_omega), sin_omega)
    slerp = (torch.sin((1 - alpha) * omega) * u[:, None] + torch.sin(alpha * omega) * v[:, None]) / safe
    line = interpolation_codes(u, v, k)
    line = line / line.norm(dim=-1, keepdim=True)
    path = torch.where(small, line, slerp)
    path[:, 0], path[:, -1] = u, v  # exact endpoints
    return path
