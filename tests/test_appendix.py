"""The appendix index (shared.report.appendix): one line per model computed from the results files,
links that resolve, the seed-42 notebooks copied, an HTML twin, and one-line errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from shared import results as R
from shared.report import appendix
from tests.test_results import make_run

ROOT = Path(__file__).resolve().parents[1]


def _published(tmp_path: Path) -> dict[str, Path]:
    dirs = {k: tmp_path / k for k in ("results", "executed", "figures", "tables", "out")}
    for folder in dirs.values():
        folder.mkdir()
    for model, offset in (("VAE", 0.0), ("AE", 0.5)):
        for seed in (42, 123):
            R.save_run(
                dirs["results"], model, seed, make_run(seed, model, offset=offset, profile="reference")
            )
        for seed in (42, 123):
            for suffix in (".ipynb", ".html"):
                (dirs["executed"] / f"{model}_seed{seed}{suffix}").write_text(f"{model} {seed}")
    (dirs["executed"] / "evaluation.ipynb").write_text("{}")
    (dirs["figures"] / "fig5_ssim_vs_piq.png").write_bytes(b"png")
    (dirs["figures"] / "fig5_ssim_vs_piq.caption.md").write_text(
        "**Fig 5: SSIM against PIQ.** profile reference (...)"
    )
    (dirs["tables"] / "pareto_regimes.md").write_text(
        "**Pareto frontier. profile reference (...)**\n\n| a |\n"
    )
    return dirs


def test_the_index_has_one_line_per_model_with_the_mean_over_seeds(tmp_path: Path) -> None:
    d = _published(tmp_path)
    index = appendix.build_appendix(d["executed"], d["results"], d["figures"], d["tables"], d["out"])
    text = index.read_text()
    for model, offset in (("VAE", 0.0), ("AE", 0.5)):
        ssim = [make_run(s, model, offset=offset)["metrics"]["reconstruction"]["protocol_sampled"]["mean"]["ssim"]
                for s in (42, 123)]  # fmt: skip
        row = next(line for line in text.splitlines() if line.startswith(f"| [{model}]"))
        assert f"{np.mean(ssim):.3g} ± {np.std(ssim, ddof=1):.2g}" in row and "| 2/2 |" in row
    assert text.index("| [VAE]") < text.index("| [AE]")  # the study's order
    assert "SSIM against PIQ" in text and "Pareto frontier" in text and "profile reference" not in text


def test_every_link_resolves_and_only_seed_42_notebooks_are_copied(tmp_path: Path) -> None:
    d = _published(tmp_path)
    index = appendix.build_appendix(d["executed"], d["results"], d["figures"], d["tables"], d["out"])
    copied = sorted(p.name for p in (d["out"] / "notebooks").iterdir())
    assert copied == ["AE_seed42.ipynb", "VAE_seed42.ipynb", "evaluation.ipynb"]  # training: .ipynb only
    links = re.findall(r"\]\(([^)]+)\)", index.read_text())
    missing = [link for link in links if not (index.parent / link).exists() and "RESULTS.md" not in link]
    assert missing == []
    html = (d["out"] / "index.html").read_text()
    assert "<table>" in html and 'href="notebooks/VAE_seed42.ipynb"' in html


def test_missing_inputs_are_one_line_errors(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "shared.report.appendix", "--executed-dir", str(tmp_path / "none")]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "no executed notebooks" in out.stderr and "Traceback" not in out.stderr
    (tmp_path / "ex").mkdir()
    cmd = [*cmd[:-1], str(tmp_path / "ex"), "--results-dir", str(tmp_path / "ex")]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "no results files" in out.stderr and "Traceback" not in out.stderr


def test_a_notebook_copied_by_an_earlier_build_stays_listed(tmp_path: Path) -> None:
    d = _published(tmp_path)
    appendix.build_appendix(d["executed"], d["results"], d["figures"], d["tables"], d["out"])
    for stale in d["executed"].glob("AE_seed42.*"):  # a resumed batch executed only the rest
        stale.unlink()
    index = appendix.build_appendix(d["executed"], d["results"], d["figures"], d["tables"], d["out"])
    row = next(line for line in index.read_text().splitlines() if line.startswith("| [AE]"))
    assert "notebooks/AE_seed42.ipynb" in row
