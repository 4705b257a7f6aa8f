"""The project's own documents: every model has its page, every protocol link resolves, and
nothing points at the study's specification outside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from shared import registry
from tools import model_pages

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "docs" / "PROTOCOL.md"


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    exts = (".py", ".md", ".ipynb", ".yml", ".toml", ".sh", ".txt")
    return [ROOT / p for p in out.stdout.splitlines() if p.endswith(exts) and (ROOT / p).exists()]


def _github_anchor(heading: str) -> str:
    """GitHub's heading slug: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("name", registry.ALL_MODEL_NAMES)
def test_every_model_has_a_complete_page(name):
    sections = model_pages.read_page(name)
    assert tuple(sections) == model_pages.SECTIONS and all(sections.values())


def test_a_page_without_its_sections_is_refused(tmp_path, monkeypatch):
    (tmp_path / "VAE.md").write_text("# VAE\n\n## What it is\n\ntext\n")
    monkeypatch.setattr(model_pages, "PAGES_DIR", tmp_path)
    with pytest.raises(model_pages.PageError, match="sections"):
        model_pages.read_page("VAE")
    with pytest.raises(model_pages.PageError, match="missing"):
        model_pages.read_page("AE")


def test_no_file_cites_the_specification_outside_the_repository():
    spec_name = "METHOD" + ".md"  # spelled apart so this file does not match itself
    offenders = [
        p for p in _tracked_text_files() if spec_name in p.read_text(encoding="utf-8", errors="ignore")
    ]
    assert offenders == []


def test_every_protocol_anchor_exists():
    headings = re.findall(r"^#{2,3} (.+)$", PROTOCOL.read_text(encoding="utf-8"), flags=re.MULTILINE)
    anchors = {_github_anchor(h) for h in headings}
    used = set()
    for path in _tracked_text_files():
        used |= set(re.findall(r"PROTOCOL\.md#([\w\-]+)", path.read_text(encoding="utf-8", errors="ignore")))
    assert used, "nothing links to a protocol section"
    assert used <= anchors, sorted(used - anchors)


def test_readme_lists_every_model_once_with_its_family():
    """The README's model table names exactly the catalogue's 22 models, each under its family."""
    from shared import catalogue

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Models", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] in catalogue.FAMILIES:
            for name in re.findall(r"`(\w+)`", cells[1]):
                rows[name] = cells[0]
    assert rows == catalogue.STUDY_FAMILIES
    for extra in catalogue.EXTRA_MODEL_NAMES:
        assert f"`{extra}`" in section


def _bibtex_entries(text: str) -> dict[str, str]:
    """Each ``@type{key, ...}`` entry of the README's bibtex block, by key, braces balanced."""
    block = text.split("## Citing", 1)[1].split("```bibtex", 1)[1].split("```", 1)[0]
    entries, depth, start, key = {}, 0, 0, ""
    for i, char in enumerate(block):
        if char == "@" and depth == 0:
            start, key = i, block[block.index("{", i) + 1 : block.index(",", i)]
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0, "unbalanced braces in the README's bibtex"
        if char == "}" and depth == 0:
            entries[key] = block[start : i + 1]
    assert depth == 0, "unbalanced braces in the README's bibtex"
    return entries


def test_readme_names_the_study_and_gives_bibtex_for_it_and_pythae():
    """The first paragraph names the study (title, author, year); "Citing" has both entries."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_paragraph = " ".join(text.split("\n\n")[1].split())
    for fact in ("On the Quality-Smoothness Duality in Variational Autoencoders", "Patel", "2025"):
        assert fact in first_paragraph
    entries = _bibtex_entries(text)
    assert set(entries) == {"patel2025duality", "chadebec2022pythae"}
    assert "Twenty-Two Architectures" in entries["patel2025duality"]
    assert "year         = {2025}" in entries["patel2025duality"]
    assert "Pythae" in entries["chadebec2022pythae"]
