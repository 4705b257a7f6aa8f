"""Display tables and table files: "mean ± std" text, Tables I and II, Markdown, LaTeX and CSV."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from shared.analysis.common import HIGHER_IS_BETTER

#: Display columns of the tables: metric -> (header, scale, digits, notation). The header names
#: the unit or scale (values are multiplied by ``scale``); :func:`display_header` adds the arrow.
TABLE_I_COLUMNS: dict[str, tuple[str, float, int, str]] = {
    "ssim": ("SSIM", 1.0, 3, "fixed"),
    "mse": ("MSE (×10³)", 1e3, 2, "fixed"),
    "psnr": ("PSNR (dB)", 1.0, 2, "fixed"),
    "mae": ("MAE", 1.0, 3, "fixed"),
}
TABLE_II_COLUMNS: dict[str, tuple[str, float, int, str]] = {
    "piq": ("PIQ (×10³)", 1e3, 3, "fixed"),
    "iss": ("ISS (×10⁷)", 1e7, 2, "fixed"),
    "issim": ("I-SSIM", 1.0, 3, "fixed"),
}

#: ``DataFrame.attrs`` keys read by :func:`to_markdown` / :func:`to_latex` (the CSV ignores them):
#: column -> header shown (with ↑/↓), and column -> one bool per row (the best value, in bold).
HEADERS_ATTR, BEST_ATTR = "display_headers", "best_cells"


def arrow(metric: str) -> str:
    """ "↑" where higher is better, "↓" where lower is better (``HIGHER_IS_BETTER``)."""
    return "↑" if HIGHER_IS_BETTER[metric] else "↓"


def _with_arrow(header: str, higher_is_better: bool | None) -> str:
    """The header with ↑/↓ right after the metric name, before the unit (None: no arrow)."""
    if higher_is_better is None:
        return header
    name, sep, unit = header.partition(" (")
    return f"{name} {'↑' if higher_is_better else '↓'}" + (f" ({unit}" if sep else "")


def display_header(header: str, metric: str) -> str:
    """ "SSIM ↑", "MSE ↓ (×10³)": the arrow right after the metric name, before the unit."""
    return _with_arrow(header, HIGHER_IS_BETTER[metric])


def format_mean_std(
    mean: float,
    std: float,
    n: int,
    scale: float = 1.0,
    digits: int = 3,
    notation: str = "fixed",
) -> str:
    """Write "0.912 ± 0.004", or "0.912" for one value (no std: never a made-up one); "n/a" for none.

    ``scale`` multiplies both numbers (e.g. 1e3 for "MSE ×10³"); ``notation`` is "fixed" or "sci".
    How many values the ± is over is said once, in the caption (:func:`n_statement`), or in the
    table's n column where rows differ.
    """
    if n is None or pd.isna(n) or int(n) == 0 or pd.isna(mean):
        return "n/a"
    spec = f".{digits}{'e' if notation == 'sci' else 'f'}"
    text = format(mean * scale, spec)
    if int(n) == 1 or pd.isna(std):
        return text
    return f"{text} ± {format(std * scale, spec)}"


def best_mask(values: Sequence[float], higher_is_better: bool) -> list[bool]:
    """Which values are the best (all of them on a tie); NaN is never best."""
    arr = np.asarray(values, dtype=float)
    if np.isnan(arr).all():
        return [False] * len(arr)
    best = np.nanmax(arr) if higher_is_better else np.nanmin(arr)
    return [bool(v == best) for v in arr]


# --------------------------------------------------------------------------- Tables I and II


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _row_n(summary: pd.DataFrame, metrics: Sequence[str]) -> list[str]:
    """What each row's ± is over: "3" seeds, or "25 × 3" items × seeds for pooled summaries."""
    if "n_items" in summary.columns:
        return [f"{int(i)} × {int(s)}" for i, s in zip(summary["n_items"], summary["n_seeds"])]
    counts = summary[[f"{m}_n" for m in metrics if f"{m}_n" in summary.columns]]
    return ["/".join(sorted({str(int(v)) for v in row if v > 0}, key=int)) for row in counts.to_numpy()]


