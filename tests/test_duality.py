"""shared.analysis.duality: SSIM against raw and scale-free smoothness, checked by hand."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from shared.analysis import duality as D


def models_frame(n: int = 20, seed: int = 0, n_collapsed: int = 0) -> pd.DataFrame:
    """Synthetic models: SSIM and PIQ both rise with endpoint distance; path excess is noise."""
    rng = np.random.default_rng(seed)
    end = rng.uniform(0.01, 0.05, n)
    excess = 1.2 + rng.normal(0, 0.1, n)
    piq = excess * end / 81
    frame = pd.DataFrame(
        {
            "model": [f"m{i:02d}" for i in range(n)],
            "ssim": 0.5 + 5 * end + rng.normal(0, 0.02, n),
            "piq": piq,
            "iss": piq**2 * rng.uniform(0.5, 1.5, n),
            "path_excess": excess,
            "step_cv": rng.uniform(0.1, 0.5, n),
            "endpoint_distance": end,
            "collapsed": False,
        }
    )
    if n_collapsed:
        wild = frame.iloc[:n_collapsed].copy()
        wild["model"] = [f"collapsed{i}" for i in range(n_collapsed)]
        wild[["ssim", "piq", "iss", "path_excess", "step_cv", "endpoint_distance"]] = [
            0.0,
            1.0,
            1.0,
            np.nan,
            0.0,
            0.0,
        ]
        wild["collapsed"] = True
        frame = pd.concat([frame, wild], ignore_index=True)
    return frame


def numpy_pearson(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    dx, dy = x - x.mean(), y - y.mean()
    r = float((dx * dy).sum() / math.sqrt((dx**2).sum() * (dy**2).sum()))
    return r, t_test_p(r, len(x) - 2)


def t_test_p(r: float, dof: int) -> float:
    t = r * math.sqrt(dof / (1 - r**2))
    return float(2 * stats.t.sf(abs(t), dof))


def residual_partial(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[float, float]:
    design = np.column_stack([np.ones_like(z), z])
    rx = x - design @ np.linalg.lstsq(design, x, rcond=None)[0]
    ry = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    r = float(rx @ ry / math.sqrt((rx @ rx) * (ry @ ry)))
    return r, t_test_p(r, len(x) - 3)


# --------------------------------------------------------------------------- table


def test_rows_and_columns() -> None:
    table = D.duality_table(models_frame())
    assert list(table.index) == [D.PIQ, D.ISS, D.PATH_EXCESS, D.STEP_CV, D.PIQ_PARTIAL, D.PATH_EXCESS_PARTIAL]
    assert list(table.columns) == D.DUALITY_COLUMNS
    assert list(table["kind"]) == ["raw", "raw", "scale-free", "scale-free", "raw", "scale-free"]
    assert list(table["method"]) == ["pearson"] * 4 + ["partial"] * 2


@pytest.mark.parametrize(
    "label, column", [(D.PIQ, "piq"), (D.ISS, "iss"), (D.PATH_EXCESS, "path_excess"), (D.STEP_CV, "step_cv")]
)
def test_pearson_matches_numpy(label: str, column: str) -> None:
    frame = models_frame()
    r, p = numpy_pearson(frame["ssim"].to_numpy(), frame[column].to_numpy())
    row = D.duality_table(frame).loc[label]
    assert row["r"] == pytest.approx(r, rel=1e-10)
    assert row["p"] == pytest.approx(p, rel=1e-6)
    assert row["n"] == 20 and row["note"] == ""


@pytest.mark.parametrize("label, column", [(D.PIQ_PARTIAL, "piq"), (D.PATH_EXCESS_PARTIAL, "path_excess")])
def test_partial_matches_residuals(label: str, column: str) -> None:
    frame = models_frame(seed=3)
    r, p = residual_partial(
        frame["ssim"].to_numpy(), frame[column].to_numpy(), frame["endpoint_distance"].to_numpy()
    )
    row = D.duality_table(frame).loc[label]
    assert row["r"] == pytest.approx(r, rel=1e-8)
    assert row["p"] == pytest.approx(p, rel=1e-6)
    assert row["n"] == 20 and row["covariate"] == "endpoint_distance"


def test_collapsed_models_left_out() -> None:
    clean = D.duality_table(models_frame())
    with_collapsed = D.duality_table(models_frame(n_collapsed=3))
    assert (with_collapsed["collapsed_left_out"] == 3).all()
    assert (clean["collapsed_left_out"] == 0).all()
    cols = ["r", "p", "n"]
    pd.testing.assert_frame_equal(with_collapsed[cols], clean[cols])


def test_model_as_index_or_column() -> None:
    frame = models_frame()
    pd.testing.assert_frame_equal(D.duality_table(frame), D.duality_table(frame.set_index("model")))


def test_missing_value_drops_that_model_from_its_rows_only() -> None:
    frame = models_frame()
    frame.loc[0, "step_cv"] = np.nan
    table = D.duality_table(frame)
    assert table.loc[D.STEP_CV, "n"] == 19
    assert table.loc[D.PIQ, "n"] == 20


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_too_few_models(n: int) -> None:
    table = D.duality_table(models_frame(n=max(n, 1)).iloc[:n])
    assert table["r"].isna().all() and table["p"].isna().all()
    assert (table["n"] == n).all()
    assert table["note"].str.contains("fewer than 4 usable models").all()


def test_four_models_are_enough() -> None:
    table = D.duality_table(models_frame(n=4))
    assert table[["r", "p"]].notna().all().all()


def test_too_few_after_collapse() -> None:
    frame = models_frame(n=5)
    frame.loc[:1, "collapsed"] = True  # 3 usable
    table = D.duality_table(frame)
    assert table["r"].isna().all() and (table["n"] == 3).all()
    assert (table["collapsed_left_out"] == 2).all()


def test_constant_metric_is_nan_with_note() -> None:
    frame = models_frame()
    frame["step_cv"] = 0.25
    row = D.duality_table(frame).loc[D.STEP_CV]
    assert math.isnan(row["r"]) and "constant" in row["note"]


def test_needs_collapsed_column() -> None:
    with pytest.raises(ValueError, match="collapsed"):
        D.duality_table(models_frame().drop(columns="collapsed"))


# --------------------------------------------------------------------------- conclusion


def table_of(rows: dict[str, tuple[float, float, int]], collapsed: int = 0) -> pd.DataFrame:
    """A duality table with the given (r, p, n) per row; missing rows NaN."""
    records = []
    for label in (D.PIQ, D.ISS, D.PATH_EXCESS, D.STEP_CV, D.PIQ_PARTIAL, D.PATH_EXCESS_PARTIAL):
        r, p, n = rows.get(label, (math.nan, math.nan, 3))
        note = "" if np.isfinite(r) else "fewer than 4 usable models: n = 3"
        records.append({"r": r, "p": p, "n": n, "collapsed_left_out": collapsed, "note": note})
    return pd.DataFrame(
        records, index=[D.PIQ, D.ISS, D.PATH_EXCESS, D.STEP_CV, D.PIQ_PARTIAL, D.PATH_EXCESS_PARTIAL]
    )


def n_sentences(text: str) -> int:
    return len(re.findall(r"\.(?=\s+[A-Z]|$)", text))


def test_format_numbers() -> None:
    assert D.format_r(0.7689) == "0.77" and D.format_r(-0.055) == "-0.06"
    assert D.format_p(0.7) == "0.70"
    assert D.format_p(0.000123) == "0.00012"
    assert D.format_p(4.63e-9) == "4.6e-09"
    assert D.format_p(0.0496) == "0.050"


def test_conclusion_everything_positive_and_significant() -> None:
    table = table_of(
        {
            D.PIQ: (0.769, 0.000123, 20),
            D.ISS: (0.61, 0.0043, 20),
            D.PATH_EXCESS: (0.52, 0.019, 20),
            D.STEP_CV: (0.48, 0.032, 20),
            D.PIQ_PARTIAL: (0.66, 0.0021, 20),
        },
        collapsed=2,
    )
    text = D.duality_conclusion(table)
    assert "2 collapsed models left out" in text
    assert "SSIM and PIQ show a significant positive correlation (r = 0.77, p = 0.00012, n = 20)" in text
    assert "path excess shows a significant positive correlation (r = 0.52, p = 0.019, n = 20)" in text
    assert "partial r = 0.66, p = 0.0021, n = 20" in text
    assert "survives scale-free measurement (path excess and step CV)" in text
    assert "does not explain it away" in text
    assert 2 <= n_sentences(text) <= 4


def test_conclusion_raw_only() -> None:
    table = table_of(
        {
            D.PIQ: (0.71, 0.00045, 20),
            D.ISS: (0.20, 0.40, 20),
            D.PATH_EXCESS: (-0.36, 0.12, 20),
            D.STEP_CV: (-0.09, 0.70, 20),
            D.PIQ_PARTIAL: (-0.44, 0.06, 20),
        },
        collapsed=1,
    )
    text = D.duality_conclusion(table)
    assert "1 collapsed model left out" in text
    assert "SSIM and ISS show no significant correlation (r = 0.20, p = 0.40, n = 20)" in text
    assert "step CV shows no significant correlation (r = -0.09, p = 0.70, n = 20)" in text
    assert "does not survive scale-free measurement." not in text  # a partial clause follows
    assert "does not survive scale-free measurement, and it is no longer significant" in text
    assert "survives scale-free measurement (" not in text
    assert 2 <= n_sentences(text) <= 4


def test_conclusion_negative_piq() -> None:
    table = table_of({D.PIQ: (-0.55, 0.012, 20), D.PATH_EXCESS: (-0.5, 0.02, 20), D.STEP_CV: (0.1, 0.6, 20)})
    text = D.duality_conclusion(table)
    assert "SSIM and PIQ show a significant negative correlation (r = -0.55, p = 0.012, n = 20)" in text
    assert "reversed here: higher SSIM goes with lower PIQ" in text
    assert "survives" not in text


def test_conclusion_not_significant() -> None:
    table = table_of({D.PIQ: (0.12, 0.61, 20), D.PATH_EXCESS: (0.6, 0.005, 20), D.STEP_CV: (0.1, 0.6, 20)})
    text = D.duality_conclusion(table)
    assert "SSIM and PIQ show no significant correlation (r = 0.12, p = 0.61, n = 20)" in text
    assert "path excess shows a significant positive correlation (r = 0.60, p = 0.0050, n = 20)" in text
    assert "not reproduced at alpha = 0.05" in text
    assert "collapsed" not in text


def test_conclusion_scale_free_reverses() -> None:
    table = table_of(
        {
            D.PIQ: (0.7, 0.001, 20),
            D.PATH_EXCESS: (0.1, 0.7, 20),
            D.STEP_CV: (-0.6, 0.005, 20),
            D.PIQ_PARTIAL: (-0.5, 0.03, 20),
        }
    )
    text = D.duality_conclusion(table)
    assert "does not survive scale-free measurement (step CV reverses it)" in text
    assert "controlling for endpoint distance reverses it" in text


def test_conclusion_respects_alpha() -> None:
    table = table_of({D.PIQ: (0.5, 0.03, 20), D.PATH_EXCESS: (0.5, 0.03, 20), D.STEP_CV: (0.5, 0.03, 20)})
    assert "survives scale-free measurement" in D.duality_conclusion(table, alpha=0.05)
    strict = D.duality_conclusion(table, alpha=0.01)
    assert "SSIM and PIQ show no significant correlation (r = 0.50, p = 0.030, n = 20)" in strict
    assert "not reproduced at alpha = 0.01" in strict


def test_conclusion_too_few_models() -> None:
    text = D.duality_conclusion(D.duality_table(models_frame(n=3)))
    assert "no computable correlation (fewer than 4 usable models: n = 3)" in text
    assert "cannot be tested" in text
    assert n_sentences(text) == 2


def test_conclusion_scale_free_not_computable() -> None:
    text = D.duality_conclusion(table_of({D.PIQ: (0.7, 0.001, 20)}))
    assert "cannot be checked scale-free" in text


def test_conclusion_from_real_table_quotes_its_numbers() -> None:
    table = D.duality_table(models_frame(n_collapsed=2))
    text = D.duality_conclusion(table)
    for label in (D.PIQ, D.PATH_EXCESS, D.STEP_CV, D.PIQ_PARTIAL):
        row = table.loc[label]
        assert f"r = {D.format_r(row['r'])}, p = {D.format_p(row['p'])}, n = {int(row['n'])}" in text
    assert 2 <= n_sentences(text) <= 4
