"""How the runs went, per model: seeds ok, epochs, early stops, time, and the failures."""

from __future__ import annotations

import pandas as pd

from shared.analysis.common import column


def _distinct(values: pd.Series) -> str:
    """Join the distinct non-missing values of a column, sorted, for a one-line summary."""
    return ", ".join(sorted({str(v) for v in values.dropna()}))


def _at_epoch(epoch: object) -> str:
    """ " (epoch 3)" for a known failure epoch, else nothing."""
    return "" if epoch is None or pd.isna(epoch) else f" (epoch {int(epoch)})"


def run_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per model: seeds ok/total, epochs run, early stops, wall time, device, profile,
    data source and the failure reasons (wall minutes to 1 decimal) — what a reader needs to judge the tables' footing."""
    rows = []
    reason, epoch = column(runs, "failure_reason"), column(runs, "failure_epoch")
    for model, grp in runs.groupby("model", sort=True):
        ok = grp["status"] == "ok"
        epochs = column(grp, "epochs_run").dropna()
        stop = column(grp, "best_epoch")[column(grp, "early_stopped").fillna(False).astype(bool)]
        rows.append(
            {
                "model": model,
                "seeds_ok": f"{int(ok.sum())}/{len(grp)}",
                "seeds": ", ".join(str(s) for s in sorted(grp["seed"])),
                "epochs_run": _distinct(epochs.astype(int)) if len(epochs) else "",
                "early_stopped": f"{len(stop)}/{len(grp)}",
                "best_epoch": _distinct(column(grp, "best_epoch").dropna().astype(int)),
                "wall_minutes_mean": round(column(grp, "wall_seconds").astype(float).mean() / 60, 1),
                "device": _distinct(column(grp, "device")),
                "profile": _distinct(column(grp, "profile")),
                "data_source": _distinct(column(grp, "data_source")),
                "n_train": _distinct(column(grp, "n_train")),
                "failures": "; ".join(
                    f"seed {s}{_at_epoch(e)}: {r}"
                    for s, e, r, o in zip(grp["seed"], epoch[grp.index], reason[grp.index], ok, strict=True)
                    if not o
                ),
            }
        )
    return pd.DataFrame(rows)


def failed_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The failed runs with their reason (excluded from every table, docs/PROTOCOL.md#7-tables-figures-and-statistics)."""
    failed = runs[runs["status"] != "ok"]
    return pd.DataFrame(
        {"model": failed["model"], "seed": failed["seed"], "reason": column(failed, "failure_reason")}
    ).sort_values(["model", "seed"], ignore_index=True)
