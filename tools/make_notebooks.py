"""Generate the notebooks from one template per kind plus the registry.

    python tools/make_notebooks.py            # (re)write notebooks/*_training.ipynb and evaluation.ipynb
    python tools/make_notebooks.py --check    # exit 1 if any notebook differs from what it would write
    python tools/make_notebooks.py --extra    # also the study's failed models (VAEGAN, RHVAE, PoincareVAE)

Never edit a generated notebook by hand: edit tools/templates/*.py or shared/registry.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared import registry  # noqa: E402
from tools.templates import evaluation as evaluation_template  # noqa: E402
from tools.templates import training as training_template  # noqa: E402

NOTEBOOK_DIR = ROOT / "notebooks"
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def to_notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """(kind, source) pairs -> a notebook; 'parameters' cells get papermill's tag."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNEL
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, source) in enumerate(cells):
        source = source.strip("\n")
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(source)
        else:
            cell = nbformat.v4.new_code_cell(source)
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
        cell["id"] = f"cell-{i:02d}"  # stable ids: regenerating gives identical files
        nb.cells.append(cell)
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def expected_notebooks(extra: bool = False) -> dict[Path, str]:
    """Every generated notebook's path and exact text."""
    names = registry.MODEL_NAMES + (registry.EXTRA_MODEL_NAMES if extra else ())
    out = {
        NOTEBOOK_DIR / f"{name}_training.ipynb": render(
            to_notebook(training_template.cells(registry.get_spec(name)))
        )
        for name in names
    }
    out[NOTEBOOK_DIR / "evaluation.ipynb"] = render(to_notebook(evaluation_template.cells()))
    return out


def out_of_sync(extra: bool = False) -> list[Path]:
    """Notebooks that are missing or differ from template + registry."""
    return [p for p, text in expected_notebooks(extra).items() if not p.exists() or p.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only report notebooks out of sync (exit 1)")
    parser.add_argument("--extra", action="store_true", help="also the study's failed models")
    args = parser.parse_args(argv)
    if args.check:
        stale = out_of_sync(args.extra)
        for p in stale:
            print(f"out of sync: {p.relative_to(ROOT)} (run: python tools/make_notebooks.py)")
        return 1 if stale else 0
    NOTEBOOK_DIR.mkdir(exist_ok=True)
    for path, text in expected_notebooks(args.extra).items():
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
