"""Recompute the metrics of stored runs from their stored weights, without retraining.

Published runs gain the metrics added after they were trained (``./run_all.sh --reevaluate``,
or ``python -m shared.reevaluate --results-dir paper_results``). Each run is rebuilt through the
registry from its stored config and weights (``shared.experiment.restore_model``), evaluated on
the same data split it was trained on (checked against the split stored with it), and saved back
with ``config.reevaluated`` saying when and by which commit; history, training summary and
weights are kept as they were. Evaluation after training and re-evaluation give the same
numbers bit for bit (tests/test_reevaluate.py), so an unchanged model keeps its metrics. On a
CPU that needs the run's own torch thread count (``config.training.threads``; the float sums in
a convolution are split by thread), which re-evaluation therefore uses.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from shared import data, evaluation, experiment, results
from shared.training import deterministic_cuda


class ReevaluationError(RuntimeError):
    """A stored run that cannot be re-evaluated; the message says which and why."""


def splits_for(run: dict, data_dir: str | None) -> data.MNISTSplits:
    """The split the run was trained and evaluated on (same source and sizes), else an error."""
    budget = run["config"]["training"]["budget"]
    splits = experiment.load_data(budget, data_dir, run["profile"])
    stored, now = run["config"]["data"], splits.describe()
    if stored != now:
        raise ReevaluationError(f"data differ from the run's: stored {stored}, found {now} (pass --data-dir)")
    return splits


@contextlib.contextmanager
def run_threads(run: dict, device: str) -> Iterator[None]:
    """torch's CPU threads set to the count the run was evaluated with, while inside."""
    threads, before = run["config"]["training"].get("threads"), torch.get_num_threads()
    if threads and not device.startswith("cuda"):
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def reevaluate_run(run: dict, model: str, data_dir: str | None = None, device: str = "cpu") -> dict:
    """A copy of ``run`` with metrics, eval indices and samples recomputed from its weights."""
    if run["status"] != "ok" or not run.get("weights"):
        raise ReevaluationError(
            f"{model} seed {run['seed']}: no trained weights stored (status {run['status']})"
        )
    net = experiment.restore_model(model, run)
    if device.startswith("cuda"):
        deterministic_cuda()  # as in training: the same GPU then gives the stored numbers again
    with run_threads(run, device):
        out = evaluation.evaluate_model(net, splits_for(run, data_dir), run["seed"], device)
    config = {
        **run["config"],
        "reevaluated": {
            "git_commit": experiment.git_commit(),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    }
    return {**run, "config": config, **{key: out[key] for key in ("metrics", "eval_indices", "samples")}}


def reevaluate(
    results_dir: str | Path,
    models: list[str],
    seeds: list[int] | None = None,
    data_dir: str | None = None,
    device: str = "cpu",
) -> list[tuple[str, int, str]]:
    """Re-evaluate every stored ok run of ``models`` (optionally only ``seeds``), saving each as it
    finishes (an interruption loses at most the run in progress); returns (model, seed, outcome)."""
    outcomes = []
    for model in models:
        path = results.results_path(results_dir, model)
        if not path.exists():
            outcomes.append((model, -1, "no results file"))
            continue
        stored = results.load_results(path)["runs"]
        for seed in sorted(s for s in stored if seeds is None or s in seeds):
            start = time.perf_counter()
            try:
                run = reevaluate_run(stored[seed], model, data_dir, device)
            except ReevaluationError as exc:
                outcomes.append((model, seed, f"skipped: {exc}"))
                continue
            results.save_run(results_dir, model, seed, run)
            outcomes.append((model, seed, f"re-evaluated in {time.perf_counter() - start:.1f} s"))
            print(f"{model} seed {seed}: {outcomes[-1][2]}", flush=True)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    from shared.batch import OneLineParser, _model_list, _seed_list

    p = OneLineParser(prog="python -m shared.reevaluate", description=__doc__.splitlines()[0])
    p.add_argument("--results-dir", required=True, help="folder holding [MODEL]_MNIST.pkl files")
    p.add_argument("--models", type=_model_list, default=None, help="comma list (default: every file there)")
    p.add_argument("--seeds", type=_seed_list, default=None, help="comma list (default: every stored seed)")
    p.add_argument("--data-dir", default=None, help="MNIST folder (default: $MNIST_DIR)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = p.parse_args(argv)
    folder = Path(args.results_dir)
    if not folder.is_dir():
        p.error(f"--results-dir {folder}: no such folder")
    models = args.models or sorted(results.load_results_dir(folder, errors="warn"))
    try:
        outcomes = reevaluate(folder, models, args.seeds, args.data_dir, args.device)
    except (results.ResultsError, data.DataError, ValueError) as exc:
        p.error(str(exc))
    for model, seed, outcome in outcomes:
        if not outcome.startswith("re-evaluated"):
            print(f"{model} seed {seed}: {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
