"""Training throughput: pythae's TrainingPipeline vs our loop, in each option, side by side.

Our options (``OPTIONS``, benchmarks/precision_equivalence.py's): fp32 (the default), bf16
(autocast, float32 weights), fused (float32, the decoder's last two layers trained as one:
shared/backbone.py), bf16+fused, all_fused (float32, every option of shared/fusions.py) and
bf16+all_fused (bf16 with every fusion); ``--options`` picks some.

(a) per run: one VAE epoch with pythae's pipeline, then ours in each option (same data, seed,
    batch 64, torch's default threads), alternated ``--repeats`` times so drift cancels;
(c) the achieved training GFLOP/s per core (FLOPs of one step counted by torch's FlopCounterMode)
    next to this machine's measured peak for a large float32 and bf16 matmul on one core;
(b) a batch of ``--batch-runs`` VAE epochs: pythae's pipeline one run after another (what a user
    does without us) vs our way (``--jobs`` single-thread runs side by side, as ``run_all.sh
    --jobs`` does), in each option, alternated ``--batch-repeats`` times; aggregate ratios. The
    last line is the batch ratio of the fastest option shown equivalent to float32 on this CPU
    (benchmarks/precision_equivalence.py's verdict over its stored runs of this CPU; float32 when
    none is, or when they are slower: a CPU without bf16 instructions emulates bf16).

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

from shared import backbone, registry  # noqa: E402
from shared import precision as precisions  # noqa: E402
from shared.data import load_mnist  # noqa: E402
from shared.registry import build_model  # noqa: E402
from shared.training import TrainSettings, seed_everything, train_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import precision_equivalence as eq  # noqa: E402, I001  (the options and their equivalence verdicts)

SEED, BATCH = 42, 64
OPTIONS = {option: fields for option, (fields, _) in eq.OPTIONS.items()}  # option -> TrainSettings fields


def _load(data_dir: str | None, n_train: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_mnist(data_dir, n_train=n_train)


def pythae_run(splits, threads: int | None) -> float:
    """One VAE epoch (train + validation) through pythae's TrainingPipeline; wall seconds."""
    # imported here, not at the top: pythae.pipelines pulls in scikit-learn (about 2 s), which our
    # batch's worker processes (below) would otherwise pay for a pipeline they never use
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig

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


def our_run(splits, threads: int | None, option: str = "fp32") -> tuple[float, float]:
    """One VAE epoch (train + validation) through shared.training; (seconds, train loss)."""
    settings = TrainSettings(
        epochs=1,
        seed=SEED,
        batch_size=BATCH,
        device="cpu",
        threads=threads,
        progress=False,
        **OPTIONS[option],
    )
    t0 = time.perf_counter()
    result = train_model("VAE", splits, settings)
    return time.perf_counter() - t0, result.history["train_loss"][-1]


def _worker(args: tuple[str | None, int, int, str]) -> float:
    data_dir, n_train, runs, option = args
    splits = _load(data_dir, n_train)
    total = 0.0
    for _ in range(runs):
        total += our_run(splits, threads=1, option=option)[0]
    return total


