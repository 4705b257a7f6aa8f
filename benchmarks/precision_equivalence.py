"""Is bf16 training equivalent to float32? Every model, the quick profile, 3 seeds, both precisions.

Each (model, seed) is trained and evaluated twice, in float32 and with bf16 autocast
(shared/precision.py), as the training notebook does it (same budget, data, seed, one thread; the
evaluation is float32 in both). The two runs of a pair go side by side, one per core, so their
training times compare under the same load. For every model and metric the report gives the
difference of the 3-seed means, bf16 - fp32, in units of the seed-to-seed standard deviation
(pooled over both precisions), and z = that difference over its standard error; if bf16 changed
nothing but the rounding, z follows Student's t with 4 degrees of freedom, so about 5 % of the
cells pass |z| > t(0.975, 4) = 2.78 by chance. bf16 is called equivalent only if the count of such
cells is not significantly above 5 % (one-sided binomial test) and no model's headline metric
(sampled-z MSE / SSIM, PIQ) differs by more than 2 seed standard deviations.

    python benchmarks/precision_equivalence.py            # runs what is missing, then the report
    python benchmarks/precision_equivalence.py --report   # the report from the stored runs only

Runs are appended to benchmarks/precision_equivalence_runs.jsonl as they finish (an interrupted
run resumes); the report goes to benchmarks/precision_equivalence_results.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

RUNS = HERE / "precision_equivalence_runs.jsonl"
REPORT = HERE / "precision_equivalence_results.md"
PROFILE, SEEDS, PRECISIONS = "quick", (42, 123, 456), ("fp32", "bf16")
METRICS = {  # column -> path in the run's metrics
    "MSE (sampled z)": ("reconstruction", "full_sampled", "mean", "mse"),
    "SSIM (sampled z)": ("reconstruction", "full_sampled", "mean", "ssim"),
    "PSNR (sampled z)": ("reconstruction", "full_sampled", "mean", "psnr"),
    "MAE (sampled z)": ("reconstruction", "full_sampled", "mean", "mae"),
    "MSE (mean code)": ("reconstruction", "full_mean", "mean", "mse"),
    "SSIM (mean code)": ("reconstruction", "full_mean", "mean", "ssim"),
    "PIQ": ("interpolation", "mean", "piq"),
    "ISS": ("interpolation", "mean", "iss"),
    "I-SSIM": ("interpolation", "mean", "issim"),
    "FD prior": ("generation", "sets", "prior", "fd"),
    "FD GMM": ("generation", "sets", "gmm", "fd"),
    "probe accuracy": ("codes", "probe_accuracy"),
    "k-means accuracy": ("codes", "kmeans_mean"),
}
HEADLINE = ("MSE (sampled z)", "SSIM (sampled z)", "PIQ")


def _dig(tree: dict, path: tuple[str, ...]) -> float | None:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return float(tree)


def one_run(task: tuple[str, int, str]) -> dict:
    """Train and evaluate (model, seed) at ``precision`` on one thread; the row to store."""
    model, seed, precision = task
    import torch

    from shared import evaluation, experiment
    from shared.training import train_model

    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        budget = experiment.run_budget(model, PROFILE, precision=precision)
        splits = experiment.load_data(budget, None, PROFILE)
        settings = experiment.settings_for(budget, seed, "cpu", 1, progress=False)
        result = train_model(model, splits, settings)
        t0 = time.perf_counter()
        ev = evaluation.evaluate_model(result.model, splits, seed) if result.status == "ok" else None
    row = {
        "model": model,
        "seed": seed,
        "precision": precision,
        "status": result.status,
        "epochs_run": result.epochs_run,
        "train_seconds": result.wall_seconds,
        "eval_seconds": time.perf_counter() - t0,
        "data": splits.source,
    }
    metrics = ev["metrics"] if ev else {}
    row["metrics"] = {name: _dig(metrics, path) for name, path in METRICS.items()}
    return row


def stored_rows() -> list[dict]:
    if not RUNS.exists():
        return []
    return [json.loads(line) for line in RUNS.read_text().splitlines() if line.strip()]


def missing_tasks(models: list[str]) -> list[tuple[str, int, str]]:
    from shared import registry

    done = {(r["model"], r["seed"], r["precision"]) for r in stored_rows()}
    by_cost = sorted(models, key=lambda m: -registry.get_spec(m).cost_hint)
    # the two precisions of a pair next to each other: they run side by side, one per core
    return [(m, s, p) for m in by_cost for s in SEEDS for p in PRECISIONS if (m, s, p) not in done]


def run_missing(models: list[str], jobs: int) -> None:
    tasks = missing_tasks(models)
    print(f"{len(tasks)} runs to do, {jobs} at a time", flush=True)
    with mp.get_context("spawn").Pool(jobs) as pool, open(RUNS, "a") as out:
        for i, row in enumerate(pool.imap_unordered(one_run, tasks), 1):
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(
                f"[{i}/{len(tasks)}] {row['model']} seed {row['seed']} {row['precision']}: {row['status']}, "
                f"train {row['train_seconds']:.1f} s",
                flush=True,
            )


def comparison(rows: list[dict]):
    """One row per (model, metric): the means, the difference in seed SDs and its z."""
    import numpy as np
    import pandas as pd

    long = pd.DataFrame(
        [
            {"model": r["model"], "seed": r["seed"], "precision": r["precision"], "metric": k, "value": v}
            for r in rows
            if r["status"] == "ok"
            for k, v in r["metrics"].items()
            if v is not None
        ]
    )
    out = []
    for (model, metric), g in long.groupby(["model", "metric"], sort=False):
        a = g[g.precision == "fp32"].value.to_numpy()
        b = g[g.precision == "bf16"].value.to_numpy()
        if len(a) < 2 or len(b) < 2:
            continue
        sd = np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
        diff = b.mean() - a.mean()
        se = sd * np.sqrt(1 / len(a) + 1 / len(b))
        out.append(
            {
                "model": model,
                "metric": metric,
                "fp32": a.mean(),
                "bf16": b.mean(),
                "diff_in_sd": diff / sd if sd > 0 else (0.0 if diff == 0 else np.inf),
                "z": diff / se if se > 0 else (0.0 if diff == 0 else np.inf),
                "df": len(a) + len(b) - 2,
            }
        )
    return pd.DataFrame(out)


def speed(rows: list[dict]):
    """Training seconds per model, summed over the seeds, each precision; and their ratio."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    table = frame.pivot_table(index="model", columns="precision", values="train_seconds", aggfunc="sum")
    table["fp32 / bf16"] = table["fp32"] / table["bf16"]
    return table


