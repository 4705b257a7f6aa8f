"""Does the study's quality–smoothness duality survive when smoothness is measured scale-free?

The study finds that models with better reconstructions (higher SSIM) have rougher interpolations
(higher PIQ). But PIQ grows with the distance the frames travel: a sharper model moves further
between the same two digits, which raises PIQ without making the path any less smooth
(``shared.metrics``, scale-free metrics). So we correlate SSIM across models with

- the raw smoothness metrics PIQ and ISS (the study's),
- the scale-free ones, path excess and step CV (``shared.metrics.SCALE_FREE_METRICS``),
- PIQ and path excess after removing endpoint distance (partial correlation, ``pingouin``).

For all four smoothness metrics higher means rougher, so a positive r always reads "better
reconstruction, rougher path". If the duality were only scale, the raw correlation would stay and
the scale-free and partial ones would vanish.

Input: one row per model (index or column ``model``) with columns ``ssim``, ``piq``, ``iss``,
``path_excess``, ``step_cv``, ``endpoint_distance`` and a boolean ``collapsed``. Collapsed models
(their codes carry no information; their paths do not move) are left out of every correlation and
counted in ``collapsed_left_out``; a row also needs finite values in its columns. With fewer than
:data:`MIN_MODELS` usable models r and p are NaN and ``note`` says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pingouin
from scipy import stats

from shared.analysis.common import ALPHA

QUALITY = "ssim"
COVARIATE = "endpoint_distance"
COLLAPSED = "collapsed"
#: Fewest usable models for a row: the partial correlation's t test has n - 3 degrees of freedom.
MIN_MODELS = 4

PIQ, ISS, PATH_EXCESS, STEP_CV = "PIQ", "ISS", "path excess", "step CV"
PIQ_PARTIAL = "PIQ given endpoint distance"
PATH_EXCESS_PARTIAL = "path excess given endpoint distance"
DUALITY_COLUMNS = ["kind", "method", "metric", "covariate", "r", "p", "n", "collapsed_left_out", "note"]


@dataclass(frozen=True)
class _Row:
    label: str
    kind: str  # "raw" | "scale-free"
    metric: str
    covariate: str | None = None


ROWS: tuple[_Row, ...] = (
    _Row(PIQ, "raw", "piq"),
    _Row(ISS, "raw", "iss"),
    _Row(PATH_EXCESS, "scale-free", "path_excess"),
    _Row(STEP_CV, "scale-free", "step_cv"),
    _Row(PIQ_PARTIAL, "raw", "piq", COVARIATE),
    _Row(PATH_EXCESS_PARTIAL, "scale-free", "path_excess", COVARIATE),
)


# --------------------------------------------------------------------------- table


def _usable(models: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Non-collapsed models (index = model) and how many collapsed ones were left out."""
    frame = models.set_index("model") if "model" in models.columns else models
    if COLLAPSED not in frame.columns:
        raise ValueError(f"models need a boolean {COLLAPSED!r} column (collapsed models are left out)")
    collapsed = frame[COLLAPSED].eq(True)
    return frame[~collapsed], int(collapsed.sum())


