"""Training precision: float32, or bfloat16 autocast with float32 master weights (issue #15).

bf16 autocast runs convolutions and matrix products in bfloat16 (AMX / AVX-512-BF16 on a recent
Xeon, tensor cores on CUDA) while the weights, the optimiser state and the losses autocast keeps
in float32 stay float32, so the stored weights and the evaluation are unchanged in kind. Only
training (its forward passes, training and validation) uses it; the evaluation always runs in
float32, so the metrics of a bf16 run are measured exactly as an fp32 run's. Whether bf16 training
gives the same numbers is a measured question, not assumed: benchmarks/precision_equivalence.py.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

PRECISIONS = ("fp32", "bf16")
DEFAULT = "fp32"


def check(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


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