def verdict(cmp) -> tuple[bool, list[str]]:
    from scipy import stats

    crit = stats.t.ppf(0.975, cmp.df)
    beyond = int((cmp.z.abs() > crit).sum())
    test = stats.binomtest(beyond, len(cmp), 0.05, alternative="greater")
    headline = cmp[cmp.metric.isin(HEADLINE) & (cmp.diff_in_sd.abs() > 2)]
    lines = [
        f"cells (model x metric): {len(cmp)}; |z| > t(0.975, 4): {beyond} ({beyond / len(cmp):.1%}; "
        f"5% expected if only the rounding differs; one-sided binomial p = {test.pvalue:.3g})",
        f"headline metrics ({', '.join(HEADLINE)}) more than 2 seed SDs apart: "
        + (", ".join(f"{r.model} {r.metric} ({r.diff_in_sd:+.2f})" for r in headline.itertuples()) or "none"),
    ]
    return test.pvalue >= 0.05 and headline.empty, lines


def write_report(rows: list[dict]) -> str:
    cmp = comparison(rows)
    equivalent, lines = verdict(cmp)
    spd = speed(rows)
    wide = cmp.pivot(index="model", columns="metric", values="diff_in_sd")[list(METRICS)]
    total = spd[["fp32", "bf16"]].sum()
    failed = [f"{r['model']} seed {r['seed']} {r['precision']}" for r in rows if r["status"] != "ok"]
    text = "\n".join(
        [
            "# bf16 autocast vs float32 training: equivalence and speed",
            "",
            f"Generated by `python benchmarks/precision_equivalence.py --report` from "
            f"`{RUNS.name}` ({len(rows)} runs: {PROFILE} profile, seeds {', '.join(map(str, SEEDS))}, "
            f"data: {rows[0]['data']}; one thread per run, the two precisions of a pair side by side).",
            "",
            "## Verdict",
            "",
            *[f"- {line}" for line in lines],
            f"- failed runs: {', '.join(failed) or 'none'}",
            f"- **bf16 is {'' if equivalent else 'not '}equivalent to float32 on this evidence.**",
            "",
            "## bf16 - fp32, in seed-to-seed standard deviations (3-seed means; pooled SD)",
            "",
            wide.round(2).to_markdown(),
            "",
            "## Training seconds (sum over the 3 seeds)",
            "",
            spd.round(2).to_markdown(),
            "",
            f"All models: fp32 {total['fp32']:.0f} s, bf16 {total['bf16']:.0f} s, "
            f"ratio {total['fp32'] / total['bf16']:.2f}x.",
            "",
        ]
    )
    REPORT.write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    from shared import registry

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--report", action="store_true", help="only write the report from the stored runs")
    p.add_argument("--models", default=",".join(registry.MODEL_NAMES))
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args(argv)
    if not args.report:
        run_missing(args.models.split(","), args.jobs)
    print(write_report(stored_rows()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
