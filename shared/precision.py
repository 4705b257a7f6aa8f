"""Training precision: float32, or bfloat16 autocast with float32 master weights (issue #15).

bf16 autocast runs convolutions and matrix products in bfloat16 (AMX / AVX-512-BF16 on a recent
Xeon, tensor cores on CUDA; an x86 CPU without them emulates it, slower than fp32: :func:`advice`)
while the weights, the optimiser state and the losses autocast keeps in float32 stay float32, so
the stored weights and the evaluation are unchanged in kind. Only training (its forward passes,
training and validation) uses it; the evaluation always runs in float32, so the metrics of a bf16
run are measured exactly as an fp32 run's. Whether bf16 training gives the same numbers is a
measured question, not assumed: benchmarks/precision_equivalence.py.
"""

from __future__ import annotations

import contextlib
import functools
import platform
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

PRECISIONS = ("fp32", "bf16")
DEFAULT = "fp32"


def check(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; else what platform knows): benchmarks print it."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_label() -> str:
    """The CPU with what sets its float rounding and bf16 speed: name, torch's kernel level, bf16
    instructions (names alone are vague on a cloud machine: "AMD EPYC" with AVX2 or AVX-512)."""
    return (
        f"{cpu_name()}, torch kernels {torch.backends.cpu.get_cpu_capability()}, "
        f"bf16 instructions {cpu_bf16_instructions() or 'none'}"
    )


def cpu_bf16_instructions() -> str | None:
    """The x86 CPU's native bf16 instructions ("AMX" or "AVX512-BF16"), None without them, or
    "unknown" where torch cannot tell (not x86, or a torch without its private CPU probes)."""
    probes = (("AMX", "_is_amx_tile_supported"), ("AVX512-BF16", "_is_avx512_bf16_supported"))
    if platform.machine().lower() not in ("x86_64", "amd64") or not all(
        hasattr(torch.cpu, probe) for _, probe in probes
    ):
        return "unknown"
    return next((name for name, probe in probes if getattr(torch.cpu, probe)()), None)


def advice(precision: str, device: torch.device | str) -> str | None:
    """One line when ``precision`` will run slower than fp32: an x86 CPU without AMX or
    AVX512-BF16 emulates bf16 (measured on an AVX2 EPYC: README "Speed")."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if check(precision) != "bf16" or torch.device(device).type != "cpu" or cpu_bf16_instructions():
        return None
    return (
        f"note: this CPU ({torch.backends.cpu.get_cpu_capability()}) has no AMX or AVX512-BF16, so bf16 "
        "is emulated and trains slower than fp32 (the results stay valid); fp32 is the faster choice here"
    )


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    """The forward passes of training under ``precision`` (fp32: nothing changes)."""
    if check(precision) == "fp32":
        yield
        return
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
        yield


def keep_float32(model: nn.Module, methods: tuple[str, ...]) -> None:
    """Make ``methods`` of ``model`` run in float32 under autocast (their tensor arguments cast
    up): for parts of a model that fail or lose what they compute in bf16 (registry
    ``float32_methods``). Outside autocast the wrappers change nothing: fp32 inputs stay fp32."""
    for name in methods:
        setattr(model, name, _in_float32(getattr(model, name)))


def _in_float32(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        up = lambda v: v.float() if torch.is_tensor(v) and v.is_floating_point() else v  # noqa: E731
        with (
            torch.autocast(device_type="cpu", enabled=False),
            torch.autocast(device_type="cuda", enabled=False),
        ):
            return method(*map(up, args), **{k: up(v) for k, v in kwargs.items()})

    return wrapped
