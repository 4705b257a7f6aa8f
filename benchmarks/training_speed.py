"""Training throughput: pythae's TrainingPipeline vs our loop, measured side by side.

(a) per run: one VAE epoch with pythae's pipeline vs one with ``shared.training`` (same data,
    seed, batch 64, torch's default threads), alternated ``--repeats`` times so drift cancels;
(b) a batch of ``--batch-runs`` VAE epochs: pythae's pipeline one run after another (what a
    user does without us) vs our way (``--jobs`` single-thread runs side by side, as
    ``run_all.sh --jobs`` does); aggregate images/s ratio, printed last.

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


def our_run(splits, threads: int | None) -> tuple[float, float]:
    """One VAE epoch (train + validation) through shared.training; (seconds, train loss)."""
    settings = TrainSettings(
        epochs=1, seed=SEED, batch_size=BATCH, device="cpu", threads=threads, progress=False
    )
    t0 = time.perf_counter()
    result = train_model("VAE", splits, settings)
    return time.perf_counter() - t0, result.history["train_loss"][-1]


def _worker(args: tuple[str | None, int, int]) -> float:
    data_dir, n_train, runs = args
    splits = _load(data_dir, n_train)
    total = 0.0
    for _ in range(runs):
        total += our_run(splits, threads=1)[0]
    return total


def our_batch(data_dir: str | None, n_train: int, runs: int, jobs: int) -> float:
    """``runs`` VAE epochs over ``jobs`` single-thread processes; wall seconds incl. data loading."""
    per_job = [runs // jobs + (1 if i < runs % jobs else 0) for i in range(jobs)]
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(jobs) as pool:
        pool.map(_worker, [(data_dir, n_train, r) for r in per_job if r])
    return time.perf_counter() - t0


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

    default_threads = torch.get_num_threads()
    ours_s, theirs_s = [], []
    for r in range(args.repeats):
        theirs_s.append(pythae_run(splits, default_threads))
        t, loss = our_run(splits, default_threads)
        ours_s.append(t)
        print(
            f"(a) repeat {r + 1}: pythae {theirs_s[-1]:.1f} s, ours {ours_s[-1]:.1f} s (train loss {loss:.2f})"
        )
    ratio_a = sum(theirs_s) / sum(ours_s)
    print(
        f"(a) per-run throughput, ours / pythae TrainingPipeline: {ratio_a:.2f}x "
        f"({n * args.repeats / sum(ours_s):.0f} vs {n * args.repeats / sum(theirs_s):.0f} images/s)"
    )

    t_theirs = pythae_batch(splits, args.batch_runs)
    t_ours = our_batch(args.data_dir, args.n_train, args.batch_runs, args.jobs)
    ratio_b = t_theirs / t_ours
    print(
        f"(b) batch of {args.batch_runs} runs: pythae one after another {t_theirs:.1f} s; "
        f"ours, {args.jobs} single-thread jobs side by side {t_ours:.1f} s"
    )
    print(f"(b) aggregate throughput, ours / pythae sequential: {ratio_b:.2f}x")


if __name__ == "__main__":
    main()
