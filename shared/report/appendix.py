"""The browsable appendix of a published run, made by one command after ``run_all.sh``:

    python -m shared.report.appendix            # the reference run: notebooks/executed/reference
    python -m shared.report.appendix --executed-dir notebooks/executed/paper

It copies the executed seed-42 training notebook of every model (``.ipynb``: a code host renders
it) and the executed evaluation notebook (``.ipynb`` and ``.html``) into ``appendix/notebooks/``, and
writes ``appendix/README.md`` (an index that renders on a code host) and ``appendix/index.html``
(the same index for a browser) linking every notebook, figure and table, with one line of
results per model computed from the results files. Only the executed notebooks are copied: the
full set of 66 stays out of git (the results files hold every seed's numbers).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
from pathlib import Path

import mistune
import pandas as pd

from shared import results as R
from shared.analysis.common import REGISTRY_MODELS

ROOT = Path(__file__).resolve().parents[2]
APPENDIX_DIR = ROOT / "appendix"
NOTEBOOK_SEED = 42
#: what is copied: the training notebooks as .ipynb only (a code host renders them; their HTML twins
#: would add about 20 MB to a size budget of 150 MB), the evaluation notebook also as .html
SUFFIXES = {"training": (".ipynb",), "evaluation": (".ipynb", ".html")}
#: the one-line result per model: (eval set, metric, column label, scale)
HEADLINE = (
    ("protocol_sampled", "ssim", "SSIM ↑", 1.0),
    ("interpolation", "piq", "PIQ ×10³ ↓", 1e3),
    ("distribution_gmm", "fd", "FD (GMM samples) ↓", 1.0),
)


class AppendixError(Exception):
    """What is missing for the appendix, in one line."""


def copy_notebooks(executed_dir: Path, dest: Path, models: list[str]) -> dict[str, list[str]]:
    """Copy the seed-42 notebook of each model and the evaluation notebook; ``name -> files`` in
    ``dest`` (one copied earlier stays listed: a resumed run's batch executes only what was left)."""
    dest.mkdir(parents=True, exist_ok=True)
    stems = {m: f"{m}_seed{NOTEBOOK_SEED}" for m in models} | {"evaluation": "evaluation"}
    present: dict[str, list[str]] = {}
    for name, stem in stems.items():
        for suffix in SUFFIXES["evaluation" if name == "evaluation" else "training"]:
            source, target = executed_dir / f"{stem}{suffix}", dest / f"{stem}{suffix}"
            if source.is_file():
                shutil.copyfile(source, target)
            if target.is_file():
                present.setdefault(name, []).append(target.name)
    return present


def model_lines(results_dir: Path) -> pd.DataFrame:
    """One row per model: runs ok, epochs run, and the headline metrics as mean ± sd over seeds."""
    loaded = R.load_results_dir(results_dir)
    if not loaded:
        return pd.DataFrame()
    runs, metrics = R.runs_frame(loaded), R.metrics_frame(loaded)
    rows = []
    for model, group in runs.groupby("model", sort=False):
        row = {
            "model": model,
            "runs ok": f"{int((group['status'] == 'ok').sum())}/{len(group)}",
            "epochs": _epochs(group["epochs_run"]),
        }
        for eval_set, metric, label, scale in HEADLINE:
            picked = metrics[
                (metrics.model == model) & (metrics.eval_set == eval_set) & (metrics.metric == metric)
            ]
            row[label] = _mean_sd(picked["value"] * scale)
        rows.append(row)
    order = {m: i for i, m in enumerate(REGISTRY_MODELS)}
    return pd.DataFrame(rows).sort_values("model", key=lambda s: s.map(order)).reset_index(drop=True)


def _epochs(column: pd.Series) -> str:
    values = sorted({int(v) for v in column.dropna()})
    return "–".join(map(str, (values[0], values[-1]) if len(values) > 1 else values)) if values else "—"


def _mean_sd(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "—"
    mean, sd = float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else math.nan
    return f"{mean:.3g}" if math.isnan(sd) else f"{mean:.3g} ± {sd:.2g}"


def _title(path: Path, fallback: str) -> str:
    """The title of a table's Markdown or a figure's caption file: the bold start of its first line,
    up to the caption (which begins with the profile)."""
    first = path.read_text(encoding="utf-8").strip().splitlines()[0] if path.is_file() else ""
    if not first.startswith("**"):
        return fallback
    title = first[2:].split("**")[0].split(". profile ")[0].split(" · ")[0].strip().rstrip(".")
    return title or fallback


def _link(target: Path, base: Path) -> str:
    return Path(os.path.relpath(target, base)).as_posix()


def model_table(lines: pd.DataFrame, copied: dict[str, list[str]], out_dir: Path, html: bool) -> str:
    """The per-model Markdown table, each row linked to its notebook and model page."""
    header = ["model", *[c for c in lines.columns if c != "model"], "notebook (seed 42)"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in lines.iterrows():
        page = _link(ROOT / "docs" / "models" / f"{row['model']}.md", out_dir)
        files = copied.get(row["model"], [])
        wanted = [f for f in files if f.endswith(".html" if html else ".ipynb")] or files
        notebook = ", ".join(f"[{f}](notebooks/{f})" for f in wanted) or "not executed"
        cells = [f"[{row['model']}]({page})", *[str(row[c]) for c in header[1:-1]], notebook]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _file_list(folder: Path, pattern: str, out_dir: Path, caption_suffix: str) -> str:
    items = []
    for path in sorted(folder.glob(pattern)):
        stem = path.name.removesuffix(pattern.lstrip("*"))
        title = _title(folder / f"{stem}{caption_suffix}", stem)
        items.append(f"- [{stem}]({_link(path, out_dir)}): {title}")
    return "\n".join(items) or "- (none built)"


def index_markdown(
    lines: pd.DataFrame,
    copied: dict[str, list[str]],
    figures: Path,
    tables: Path,
    out_dir: Path,
    html: bool = False,
) -> str:
    evaluation = copied.get("evaluation", [])
    eval_links = ", ".join(f"[{f}](notebooks/{f})" for f in evaluation) or "not executed"
    parts = [
        "# Appendix: the published run",
        "Generated by `python -m shared.report.appendix` from the results files in "
        f"[paper_results/]({_link(ROOT / 'paper_results', out_dir)}) — do not edit by hand. "
        f"Findings: [RESULTS.md]({_link(ROOT / 'RESULTS.md', out_dir)}).",
        "## Models",
        "Mean ± standard deviation over the seeds that finished; SSIM on the study's 100 protocol "
        "test images (sampled code), PIQ over its 25 interpolation pairs, FD of 10,000 samples "
        "from a 10-component mixture fitted to the training codes (classifier features).",
        model_table(lines, copied, out_dir, html),
        f"## Evaluation notebook\n\n{eval_links}",
        "## Figures",
        _file_list(figures, "*.png", out_dir, ".caption.md"),
        "## Tables",
        _file_list(tables, "*.md", out_dir, ".md"),
    ]
    return "\n\n".join(parts) + "\n"


def index_html(markdown: str) -> str:
    """The Markdown index as a standalone page (mistune: the Markdown renderer nbconvert uses)."""
    body = mistune.html(markdown)
    style = "body{font-family:sans-serif;max-width:72em;margin:2em auto}table{border-collapse:collapse}"
    style += "td,th{border:1px solid #ccc;padding:2px 6px}"
    head = f'<meta charset="utf-8"><title>Appendix</title><style>{style}</style>'
    return f"<!DOCTYPE html>\n<html><head>{head}</head><body>\n{body}</body></html>\n"


def build_appendix(executed_dir: Path, results_dir: Path, figures: Path, tables: Path, out_dir: Path) -> Path:
    """Copy the notebooks and write both indexes; returns the Markdown index's path."""
    if not executed_dir.is_dir():
        raise AppendixError(f"{executed_dir}: no executed notebooks (run ./run_all.sh first)")
    lines = model_lines(results_dir)
    if lines.empty:
        raise AppendixError(f"{results_dir}: no results files")
    copied = copy_notebooks(executed_dir, out_dir / "notebooks", list(lines["model"]))
    (out_dir / "README.md").write_text(
        index_markdown(lines, copied, figures, tables, out_dir), encoding="utf-8"
    )
    page = index_html(index_markdown(lines, copied, figures, tables, out_dir, html=True))
    (out_dir / "index.html").write_text(page, encoding="utf-8")
    return out_dir / "README.md"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Build the appendix of a published run.")
    p.add_argument("--executed-dir", type=Path, default=ROOT / "notebooks" / "executed" / "reference")
    p.add_argument("--results-dir", type=Path, default=ROOT / "paper_results")
    p.add_argument("--figures-dir", type=Path, default=ROOT / "figures")
    p.add_argument("--tables-dir", type=Path, default=ROOT / "tables")
    p.add_argument("--out-dir", type=Path, default=APPENDIX_DIR)
    args = p.parse_args(argv)
    try:
        path = build_appendix(
            args.executed_dir, args.results_dir, args.figures_dir, args.tables_dir, args.out_dir
        )
    except (AppendixError, R.ResultsError) as exc:
        print(f"appendix: {exc}", file=sys.stderr)
        return 2
    print(f"appendix: {path} and {path.with_name('index.html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
