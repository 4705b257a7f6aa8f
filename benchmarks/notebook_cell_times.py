"""Where a batch's notebook seconds go: the executed training notebooks' cell times, summed by section.

papermill records each cell's duration (``metadata.papermill.duration``) and each notebook's
(``metadata.papermill.duration``, kernel start to end); a section is the training template's
markdown heading above a cell ("Data", "Model and training", "Evaluation", "Save"), and the cells
before the first heading are "imports" (bootstrap, parameter check, imports, budget). What a
notebook's duration has beyond its cells is "kernel and papermill" (kernel start, saving).

    python benchmarks/notebook_cell_times.py notebooks/executed/quick
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

SECTIONS = {"Data": "data", "Model and training": "training", "Evaluation": "evaluation", "Save": "save"}


def _section(heading: str) -> str | None:
    title = heading.lstrip("#").strip()
    return next((name for prefix, name in SECTIONS.items() if title.startswith(prefix)), None)


def notebook_seconds(path: Path) -> dict[str, float]:
    """Seconds per section of one executed training notebook, and its total."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, float] = defaultdict(float)
    section = "imports"
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            section = _section("".join(cell["source"]).splitlines()[0]) or section
            continue
        out[section] += cell.get("metadata", {}).get("papermill", {}).get("duration") or 0.0
    total = nb["metadata"].get("papermill", {}).get("duration") or 0.0
    out["kernel and papermill"] = total - sum(out.values())
    out["total"] = total
    return dict(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "executed", type=Path, help="a folder of executed training notebooks (all but evaluation.ipynb)"
    )
    args = p.parse_args(argv)
    paths = sorted(p for p in args.executed.glob("*.ipynb") if p.name != "evaluation.ipynb")
    if not paths:
        print(f"no executed training notebooks in {args.executed}", file=sys.stderr)
        return 2
    sums: dict[str, float] = defaultdict(float)
    for path in paths:
        for key, value in notebook_seconds(path).items():
            sums[key] += value
    order = ["imports", "data", "training", "evaluation", "save", "kernel and papermill", "total"]
    print(f"{len(paths)} notebooks in {args.executed}; seconds summed over them:")
    for key in order:
        print(f"  {key:<22}{sums.get(key, 0.0):8.1f}  ({sums.get(key, 0.0) / len(paths):.1f} per notebook)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