def n_statement(summary: pd.DataFrame, item: str = "item") -> str:
    """ "n = 3 seeds" or "25 sequences × 3 seeds" when every row of ``summary`` rests on the same
    numbers (then the display table has no n column); "" when rows differ."""
    metrics = [c[: -len("_n")] for c in summary.columns if c.endswith("_n") and f"{c[:-2]}_mean" in summary]
    rows = summary[summary[[f"{m}_n" for m in metrics]].gt(0).any(axis=1)]
    labels = set(_row_n(rows, metrics))
    if len(labels) != 1 or "/" in next(iter(labels)):
        return ""
    if "n_items" in rows.columns:
        return (
            f"{_plural(int(rows['n_items'].iloc[0]), item)} × {_plural(int(rows['n_seeds'].iloc[0]), 'seed')}"
        )
    return f"n = {_plural(int(next(iter(labels))), 'seed')}"


def _display_table(
    summary: pd.DataFrame,
    columns: dict[str, tuple[str, float, int, str]],
    rank_by: str,
    unbolded: Collection[str] = (),
    directions: Mapping[str, bool | None] | None = None,
    keep_unranked: bool = False,
) -> pd.DataFrame:
    """Rank models by one metric (direction from HIGHER_IS_BETTER, ties by name) and format.

    An n column ("n (seeds)" / "n (items × seeds)") only where rows rest on different numbers
    (else :func:`n_statement` says it once, for the caption). ``attrs`` carry the headers with
    ↑/↓ and the best cell of each metric column (on the printed figures: ties all bold) for the
    Markdown and LaTeX writers; models in ``unbolded`` (collapsed ones) are never marked best.
    ``directions``: column key -> higher is better (None: no arrow, never bold) where a key is
    not a metric of HIGHER_IS_BETTER (e.g. "gmm_fd"); ``keep_unranked`` keeps models without a
    value of ``rank_by`` (ranked last, by name) instead of dropping them.
    """

    def higher(key: str) -> bool | None:
        return directions[key] if directions is not None and key in directions else HIGHER_IS_BETTER[key]

    ascending = not higher(rank_by)
    ordered = summary.sort_values(
        [f"{rank_by}_mean", "model"], ascending=[ascending, True], na_position="last"
    )
    if not keep_unranked:
        ordered = ordered[ordered[f"{rank_by}_n"] > 0]
    ordered = ordered.reset_index(drop=True)
    pooled = "n_items" in ordered.columns
    table = pd.DataFrame({"rank": np.arange(1, len(ordered) + 1), "model": ordered["model"]})
    headers, best = {}, {}
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
        shown = [
            float(format(m * scale, f".{digits}{'e' if notation == 'sci' else 'f'}"))
            if n > 0 and model not in unbolded and not pd.isna(m)
            else np.nan
            for model, m, n in zip(ordered["model"], ordered[f"{metric}_mean"], ordered[f"{metric}_n"])
        ]
        direction = higher(metric)
        headers[header] = _with_arrow(header, direction)
        best[header] = [False] * len(shown) if direction is None else best_mask(shown, direction)
    if not n_statement(ordered):
        table["n (items × seeds)" if pooled else "n (seeds)"] = _row_n(ordered, list(columns))
    table.attrs[HEADERS_ATTR], table.attrs[BEST_ATTR] = headers, best
    return table


def metric_table(
    summary: pd.DataFrame,
    columns: dict[str, tuple[str, float, int, str]],
    rank_by: str,
    unbolded: Collection[str] = (),
    directions: Mapping[str, bool | None] | None = None,
) -> pd.DataFrame:
    """A display table like Tables I and II for any summary (``{key}_mean/_std/_n`` columns):
    ranked by ``rank_by`` (models without it last), headers with ↑/↓ from ``directions`` or
    HIGHER_IS_BETTER, the best value of each column bold (never a model in ``unbolded``)."""
    return _display_table(summary, columns, rank_by, unbolded, directions, keep_unranked=True)