def our_batch(data_dir: str | None, n_train: int, runs: int, jobs: int, option: str) -> float:
    """``runs`` VAE epochs over ``jobs`` single-thread processes; wall seconds incl. data loading."""
    per_job = [runs // jobs + (1 if i < runs % jobs else 0) for i in range(jobs)]
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(jobs) as pool:
        pool.map(_worker, [(data_dir, n_train, r, option) for r in per_job if r])
    return time.perf_counter() - t0


def step_flops_per_image(splits, fields: dict) -> float:
    """FLOPs of one VAE training step (forward + backward) per image, counted by torch, in the
    option ``fields``: a fused step does fewer FLOPs for the same function."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build_model("VAE", epochs=1).to(memory_format=torch.channels_last).train()
    x = splits.train_x[:BATCH].contiguous(memory_format=torch.channels_last)
    with (
        FlopCounterMode(display=False) as counter,
        backbone.fused_layers(model, fields.get("fuse_output", False), fields.get("fuse_input", False)),
    ):
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


def shown_equivalent(option: str) -> tuple[bool, str]:
    """Whether benchmarks/precision_equivalence.py's verdict over its stored runs of ``option`` holds
    here, and why: a verdict made on another CPU (other rounding) is printed but does not count."""
    if option == eq.BASELINE:
        return True, "the reference"
    rows = eq._of(eq.study_rows(eq.stored_rows(), option), eq.SEEDS)
    expected = len(eq.SEEDS) * 2 * len(registry.MODEL_NAMES)
    if len(rows) < expected:
        return False, f"its equivalence runs are incomplete ({len(rows)} of {expected})"
    equivalent, _ = eq.verdict(eq.stored_rows(), option)
    said = "shown equivalent" if equivalent else "not shown equivalent"
    if eq.cpu_of(rows[0]) != precisions.cpu_label():
        return False, f"{said} on another CPU"
    return equivalent, said


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
    parser.add_argument("--batch-repeats", type=int, default=2, help="alternated repetitions for (b)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel runs for (b)")
    parser.add_argument(
        "--options",
        default=",".join(OPTIONS),
        help=f"ours, comma-separated (default: all of {','.join(OPTIONS)})",
    )
    args = parser.parse_args(argv)
    chosen = [o for o in args.options.split(",") if o]
    if unknown := [o for o in chosen if o not in OPTIONS]:
        parser.error(f"--options: unknown {', '.join(unknown)}; choose from {', '.join(OPTIONS)}")
    if eq.BASELINE not in chosen:
        parser.error(f"--options must include {eq.BASELINE}, the reference")
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
        f"cpu: {precisions.cpu_label()}"
        + (" (bf16 emulated)" if precisions.cpu_bf16_instructions() is None else "")
    )
    default_threads = torch.get_num_threads()
    seconds: dict[str, list[float]] = {"pythae": [], **{o: [] for o in chosen}}
    for r in range(args.repeats):
        seconds["pythae"].append(pythae_run(splits, default_threads))
        losses = {}
        for option in chosen:
            t, losses[option] = our_run(splits, default_threads, option)
            seconds[option].append(t)
        ours = ", ".join(f"ours {o} {seconds[o][-1]:.1f} s" for o in chosen)
        print(
            f"(a) repeat {r + 1}: pythae {seconds['pythae'][-1]:.1f} s, {ours} "
            f"(train loss {' / '.join(f'{losses[o]:.2f}' for o in chosen)})"
        )
    total = {k: sum(v) for k, v in seconds.items()}
    for option in chosen:
        print(
            f"(a) per-run throughput, ours {option} / pythae TrainingPipeline: "
            f"{total['pythae'] / total[option]:.2f}x "
            f"({n * args.repeats / total[option]:.0f} vs {n * args.repeats / total['pythae']:.0f} images/s)"
        )
    print_flops(splits, n * args.repeats, total, default_threads, chosen)

    print_batch(args, splits, chosen)


def print_batch(args: argparse.Namespace, splits, chosen: list[str]) -> None:
    """(b), the pythae batch and each of ours alternated ``--batch-repeats`` times so that this
    machine's drift (a fifth or more between minutes) falls on all of them; ratios of the sums."""
    t_theirs, t_ours = 0.0, dict.fromkeys(chosen, 0.0)
    for r in range(args.batch_repeats):
        theirs = pythae_batch(splits, args.batch_runs)
        ours = {o: our_batch(args.data_dir, args.n_train, args.batch_runs, args.jobs, o) for o in chosen}
        print(
            f"(b) batch of {args.batch_runs} runs, repeat {r + 1}: pythae one after another {theirs:.1f} s; "
            f"ours, {args.jobs} single-thread jobs side by side: "
            + ", ".join(f"{o} {ours[o]:.1f} s" for o in chosen),
            flush=True,
        )
        t_theirs += theirs
        t_ours = {o: t_ours[o] + ours[o] for o in chosen}
    verdicts = {o: shown_equivalent(o) for o in chosen}
    for option in chosen:
        print(
            f"(b) aggregate throughput, ours {option} ({verdicts[option][1]}) / pythae sequential: "
            f"{t_theirs / t_ours[option]:.2f}x"
        )
    fastest = min([o for o in chosen if verdicts[o][0]], key=t_ours.get)  # bf16 can be slower
    print(
        f"(b) aggregate throughput, fastest option shown equivalent ({fastest}) / pythae sequential: "
        f"{t_theirs / t_ours[fastest]:.2f}x"
    )


def print_flops(splits, images: int, total: dict[str, float], threads: int, chosen: list[str]) -> None:
    """(c): each option's achieved GFLOP/s per core against one core's matmul peak in its dtype,
    counting the arithmetic the option's step does (the fused step does less for the same work)."""
    peak = {"fp32": matmul_peak_gflops(torch.float32), "bf16": matmul_peak_gflops(torch.bfloat16)}
    for option in chosen:
        fields = OPTIONS[option]
        dtype, flops = fields["precision"], step_flops_per_image(splits, fields)
        achieved = flops * images / total[option] / 1e9 / threads
        emulated = dtype == "bf16" and precisions.cpu_bf16_instructions() is None
        print(
            f"(c) training {option}: {achieved:.1f} GFLOP/s per core ({flops / 1e6:.1f} MFLOP per image "
            f"per step, {threads} threads) vs a {dtype} matmul's {peak[dtype]:.3g} GFLOP/s "
            f"on one core: {achieved / peak[dtype]:.0%} of it"
            + (" (no bf16 instructions: torch's bf16 matmul is a slow fallback, no peak)" if emulated else "")
        )


if __name__ == "__main__":
    main()
