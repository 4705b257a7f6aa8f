"""What the metrics beyond the study cost: the quick profile with and without them, side by side.

For every model: train it on the quick profile's budget (as run_all does, one seed), then time
``evaluate_model`` without the new blocks and with them, on the same trained model in the same
process. Totals: quick-profile time before = sum of (training + evaluation without), after = sum
of (training + evaluation with); the target is after / before <= 1.30. Notebook start-up and the
evaluation notebook are left out, which makes the ratio larger than in a real run_all.
``--from-results DIR`` skips the training: it restores the quick runs stored there (seed 42,
e.g. by ``./run_all.sh``) and takes their training time as measured then, which the new blocks
do not change. ``--paper-eval`` also times one evaluation at the paper profile's sizes (50,000 training codes,
10,000 test images; target < 60 s) on a model trained one epoch on full MNIST::

    python benchmarks/beyond_cost.py [--models VAE,AE] [--threads 2] [--paper-eval VAE] [--out FILE.md]
                                     [--save-results DIR]   # the quick runs, for the evaluation notebook
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from shared import evaluation, experiment, registry, results  # noqa: E402
from shared.training import train_model  # noqa: E402

TARGET_RATIO, PAPER_EVAL_LIMIT_S = 1.30, 60.0


def _timed(fn, *args, **kwargs) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def measure(
    model: str,
    profile: str,
    threads: int,
    data_dir: str | None,
    epochs: int | None = None,
    save_dir: str | None = None,
) -> dict:
    """Training and both evaluations of one model, in seconds; the run (with every metric) is
    saved into ``save_dir`` when given, as a training notebook would save it."""
    budget = experiment.run_budget(model, profile, epochs=epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        splits = experiment.load_data(budget, data_dir, profile)
    settings = experiment.settings_for(budget, 42, "cpu", threads, progress=False)
    result, train_s = _timed(train_model, model, splits, settings)
    _, old_s = _timed(evaluation.evaluate_model, result.model, splits, 42, beyond=False)
    ev, new_s = _timed(evaluation.evaluate_model, result.model, splits, 42, beyond=True)
    if save_dir:
        results.save_run(
            save_dir, model, 42, experiment.run_record(model, profile, budget, splits, result, ev)
        )
    return {"model": model, "train": train_s, "eval_without": old_s, "eval_with": new_s}


def measure_stored(model: str, run: dict, threads: int, data_dir: str | None, with_first: bool) -> dict:
    """Both evaluations of a stored quick run (alternating which goes first), with its training
    time as measured when it was trained: the training is the same code before and after."""
    from shared import reevaluate

    net = experiment.restore_model(model, run)
    splits = reevaluate.splits_for(run, data_dir)
    order = (True, False) if with_first else (False, True)
    seconds = {b: _timed(evaluation.evaluate_model, net, splits, 42, beyond=b)[1] for b in order}
    return {"model": model, "train": run["training"]["wall_seconds"], "eval_without": seconds[False],
            "eval_with": seconds[True]}  # fmt: skip


def report(rows: list[dict], paper: dict | None) -> str:
    lines = [
        "| model | training s | evaluation s, without | with | added s |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        added = r["eval_with"] - r["eval_without"]
        lines.append(
            f"| {r['model']} | {r['train']:.1f} | {r['eval_without']:.1f} | {r['eval_with']:.1f} | {added:.1f} |"
        )
    before = sum(r["train"] + r["eval_without"] for r in rows)
    after = sum(r["train"] + r["eval_with"] for r in rows)
    ratio = after / before
    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    lines += [
        "",
        f"quick profile, {len(rows)} models: before {before:.0f} s, after {after:.0f} s, "
        f"ratio {ratio:.3f} (target <= {TARGET_RATIO:.2f}): {verdict}",
    ]
    if paper is not None:
        ok = "PASS" if paper["eval_with"] < PAPER_EVAL_LIMIT_S else "FAIL"
        lines.append(
            f"paper-size evaluation of {paper['model']}: {paper['eval_with']:.1f} s with the new blocks "
            f"({paper['eval_without']:.1f} s without; target < {PAPER_EVAL_LIMIT_S:.0f} s): {ok}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="all", help="comma list (default: the 22)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--data-dir", default=None, help="full MNIST (default: $MNIST_DIR); needed for --paper-eval"
    )
    p.add_argument("--paper-eval", default=None, metavar="MODEL", help="also time a paper-size evaluation")
    p.add_argument("--out", default=None, help="also write the table to this Markdown file")
    p.add_argument(
        "--from-results",
        default=None,
        metavar="DIR",
        help="time the evaluations of the quick runs stored there (seed 42) instead of training anew",
    )
    p.add_argument("--save-results", default=None, metavar="DIR", help="also save the quick runs there")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    stored = results.load_results_dir(args.from_results) if args.from_results else {}
    for i, model in enumerate(registry.parse_model_list(args.models)):
        if args.from_results:
            rows.append(
                measure_stored(model, stored[model]["runs"][42], args.threads, args.data_dir, i % 2 == 0)
            )
        else:
            rows.append(measure(model, "quick", args.threads, args.data_dir, save_dir=args.save_results))
        r = rows[-1]
        print(
            f"{model}: train {r['train']:.1f} s, eval {r['eval_without']:.1f} -> {r['eval_with']:.1f} s",
            flush=True,
        )
    paper = (
        measure(args.paper_eval, "paper", args.threads, args.data_dir, epochs=1) if args.paper_eval else None
    )
    text = report(rows, paper)
    print(text)
    if args.out:
        Path(args.out).write_text(
            f"`python benchmarks/beyond_cost.py {' '.join(argv or sys.argv[1:])}`\n\n{text}\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
