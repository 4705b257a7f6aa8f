"""Where one VAE training step's time goes, on one thread: each layer's forward and forward +
backward at batch 64 (channels_last, as training runs), the fused output layer written three ways,
and whole steps unfused and fused. Medians of alternated repeats, milliseconds.

Why it exists: to say what the fused output (shared/backbone.py) leaves for a faster step to cut.
Its three ways of computing the fused layer (one transposed conv; a matrix product then
``F.fold``; four sub-pixel phases of one matrix product) are checked equal in float64 first.
The other two fusions (shared/fusions.py) are measured too: the decoder's Linear(16, 1152) and
first transposed conv as one linear map (``fuse_input``; checked equal in float64), and Adam's
fused CPU kernel against the for-loop one torch uses by default on CPU (``fused_adam``), each
alone and in a whole step with every fusion (``all_fused``).

The process first allocates and frees a 31 MB array, as training's data loading does: that raises
glibc malloc's dynamic mmap threshold, so a step's tensors are reused from the heap. Without it a
step can page-fault on fresh pages every step (1,000-3,000 minor faults, 1.26-1.32x slower in a
probe), which training's steps do not; the faults per step are printed.

    python benchmarks/step_breakdown.py
"""

from __future__ import annotations

import resource
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
STEP_CALLS, STEP_ROUNDS = 50, 5  # whole steps: calls per timing, alternated rounds


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


def _two_layers(fc: nn.Linear, deconv: nn.ConvTranspose2d, z: torch.Tensor) -> torch.Tensor:
    return deconv(fc(z).reshape(-1, 128, 3, 3))


def decoder_input_lines() -> list[str]:
    decoder = backbone.Decoder().double()
    z = torch.randn(5, backbone.LATENT_DIM, dtype=torch.float64)
    assert torch.allclose(
        backbone._as_one_linear_map(decoder.fc, decoder.deconv[0], z),
        _two_layers(decoder.fc, decoder.deconv[0], z),
        atol=1e-12,
    )
    decoder = backbone.Decoder().to(memory_format=CL)
    z, g = torch.randn(BATCH, backbone.LATENT_DIM), torch.randn(BATCH, 64, 7, 7).contiguous(memory_format=CL)
    return [
        f"decoder Linear(16, 1152) + deconv 128 -> 64 {label}: forward + backward "
        f"{ms(lambda way=way: way(decoder.fc, decoder.deconv[0], z).backward(g)):.2f} ms"
        for label, way in (
            ("as two layers", _two_layers),
            ("as one linear map (fuse_input)", backbone._as_one_linear_map),
        )
    ]


def adam_lines() -> list[str]:
    model = build_model("VAE", 1)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    return [
        f"Adam step over the VAE's parameters, {label}: {ms(torch.optim.Adam(model.parameters(), 1e-4, **kw).step):.2f} ms"
        for label, kw in (
            ("for-loop (torch's CPU default)", {}),
            ("fused kernel (fused_adam)", {"fused": True}),
        )
    ]


def step_lines() -> list[str]:
    torch.manual_seed(0)
    model = build_model("VAE", 1).to(memory_format=CL)
    x = torch.rand(BATCH, 1, 28, 28).contiguous(memory_format=CL)
    optimizers = {
        "": torch.optim.Adam(model.parameters(), 1e-4),
        "fused": torch.optim.Adam(model.parameters(), 1e-4, fused=True),
    }

    def step(adam: str = "") -> None:
        out = model({"data": x}, epoch=1, dataset_size=BATCH, uses_ddp=False)
        optimizers[adam].zero_grad()
        out.loss.backward()
        optimizers[adam].step()

    times: dict[str, list[float]] = {"unfused": [], "fused": [], "all_fused": []}
    faults = dict.fromkeys(times, 0)

    def timed(key: str, fn: Callable[[], None]) -> None:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        times[key].append(ms(fn, n=STEP_CALLS, repeats=1))
        faults[key] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    for _ in range(STEP_ROUNDS):  # alternated
        timed("unfused", step)
        with backbone.fused_layers(model, fuse_output=True):
            timed("fused", step)
        with backbone.fused_layers(model, fuse_output=True, fuse_input=True):
            timed("all_fused", lambda: step("fused"))
    p, f, b = (statistics.median(times[k]) for k in times)
    per_step = ", ".join(f"{k} {v / (STEP_ROUNDS * (STEP_CALLS + 5)):.0f}" for k, v in faults.items())
    return [
        f"whole VAE training step: unfused {p:.1f} ms, fused output {f:.1f} ms ({p / f:.2f}x), every "
        f"fusion (all_fused: fuse_output, fuse_input, fused_adam) {b:.1f} ms ({p / b:.2f}x)",
        f"minor page faults per step: {per_step}",
    ]


def main() -> None:
    torch.set_num_threads(1)
    torch.empty(
        31 << 18
    )  # 31 MiB allocated and freed at once, as training's data loading does (see the docstring)
    print(f"cpu: {cpu_label()}; torch {torch.__version__}, 1 thread, batch {BATCH}, channels_last")
    for line in layer_lines() + fused_lines() + decoder_input_lines() + adam_lines() + step_lines():
        print(line)


if __name__ == "__main__":
    main()