def table_reconstruction(summary: pd.DataFrame, unbolded: Collection[str] = ()) -> pd.DataFrame:
    """Table I (SSIM, MSE ×10³, PSNR, MAE) from a summary (of :func:`summarise` over seeds, or
    :func:`summarise_items`), ranked by SSIM (descending)."""
    return _display_table(summary, TABLE_I_COLUMNS, "ssim", unbolded)


def table_interpolation(summary: pd.DataFrame, unbolded: Collection[str] = ()) -> pd.DataFrame:
    """Table II (PIQ ×10³, ISS ×10⁷, I-SSIM) from a summary (the study's: :func:`summarise_items`
    of the per-sequence frame, pooled over sequences and seeds), ranked by PIQ (ascending)."""
    return _display_table(summary, TABLE_II_COLUMNS, "piq", unbolded)


def table_study_comparison(
    comparison: pd.DataFrame, metrics: Sequence[str] = ("ssim", "piq"), unbolded: Collection[str] = ()
) -> pd.DataFrame:
    """The reproduction-vs-study table as a paper prints it: one row per model; per metric ours
    (mean ± std), the study's, the difference and whether the study's value is in our 95%
    t-interval, in Table I / II units, for the models we ran; the best of ours and of the study's in bold (never a model
    in ``unbolded``). ``comparison``: :func:`shared.analysis.study.compare_with_study` rows."""
    columns = {**TABLE_I_COLUMNS, **TABLE_II_COLUMNS}
    ran = comparison.loc[comparison["ours_n"].fillna(0) > 0, "model"]
    rows_of = comparison["model"].isin(ran) & comparison["metric"].isin(metrics)
    wide = comparison[rows_of].pivot(index="model", columns="metric")  # the models we ran
    table = pd.DataFrame({"model": wide.index})
    headers, best = {}, {}
    for metric in metrics:
        label, scale, digits, notation = columns[metric]
        name, _, unit = label.partition(" (")
        unit = f" ({unit}" if unit else ""
        rows = wide.xs(metric, axis=1, level="metric")
        ours, study = f"{name} ours{unit}", f"{name} study{unit}"
        table[ours] = [format_mean_std(m, s, n, scale, digits, notation) for m, s, n in
                       zip(rows["ours_mean"], rows["ours_std"], rows["ours_n"], strict=True)]  # fmt: skip
        table[study] = [format_mean_std(v, np.nan, 1, scale, digits, notation) for v in rows["study_value"]]
        table[f"{name} ours − study{unit}"] = [
            "n/a" if pd.isna(d) else f"{d * scale:+.{digits}f}".replace("-", "−") for d in rows["difference"]
        ]
        table[f"{name}: study in our 95% CI"] = rows["study_in_our_t_ci"].fillna("n/a").to_list()
        for column, values in ((ours, rows["ours_mean"]), (study, rows["study_value"])):
            headers[column] = _with_arrow(column, HIGHER_IS_BETTER[metric])
            shown = [np.nan if m in unbolded else v for m, v in zip(rows.index, values, strict=True)]
            best[column] = best_mask(
                np.round(np.asarray(shown, float) * scale, digits), HIGHER_IS_BETTER[metric]
            )
    identical = wide.xs(metrics[0], axis=1, level="metric")["study_row_identical_to"]
    table[f"study's {columns[metrics[0]][0].partition(' (')[0]} row identical to"] = identical.fillna(
        ""
    ).to_list()
    table.attrs[HEADERS_ATTR], table.attrs[BEST_ATTR] = headers, best
    return table


