"""Does torch.compile pay for training on this CPU? One model per family, eager vs compiled.

pythae's models return ``ModelOutput`` objects that torch.compile (dynamo) cannot trace
(``AttributeError: 'ModelOutput' object has no attribute 'embedding'`` inside
pythae/models/vae/vae_model.py when the whole model is compiled), so what can be compiled is the
shared backbone's plain convolution stacks (``encoder.conv``, ``decoder.deconv``), by compiling
their ``forward`` (the state-dict keys stay; in torch 2.13 ``nn.Module.compile()`` left these
stacks uncompiled: torch._dynamo's counters stayed empty). Inductor's on-disk caches are off, so
the first step pays the whole compilation. Per model: the seconds of the first compiled
step (compilation), the steady training-step time eager and compiled (batch 64, one thread,
alternated twice so drift cancels), the loss of the same step from the same weights and seeds both
ways, and the steps a run needs before the compilation has paid for itself.

    python benchmarks/compile_speed.py                 # the table of benchmarks/compile_speed_results.md
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "0")  # measure compilation, not a cache hit
os.environ.setdefault("TORCHINDUCTOR_AUTOGRAD_CACHE", "0")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.catalogue import STUDY_FAMILIES  # noqa: E402
from shared.registry import build_model  # noqa: E402

BATCH, STEPS = 64, 15


def _step(model: torch.nn.Module, x: torch.Tensor, seed: int = 0) -> float:
    torch.manual_seed(seed)  # the same reparametrisation draws both ways
    out = model({"data": x}, epoch=1, dataset_size=4000, uses_ddp=False)
    loss = out.loss if "loss" in out else out.autoencoder_loss
    loss.backward()
    model.zero_grad(set_to_none=True)
    return float(loss.detach())


def _seconds_per_step(model: torch.nn.Module, x: torch.Tensor) -> float:
    for _ in range(2):
        _step(model, x)
    t0 = time.perf_counter()
    for i in range(STEPS):
        _step(model, x, i)
    return (time.perf_counter() - t0) / STEPS


def measure(name: str, x: torch.Tensor) -> dict:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eager = build_model(name, 4).to(memory_format=torch.channels_last).train()
    compiled = copy.deepcopy(eager)
    reference = copy.deepcopy(eager)
    for stack in (compiled.encoder.conv, compiled.decoder.deconv):
        stack.forward = torch.compile(stack.forward)
    t0 = time.perf_counter()
    loss_compiled = _step(compiled, x)
    compile_s = time.perf_counter() - t0
    loss_eager = _step(reference, x)
    times = {"eager": 0.0, "compiled": 0.0}
    for _ in range(2):
        times["eager"] += _seconds_per_step(eager, x) / 2
        times["compiled"] += _seconds_per_step(compiled, x) / 2
    gain = times["eager"] - times["compiled"]
    return {
        "model": name,
        "compile_s": compile_s,
        "eager_ms": 1000 * times["eager"],
        "compiled_ms": 1000 * times["compiled"],
        "speedup": times["eager"] / times["compiled"],
        "break_even_steps": compile_s / gain if gain > 0 else float("inf"),
        "loss_rel_diff": abs(loss_compiled - loss_eager) / abs(loss_eager),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    first_of_family: dict[str, str] = {}
    for name, family in STUDY_FAMILIES.items():
        first_of_family.setdefault(family, name)
    p.add_argument("--models", default=",".join(first_of_family.values()))
    args = p.parse_args(argv)
    from torch._dynamo.utils import counters

    # HVAE's leapfrog steps differentiate through the decoder (autograd.grad, create_graph=True):
    # with donated buffers the compiled backward refuses that ("requires create_graph=False")
    torch._functorch.config.donated_buffer = False

    torch.set_num_threads(1)
    x = torch.rand(BATCH, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    x = x.contiguous(memory_format=torch.channels_last)
    print(
        "| model | family | compile s | eager ms/step | compiled ms/step | speedup | break-even steps | loss rel. diff |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        try:
            r = measure(name, x)
        except RuntimeError as exc:  # HVAE, RAE-GP: their forward differentiates twice
            print(f"| {name} | {STUDY_FAMILIES[name]} | not compilable: {str(exc).splitlines()[0]} |||||||")
            continue
        if not counters["stats"].get("unique_graphs"):
            raise SystemExit("torch.compile compiled nothing: the measurement would be eager vs eager")
        print(
            f"| {name} | {STUDY_FAMILIES[name]} | {r['compile_s']:.1f} | {r['eager_ms']:.1f} | {r['compiled_ms']:.1f} | "
            f"{r['speedup']:.2f}x | {r['break_even_steps']:.0f} | {r['loss_rel_diff']:.1e} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
