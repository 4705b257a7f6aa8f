"""Training throughput: pythae's TrainingPipeline vs our loop, float32 and bf16, side by side.

(a) per run: one VAE epoch with pythae's pipeline, then ours in float32, then ours with bf16
    autocast (same data, seed, batch 64, torch's default threads), alternated ``--repeats`` times
    so drift cancels;
(c) the achieved training GFLOP/s per core (FLOPs of one step counted by torch's FlopCounterMode)
    next to this machine's measured peak for a large float32 and bf16 matmul on one core;
(b) a batch of ``--batch-runs`` VAE epochs: pythae's pipeline one run after another (what a user
    does without us) vs our way (``--jobs`` single-thread runs side by side, as ``run_all.sh
    --jobs`` does), in float32 and in bf16; aggregate ratios. The last line is the batch ratio of
    the fastest precision shown equivalent to float32 (benchmarks/precision_equivalence.py's
    verdict over its stored runs; float32 when bf16 is not shown equivalent, or is slower: a CPU
    without bf16 instructions emulates it).

    python benchmarks/training_speed.py                  # 50k images, as in the README
    python benchmarks/training_speed.py --n-train 5000   # a 1-minute smoke version
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pythae.pipelines import TrainingPipeline  # noqa: E402
from pythae.trainers import BaseTrainerConfig  # noqa: E402

from shared import precision as precisions  # noqa: E402
from shared import registry  # noqa: E402
from shared.data import load_mnist  # noqa: E402
from shared.registry import build_model  # noqa: E402
from shared.training import TrainSettings, seed_everything, train_model  # noqa: E402

SEED, BATCH = 42, 64


def _load(data_dir: str | None, n_train: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_mnist(data_dir, n_train=n_train)


def pythae_run(splits, threads: int | None) -> float:
    """One VAE epoch (train + validation) through pythae's TrainingPipeline; wall seconds."""
    if threads:
        torch.set_num_threads(threads)
    seed_everything(SEED)
    model = build_model("VAE", epochs=1)
    with tempfile.TemporaryDirectory() as out:
        config = BaseTrainerConfig(
            output_dir=out,
            num_epochs=1,
            learning_rate=1e-4,
            per_device_train_batch_size=BATCH,
            per_device_eval_batch_size=BATCH,
            seed=SEED,
            no_cuda=True,
        )
        t0 = time.perf_counter()
        with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):  # pythae's bars
            pipeline = TrainingPipeline(training_config=config, model=model)
            pipeline(train_data=splits.train_x, eval_data=splits.val_x)
        seconds = time.perf_counter() - t0
    return seconds


def our_run(splits, threads: int | None, precision: str = "fp32") -> tuple[float, float]:
    """One VAE epoch (train + validation) through shared.training; (seconds, train loss)."""
    settings = TrainSettings(
        epochs=1,
        seed=SEED,
        batch_size=BATCH,
        device="cpu",
        threads=threads,
        progress=False,
        precision=precision,
    )
    t0 = time.perf_counter()
    result = train_model("VAE", splits, settings)
    return time.perf_counter() - t0, result.history["train_loss"][-1]


def _worker(args: tuple[str | None, int, int, str]) -> float:
    data_dir, n_train, runs, precision = args
    splits = _load(data_dir, n_train)
    total = 0.0
    for _ in range(runs):
        total += our_run(splits, threads=1, precision=precision)[0]
    return total