def display_view(df: pd.DataFrame, index: str | None = None) -> pd.DataFrame:
    """The table as a notebook shows it: headers with ↑/↓ and ``index`` (e.g. "rank" or "model")
    as the index, so no 0, 1, 2, … pandas index stands beside it."""
    out = df.rename(columns=df.attrs.get(HEADERS_ATTR, {}))
    out.attrs = {}
    if index is None:
        index = "rank" if "rank" in out.columns else out.columns[0]
    return out.set_index(index)


# --------------------------------------------------------------------------- saving tables


def _cell(value: object, digits: int) -> str:
    """Text of one cell: floats with ``digits`` significant figures, NaN/None/pd.NA as empty."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return format(float(value), f".{digits}g")
    return str(value)


def _headers(df: pd.DataFrame) -> list[str]:
    """The headers shown: ``attrs`` headers (with ↑/↓) where set, else the column names."""
    shown = df.attrs.get(HEADERS_ATTR, {})
    return [str(shown.get(c, c)) for c in df.columns]


def _rows(
    df: pd.DataFrame, digits: int, text: Callable[[str], str], bold: Callable[[str], str]
) -> list[list[str]]:
    """Each row's cells as text, the ``attrs`` best cells wrapped with ``bold``."""
    best = df.attrs.get(BEST_ATTR, {})
    masks = [best.get(c) if best.get(c) is not None and len(best[c]) == len(df) else None for c in df.columns]
    return [
        [bold(text(_cell(v, digits))) if mask is not None and mask[i] else text(_cell(v, digits))
         for v, mask in zip(row, masks)]
        for i, row in enumerate(df.itertuples(index=False))
    ]  # fmt: skip


def to_markdown(df: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table (own writer: ``tabulate`` is not a dependency), without
    the pandas index; headers and best cells (bold) from ``df.attrs`` where a display table set them."""

    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(esc(c) for c in _headers(df)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(row) + " |" for row in _rows(df, digits, esc, lambda t: f"**{t}**" if t else t)]
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
    "–": "--",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    **{sup: f"$^{d}$" for d, sup in enumerate("⁰¹²³⁴⁵⁶⁷⁸⁹")},
    "−": "-",
}


def _latex_escape(text: str) -> str:
    """Escape LaTeX specials and spell out the few non-ASCII symbols the tables use."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(df: pd.DataFrame, digits: int = 4) -> str:
    """A booktabs ``tabular`` (own writer, so output does not depend on jinja2 being present),
    without the pandas index; headers and best cells (``\\textbf``) from ``df.attrs``."""
    lines = [
        r"\begin{tabular}{" + "l" * len(df.columns) + "}",
        r"\toprule",
        " & ".join(_latex_escape(c) for c in _headers(df)) + r" \\",
        r"\midrule",
        *(
            " & ".join(row) + r" \\"
            for row in _rows(df, digits, _latex_escape, lambda t: rf"\textbf{{{t}}}" if t else t)
        ),
        r"\bottomrule",
        r"\end{tabular}",
    ]
    return "\n".join(lines) + "\n"


def save_table(
    df: pd.DataFrame,
    out_dir: str | Path,
    name: str,
    digits: int = 4,
    heading: str = "",
    shown: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write ``name`` as CSV (full precision), Markdown and LaTeX; return the three paths.

    A ``heading`` (title and caption) goes on top of the Markdown (bold) and LaTeX (a comment);
    ``shown``, if given, is what the Markdown and LaTeX print instead of ``df`` (a paper's layout
    of the numbers the CSV keeps in full).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {ext: out / f"{name}.{ext}" for ext in ("csv", "md", "tex")}
    df.to_csv(paths["csv"], index=False)
    md_top, tex_top = (f"**{heading}**\n\n", f"% {heading}\n") if heading else ("", "")
    shown = df if shown is None else shown
    paths["md"].write_text(md_top + to_markdown(shown, digits), encoding="utf-8")
    paths["tex"].write_text(tex_top + to_latex(shown, digits), encoding="utf-8")
    return paths
