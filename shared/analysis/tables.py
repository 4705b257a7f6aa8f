"""Display tables and table files: "mean ± std" text, Tables I and II, Markdown, LaTeX and CSV."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from shared.analysis.common import HIGHER_IS_BETTER

#: Display columns of the tables: metric -> (header, scale, digits, notation).
TABLE_I_COLUMNS: dict[str, tuple[str, float, int, str]] = {
    "ssim": ("SSIM", 1.0, 3, "fixed"),
    "mse": ("MSE (×10³)", 1e3, 2, "fixed"),
    "psnr": ("PSNR (dB)", 1.0, 2, "fixed"),
    "mae": ("MAE", 1.0, 3, "fixed"),
}
TABLE_II_COLUMNS: dict[str, tuple[str, float, int, str]] = {
    "piq": ("PIQ (×10³)", 1e3, 3, "fixed"),
    "iss": ("ISS", 1.0, 2, "sci"),
    "issim": ("I-SSIM", 1.0, 3, "fixed"),
}


def format_mean_std(
    mean: float,
    std: float,
    n: int,
    scale: float = 1.0,
    digits: int = 3,
    notation: str = "fixed",
) -> str:
    """Write "0.912 ± 0.004", or "0.912 (n = 1)" for one value — never a made-up std.

    ``scale`` multiplies both numbers (e.g. 1e3 for "MSE ×10³"); ``notation`` is "fixed" or "sci".
    """
    if n is None or pd.isna(n) or int(n) == 0 or pd.isna(mean):
        return "n/a"
    spec = f".{digits}{'e' if notation == 'sci' else 'f'}"
    text = format(mean * scale, spec)
    if int(n) == 1:
        return f"{text} (n = 1)"
    if pd.isna(std):
        return f"{text} (n = {int(n)})"
    return f"{text} ± {format(std * scale, spec)}"


# --------------------------------------------------------------------------- Tables I and II


def _n_label(row: pd.Series, metric: str) -> str:
    """Say what the ± is over: seeds, or items × seeds for pooled summaries."""
    if "n_items" in row.index:
        return f"{int(row['n_items'])} × {int(row['n_seeds'])}"
    return str(int(row[f"{metric}_n"]))


def _display_table(
    summary: pd.DataFrame,
    columns: dict[str, tuple[str, float, int, str]],
    rank_by: str,
) -> pd.DataFrame:
    """Rank models by one metric (direction from HIGHER_IS_BETTER, ties by name) and format."""
    ascending = not HIGHER_IS_BETTER[rank_by]
    ordered = summary.sort_values([f"{rank_by}_mean", "model"], ascending=[ascending, True])
    ordered = ordered[ordered[f"{rank_by}_n"] > 0].reset_index(drop=True)
    pooled = "n_items" in ordered.columns
    table = pd.DataFrame({"rank": np.arange(1, len(ordered) + 1), "model": ordered["model"]})
    for metric, (header, scale, digits, notation) in columns.items():
        table[header] = [
            format_mean_std(
                r[f"{metric}_mean"],
                r[f"{metric}_std"],
                r[f"{metric}_n"],
                scale,
                digits,
                notation,
            )
            for _, r in ordered.iterrows()
        ]
    label = "n (items × seeds)" if pooled else "n (seeds)"
    table[label] = [_n_label(r, rank_by) for _, r in ordered.iterrows()]
    return table


def table_reconstruction(summary: pd.DataFrame) -> pd.DataFrame:
    """Table I (SSIM, MSE ×10³, PSNR, MAE) from a summary (of :func:`summarise` over seeds, or
    :func:`summarise_items`), ranked by SSIM (descending)."""
    return _display_table(summary, TABLE_I_COLUMNS, "ssim")


def table_interpolation(summary: pd.DataFrame) -> pd.DataFrame:
    """Table II (PIQ ×10³, ISS, I-SSIM) from a summary (the study's: :func:`summarise_items` of
    the per-sequence frame, pooled over sequences and seeds), ranked by PIQ (ascending)."""
    return _display_table(summary, TABLE_II_COLUMNS, "piq")


# --------------------------------------------------------------------------- saving tables


def _cell(value: object, digits: int) -> str:
    """Text of one cell: floats with ``digits`` significant figures, NaN/None/pd.NA as empty."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return format(float(value), f".{digits}g")
    return str(value)


def to_markdown(df: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table (own writer: ``tabulate`` is not a dependency)."""

    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(esc(str(c)) for c in df.columns) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = [
        "| " + " | ".join(esc(_cell(v, digits)) for v in row) + " |" for row in df.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body]) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "×": r"$\times$",
    "³": r"$^3$",
    "–": "--",
    "−": "-",
}


def _latex_escape(text: str) -> str:
    """Escape LaTeX specials and spell out the few non-ASCII symbols the tables use."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(df: pd.DataFrame, digits: int = 4) -> str:
    """A booktabs ``tabular`` (own writer, so output does not depend on jinja2 being present)."""
    lines = [
        r"\begin{tabular}{" + "l" * len(df.columns) + "}",
        r"\toprule",
        " & ".join(_latex_escape(str(c)) for c in df.columns) + r" \\",
        r"\midrule",
        *(
            " & ".join(_latex_escape(_cell(v, digits)) for v in row) + r" \\"
            for row in df.itertuples(index=False)
        ),
        r"\bottomrule",
        r"\end{tabular}",
    ]
    return "\n".join(lines) + "\n"


def save_table(
    df: pd.DataFrame, out_dir: str | Path, name: str, digits: int = 4, heading: str = ""
) -> dict[str, Path]:
    """Write ``name`` as CSV (full precision), Markdown and LaTeX; return the three paths.

    A ``heading`` (title and caption) goes on top of the Markdown (bold) and LaTeX (a comment).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {ext: out / f"{name}.{ext}" for ext in ("csv", "md", "tex")}
    df.to_csv(paths["csv"], index=False)
    md_top, tex_top = (f"**{heading}**\n\n", f"% {heading}\n") if heading else ("", "")
    paths["md"].write_text(md_top + to_markdown(df, digits), encoding="utf-8")
    paths["tex"].write_text(tex_top + to_latex(df, digits), encoding="utf-8")
    return paths
