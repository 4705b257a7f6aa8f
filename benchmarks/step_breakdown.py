"""Where one VAE training step's time goes, on one thread: each layer's forward and forward +
backward at batch 64 (channels_last, as training runs), the fused output layer written three ways,
and whole steps unfused and fused. Medians of alternated repeats, milliseconds.

Why it exists: to say what the fused output (shared/backbone.py) leaves for a faster step to cut.
Its three ways of computing the fused layer (one transposed conv; a matrix product then
``F.fold``; four sub-pixel phases of one matrix product) are checked equal in float64 first.

    python benchmarks/step_breakdown.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import backbone  # noqa: E402
from shared.precision import cpu_label  # noqa: E402
from shared.registry import build_model  # noqa: E402

BATCH, CL = 64, torch.channels_last


def ms(fn: Callable[[], object], n: int = 50, repeats: int = 5) -> float:
    """Median over ``repeats`` of the mean of ``n`` calls, after a warm-up."""
    for _ in range(5):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t0) / n * 1e3)
    return statistics.median(times)


def as_fold(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The fused layer (ConvTranspose2d k3 s2 p1 op1, one output channel) as GEMM + fold."""
    n, c, hh, ww = h.shape
    cols = h.permute(0, 2, 3, 1).reshape(n, hh * ww, c) @ w.reshape(c, -1)
    return F.fold(cols.transpose(1, 2), (2 * hh, 2 * ww), kernel_size=3, stride=2, padding=1) + b.view(
        1, -1, 1, 1
    )


def as_phases(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The same as four sub-pixel phases: output (2m+a, 2n+b) sums taps of inputs (m, n), (m+1, n)..."""
    n, c, hh, ww = h.shape
    p = F.pad(
        (h.permute(0, 2, 3, 1).reshape(-1, c) @ w.reshape(c, 9)).view(n, hh, ww, 3, 3),
        (0, 0, 0, 0, 0, 1, 0, 1),
    )

    def tap(ky: int, kx: int, dy: int, dx: int) -> torch.Tensor:
        return p[:, dy : dy + hh, dx : dx + ww, ky, kx]

    ee = tap(1, 1, 0, 0)
    eo = tap(1, 2, 0, 0) + tap(1, 0, 0, 1)
    oe = tap(2, 1, 0, 0) + tap(0, 1, 1, 0)
    oo = tap(2, 2, 0, 0) + tap(2, 0, 0, 1) + tap(0, 2, 1, 0) + tap(0, 0, 1, 1)
    y = torch.stack([torch.stack([ee, eo], -1), torch.stack([oe, oo], -1)], 2)
    return y.reshape(n, 1, 2 * hh, 2 * ww) + b.view(1, -1, 1, 1)


def as_convt(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.conv_transpose2d(h, w, b, 2, 1, 1)


FUSED_WAYS = {
    "one transposed conv (ours)": as_convt,
    "matmul + fold": as_fold,
    "four sub-pixel phases": as_phases,
}
LAYERS = [  # name, layer, input shape, whether the input needs a gradient (not the images)
    ("encoder conv 1 -> 32, 28 -> 14", nn.Conv2d(1, 32, 3, 2, 1), (BATCH, 1, 28, 28), False),
    ("encoder conv 32 -> 64, 14 -> 7", nn.Conv2d(32, 64, 3, 2, 1), (BATCH, 32, 14, 14), True),
    ("encoder conv 64 -> 128, 7 -> 3", nn.Conv2d(64, 128, 3, 2, 0), (BATCH, 64, 7, 7), True),
    ("decoder deconv 128 -> 64, 3 -> 7", nn.ConvTranspose2d(128, 64, 3, 2), (BATCH, 128, 3, 3), True),
    ("decoder deconv 64 -> 32, 7 -> 14", nn.ConvTranspose2d(64, 32, 3, 2, 1, 1), (BATCH, 64, 7, 7), True),
    ("BatchNorm 32 x 14 x 14 (2 in a step)", nn.BatchNorm2d(32), (BATCH, 32, 14, 14), True),
    ("BatchNorm 64 x 7 x 7 (2 in a step)", nn.BatchNorm2d(64), (BATCH, 64, 7, 7), True),
    ("LeakyReLU 32 x 14 x 14 (2 in a step)", nn.LeakyReLU(0.2), (BATCH, 32, 14, 14), True),
]


def layer_lines() -> list[str]:
    out = []
    for name, layer, shape, grad_in in LAYERS:
        layer = layer.to(memory_format=CL)
        x = torch.randn(*shape).contiguous(memory_format=CL).requires_grad_(grad_in)
        g = torch.randn_like(layer(x))
        fwd = ms(lambda layer=layer, x=x: layer(x.detach()))
        both = ms(lambda layer=layer, x=x, g=g: layer(x).backward(g))
        out.append(f"{name}: forward {fwd:.2f} ms, forward + backward {both:.2f} ms")
    return out


def fused_lines() -> list[str]:
    hd, wd, bd = (torch.randn(*s, dtype=torch.float64) for s in ((4, 32, 14, 14), (32, 1, 3, 3), (1,)))
    for name, way in FUSED_WAYS.items():
        assert torch.allclose(way(hd, wd, bd), as_convt(hd, wd, bd), atol=1e-12), name
    h = torch.randn(BATCH, 32, 14, 14).contiguous(memory_format=CL).requires_grad_()
    w, b = torch.randn(32, 1, 3, 3, requires_grad=True), torch.randn(1, requires_grad=True)
    g = torch.randn(BATCH, 1, 28, 28)
    return [
        f"fused output layer as {name}: forward + backward {ms(lambda way=way: way(h, w, b).backward(g)):.2f} ms"
        for name, way in FUSED_WAYS.items()
    ]


def step_lines() -> list[str]:
    torch.manual_seed(0)
    model = build_model("VAE", 1).to(memory_format=CL)
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    x = torch.rand(BATCH, 1, 28, 28).contiguous(memory_format=CL)

    def step() -> None:
        out = model({"data": x}, epoch=1, dataset_size=BATCH, uses_ddp=False)
        opt.zero_grad()
        out.loss.backward()
        opt.step()

    plain, fused = [], []
    for _ in range(3):  # alternated
        plain.append(ms(step, n=20, repeats=1))
        with backbone.fused_output(model, True):
            fused.append(ms(step, n=20, repeats=1))
    p, f = statistics.median(plain), statistics.median(fused)
    return [f"whole VAE training step: unfused {p:.1f} ms, fused {f:.1f} ms ({p / f:.2f}x)"]


def main() -> None:
    torch.set_num_threads(1)
    print(f"cpu: {cpu_label()}; torch {torch.__version__}, 1 thread, batch {BATCH}, channels_last")
    for line in layer_lines() + fused_lines() + step_lines():
        print(line)


if __name__ == "__main__":
    main()
