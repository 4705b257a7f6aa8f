"""The per-model pages, ``docs/models/<NAME>.md``: the prose of each training notebook's header.

What a model is, its objective, the study's setting, where and why we differ, and its caveats
live once, on its page (the registry keeps only what changes behaviour). The notebook generator
renders the sections into the header, so ``make_notebooks.py --check`` also catches an edited page
whose notebook was not regenerated.
"""

from __future__ import annotations

import re
from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parents[1] / "docs" / "models"
SECTIONS = (
    "What it is",
    "Objective",
    "Study's setting",
    "Where we differ from the study, and why",
    "Caveats",
)


class PageError(ValueError):
    """A model page that is missing or not laid out as ``SECTIONS``; names the file."""


def page_path(name: str) -> Path:
    return PAGES_DIR / f"{name}.md"


def read_page(name: str) -> dict[str, str]:
    """Section heading -> its Markdown text, for registry model ``name``."""
    path = page_path(name)
    if not path.exists():
        raise PageError(f"{path}: missing; every registry model needs a page with sections {SECTIONS}")
    parts = re.split(r"^## (.+?)\s*$", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    headings, bodies = tuple(parts[1::2]), parts[2::2]
    if headings != SECTIONS:
        raise PageError(f"{path}: sections {headings}, expected {SECTIONS} in this order")
    empty = [h for h, b in zip(headings, bodies, strict=True) if not b.strip()]
    if empty:
        raise PageError(f"{path}: empty sections {empty}")
    return {h: b.strip() for h, b in zip(headings, bodies, strict=True)}