def _values(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The columns as floats, models with a missing or infinite value dropped."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"models lack column(s) {missing}")
    data = frame[columns].astype(float)
    return data[np.isfinite(data).all(axis=1)]


def _why_undefined(data: pd.DataFrame) -> str | None:
    """Why no correlation can be computed on ``data``, or None when it can."""
    if len(data) < MIN_MODELS:
        return f"fewer than {MIN_MODELS} usable models: n = {len(data)}"
    constant = [c for c in data.columns if data[c].nunique() < 2]
    if constant:
        return f"constant across models: {', '.join(constant)}"
    return None


def _correlate(data: pd.DataFrame, row: _Row) -> tuple[float, float, str]:
    """(r, p, note): Pearson, or partial on the covariate; NaN with the reason when undefined."""
    why = _why_undefined(data)
    if why is not None:
        return math.nan, math.nan, why
    if row.covariate is None:
        r, p = stats.pearsonr(data[QUALITY], data[row.metric])
        return float(r), float(p), ""
    try:
        with np.errstate(divide="ignore", invalid="ignore"):  # its CI at n = 4 divides by 0
            res = pingouin.partial_corr(data=data, x=QUALITY, y=row.metric, covar=row.covariate)
    except ValueError as err:  # e.g. the covariate is numerically identical to a variable
        return math.nan, math.nan, str(err)
    return float(res["r"].iloc[0]), float(res["p_val"].iloc[0]), ""


def duality_table(models: pd.DataFrame) -> pd.DataFrame:
    """SSIM against each smoothness metric across non-collapsed models: r, p, n per row.

    Rows (index ``smoothness``): PIQ, ISS (raw), path excess, step CV (scale-free), then the
    partial correlations of SSIM with PIQ and with path excess given endpoint distance.
    """
    usable, n_collapsed = _usable(models)
    records = []
    for row in ROWS:
        columns = [QUALITY, row.metric] + ([row.covariate] if row.covariate else [])
        data = _values(usable, columns)
        r, p, note = _correlate(data, row)
        records.append(
            {
                "kind": row.kind,
                "method": "partial" if row.covariate else "pearson",
                "metric": row.metric,
                "covariate": row.covariate,
                "r": r,
                "p": p,
                "n": len(data),
                "collapsed_left_out": n_collapsed,
                "note": note,
            }
        )
    return pd.DataFrame(records, index=pd.Index([row.label for row in ROWS], name="smoothness"))[
        DUALITY_COLUMNS
    ]


# --------------------------------------------------------------------------- conclusion


def format_r(r: float) -> str:
    """r to 2 decimals."""
    return f"{r:.2f}"


def format_p(p: float) -> str:
    """p to 2 significant figures, trailing zeros kept (0.70; 4.6e-09 below 1e-4, as ``g`` does)."""
    return f"{p:#.2g}"


def _get(table: pd.DataFrame, label: str) -> pd.Series | None:
    return table.loc[label] if label in table.index else None


def _defined(row: pd.Series | None) -> bool:
    return row is not None and np.isfinite(row["r"]) and np.isfinite(row["p"])


def _significant(row: pd.Series | None, alpha: float) -> bool:
    return _defined(row) and row["p"] < alpha


def _sign(row: pd.Series) -> int:
    return 1 if row["r"] > 0 else -1


def _numbers(row: pd.Series, prefix: str = "") -> str:
    return f"{prefix}r = {format_r(row['r'])}, p = {format_p(row['p'])}, n = {int(row['n'])}"


def _describe(row: pd.Series | None, alpha: float, prefix: str = "") -> str:
    """'a significant positive correlation (r = …, p = …, n = …)' or the non-significant or
    undefined reading of the row."""
    if row is None:
        return "not computed"
    if not _defined(row):
        return f"no computable correlation ({row['note'] or 'r undefined'})"
    if row["p"] < alpha:
        direction = "positive" if row["r"] > 0 else "negative"
        return f"a significant {direction} correlation ({_numbers(row, prefix)})"
    return f"no significant correlation ({_numbers(row, prefix)})"


def _left_out(table: pd.DataFrame) -> str:
    n = int(table["collapsed_left_out"].max()) if len(table) else 0
    return "" if n == 0 else f" ({n} collapsed model{'s' if n != 1 else ''} left out)"


def _scale_free_clause(table: pd.DataFrame, alpha: float) -> str:
    """Whether the (positive, significant) SSIM–PIQ correlation is also seen scale-free."""
    rows = {label: _get(table, label) for label in (PATH_EXCESS, STEP_CV)}
    same = [k for k, row in rows.items() if _significant(row, alpha) and _sign(row) > 0]
    opposite = [k for k, row in rows.items() if _significant(row, alpha) and _sign(row) < 0]
    if same:
        return f"survives scale-free measurement ({' and '.join(same)})"
    if not any(_defined(row) for row in rows.values()):
        return "cannot be checked scale-free"
    if opposite:
        verb = "reverses" if len(opposite) == 1 else "reverse"
        return f"does not survive scale-free measurement ({' and '.join(opposite)} {verb} it)"
    return "does not survive scale-free measurement"


def _partial_clause(table: pd.DataFrame, alpha: float) -> str:
    """What controlling for endpoint distance does to the (positive, significant) SSIM–PIQ r."""
    partial = _get(table, PIQ_PARTIAL)
    if not _defined(partial):
        return ""
    if not _significant(partial, alpha):
        return ", and it is no longer significant once endpoint distance is controlled for"
    if _sign(partial) > 0:
        return ", and endpoint distance does not explain it away"
    return ", and controlling for endpoint distance reverses it"


def _verdict(table: pd.DataFrame, alpha: float) -> str:
    """One sentence: is the study's duality (SSIM–PIQ r > 0) reproduced, and does it survive?"""
    piq = _get(table, PIQ)
    if not _defined(piq):
        return "So the duality cannot be tested on these models."
    if not _significant(piq, alpha):
        study = "the study's duality (a positive SSIM–PIQ correlation)"
        return f"So {study} is not reproduced at alpha = {alpha:g}."
    if _sign(piq) < 0:
        return "So the study's duality is reversed here: higher SSIM goes with lower PIQ."
    return f"So the duality {_scale_free_clause(table, alpha)}{_partial_clause(table, alpha)}."


def duality_conclusion(table: pd.DataFrame, alpha: float = ALPHA) -> str:
    """A 2–4 sentence reading of :func:`duality_table`, generated from its numbers (r to 2
    decimals, p to 2 significant figures), so it stays true whatever the results are."""
    piq, iss = _get(table, PIQ), _get(table, ISS)
    first = f"Across models{_left_out(table)}, SSIM and PIQ show {_describe(piq, alpha)}"
    first += f"; SSIM and ISS show {_describe(iss, alpha)}." if iss is not None else "."
    if not any(_defined(_get(table, label)) for label in table.index):
        return f"{first} {_verdict(table, alpha)}"
    second = (
        f"With smoothness measured scale-free, path excess shows {_describe(_get(table, PATH_EXCESS), alpha)}"
        f" and step CV shows {_describe(_get(table, STEP_CV), alpha)}."
    )
    third = (
        "Controlling for endpoint distance, SSIM and PIQ show "
        f"{_describe(_get(table, PIQ_PARTIAL), alpha, prefix='partial ')}."
    )
    return " ".join([first, second, third, _verdict(table, alpha)])