def our_batch(data_dir: str | None, n_train: int, runs: int, jobs: int, precision: str) -> float:
    """``runs`` VAE epochs over ``jobs`` single-thread processes; wall seconds incl. data loading."""
    per_job = [runs // jobs + (1 if i < runs % jobs else 0) for i in range(jobs)]
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(jobs) as pool:
        pool.map(_worker, [(data_dir, n_train, r, precision) for r in per_job if r])
    return time.perf_counter() - t0


def step_flops_per_image(splits) -> float:
    """FLOPs of one VAE training step (forward + backward) per image, counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build_model("VAE", epochs=1).to(memory_format=torch.channels_last).train()
    x = splits.train_x[:BATCH].contiguous(memory_format=torch.channels_last)
    with FlopCounterMode(display=False) as counter:
        model({"data": x}, epoch=1, dataset_size=len(x), uses_ddp=False).loss.backward()
    return counter.get_total_flops() / BATCH


def matmul_peak_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """One core's GFLOP/s for an n x n matmul in ``dtype`` (best of ``repeats``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    torch.set_num_threads(threads)
    return 2 * n**3 / best / 1e9


def bf16_shown_equivalent() -> tuple[bool, str]:
    """The verdict of benchmarks/precision_equivalence.py over its stored runs, and why."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import precision_equivalence as eq

    rows = eq.stored_rows()
    expected = len(eq.SEEDS) * len(eq.PRECISIONS) * len(registry.MODEL_NAMES)
    if len(eq._of(rows, eq.SEEDS)) < expected:
        return False, f"its runs are incomplete ({len(eq._of(rows, eq.SEEDS))} of {expected})"
    equivalent, _ = eq.verdict(rows)
    return equivalent, "shown equivalent" if equivalent else "not shown equivalent"


def pythae_batch(splits, runs: int) -> float:
    t0 = time.perf_counter()
    for _ in range(runs):
        pythae_run(splits, threads=None)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data-dir", default=os.environ.get("MNIST_DIR"), help="folder with the MNIST IDX files"
    )
    parser.add_argument(
        "--n-train", type=int, default=50_000, help="training images per run (default 50,000)"
    )
    parser.add_argument("--repeats", type=int, default=2, help="alternated repetitions for (a)")
    parser.add_argument("--batch-runs", type=int, default=4, help="runs in the batch for (b)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel runs for (b)")
    args = parser.parse_args(argv)
    import logging

    for name in [n for n in logging.root.manager.loggerDict if n.startswith("pythae")] + ["pythae"]:
        logging.getLogger(name).setLevel(logging.ERROR)  # pythae logs its whole config per run
    splits = _load(args.data_dir, args.n_train)
    n = len(splits.train_x)
    print(
        f"data: {splits.source}; {n} training images, batch {BATCH}, seed {SEED}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}, default threads {torch.get_num_threads()}"
    )

    print(
        f"cpu: {precisions.cpu_name()}, torch kernels {torch.backends.cpu.get_cpu_capability()}, bf16 instructions: "
        f"{precisions.cpu_bf16_instructions() or 'none (bf16 emulated)'}"
    )
    default_threads = torch.get_num_threads()
    seconds: dict[str, list[float]] = {"pythae": [], "fp32": [], "bf16": []}
    for r in range(args.repeats):
        seconds["pythae"].append(pythae_run(splits, default_threads))
        losses = {}
        for precision in ("fp32", "bf16"):
            t, losses[precision] = our_run(splits, default_threads, precision)
            seconds[precision].append(t)
        print(
            f"(a) repeat {r + 1}: pythae {seconds['pythae'][-1]:.1f} s, ours fp32 {seconds['fp32'][-1]:.1f} s, "
            f"ours bf16 {seconds['bf16'][-1]:.1f} s (train loss {losses['fp32']:.2f} / {losses['bf16']:.2f})"
        )
    total = {k: sum(v) for k, v in seconds.items()}
    for precision in ("fp32", "bf16"):
        print(
            f"(a) per-run throughput, ours {precision} / pythae TrainingPipeline: "
            f"{total['pythae'] / total[precision]:.2f}x "
            f"({n * args.repeats / total[precision]:.0f} vs {n * args.repeats / total['pythae']:.0f} images/s)"
        )

    flops = step_flops_per_image(splits)
    peak = {"fp32": matmul_peak_gflops(torch.float32), "bf16": matmul_peak_gflops(torch.bfloat16)}
    for precision in ("fp32", "bf16"):
        achieved = flops * n * args.repeats / total[precision] / 1e9 / default_threads
        emulated = precision == "bf16" and precisions.cpu_bf16_instructions() is None
        print(
            f"(c) training {precision}: {achieved:.1f} GFLOP/s per core ({flops / 1e6:.1f} MFLOP per image "
            f"per step, {default_threads} threads) vs a {precision} matmul's {peak[precision]:.3g} GFLOP/s "
            f"on one core: {achieved / peak[precision]:.0%} of it"
            + (" (no bf16 instructions: torch's bf16 matmul is a slow fallback, no peak)" if emulated else "")
        )

    t_theirs = pythae_batch(splits, args.batch_runs)
    t_ours = {
        p: our_batch(args.data_dir, args.n_train, args.batch_runs, args.jobs, p) for p in ("fp32", "bf16")
    }
    print(
        f"(b) batch of {args.batch_runs} runs: pythae one after another {t_theirs:.1f} s; ours, {args.jobs} "
        f"single-thread jobs side by side: fp32 {t_ours['fp32']:.1f} s, bf16 {t_ours['bf16']:.1f} s"
    )
    print(f"(b) aggregate throughput, ours fp32 / pythae sequential: {t_theirs / t_ours['fp32']:.2f}x")
    equivalent, why = bf16_shown_equivalent()
    fastest = min(["fp32", "bf16"] if equivalent else ["fp32"], key=t_ours.get)  # bf16 can be slower
    print(
        f"(b) aggregate throughput, fastest option shown equivalent ({fastest}; bf16 {why}) / pythae "
        f"sequential: {t_theirs / t_ours[fastest]:.2f}x"
    )


if __name__ == "__main__":
    main()
