"""Collapsed models and runs that differ from the study's setting are flagged in the report.

Synthetic frames shaped like ``shared.results`` output: BetaVAE is collapsed on two of its three
seeds and has the best PIQ (a constant output is trivially smooth) and the best SSIM, so on the
old code it tops Table II, is recommended in Table III and dominates the Pareto frontier.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from shared import analysis as A
from shared import plotting as P
from shared import report
from shared.collapse import COLLAPSE_RULE
from tests.synthetic_report import synthetic_report

SEEDS = (42, 123, 456)
#: model -> (ssim, piq, collapsed per seed, setting_differs per seed)
MODELS: dict[str, tuple[float, float, list, list]] = {
    "BetaVAE": (0.95, 1e-5, [True, True, False], ["β = 4 (study: 1)"] * 3),
    "VAE": (0.80, 2e-3, [False] * 3, [""] * 3),
    "AE": (0.90, 4e-3, [None] * 3, [None] * 3),  # an older file: nothing recorded
    "WAE_MMD": (0.70, 1e-3, [False] * 3, [""] * 3),
    "SVAE": (0.60, 3e-3, [False, False, None], ["λ = 1e-7 (study: 10)", "", ""]),
}
CAPTION = "profile smoke · data: synthetic · 3 seeds"
GREY = to_rgba(P.COLLAPSED_GREY)


def runs_frame() -> pd.DataFrame:
    """Runs as ``shared.results.runs_frame`` gives them, plus report's data / deviations."""
    rows = [
        (model, seed, "ok", flags[i], setting[i])
        for model, (_, _, flags, setting) in MODELS.items()
        for i, seed in enumerate(SEEDS)
    ]
    runs = pd.DataFrame(rows, columns=["model", "seed", "status", "collapsed", "setting_differs"])
    failed = pd.DataFrame([("IWAE", 42, "failed", None, None)], columns=runs.columns)
    runs = pd.concat([runs, failed], ignore_index=True)
    runs["collapsed"] = runs["collapsed"].astype("boolean")
    return runs.assign(profile="smoke", data="synthetic", deviations="", seed=runs["seed"].astype("Int64"))


def metrics_and_items(n_items: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics frame (protocol, full, interpolation and an extra path) and per-sequence values."""
    rows, items = [], []
    for i, (model, (ssim, piq, _, _)) in enumerate(MODELS.items()):
        for j, seed in enumerate(SEEDS):
            jitter = 1 + 0.01 * (j - 1)
            for eval_set in ("protocol_sampled", "full_sampled"):
                for metric, value in {
                    "ssim": ssim,
                    "mse": 0.03 - ssim / 100,
                    "psnr": 15 + i,
                    "mae": 0.1,
                }.items():
                    rows.append((model, seed, eval_set, metric, value * jitter))
            for metric, value in {"piq": piq, "iss": 1e-7, "issim": 0.9}.items():
                per_seq = value * jitter * (1 + 0.01 * np.arange(n_items))
                rows.append((model, seed, "interpolation", metric, per_seq.mean()))
                rows.append((model, seed, "interpolation_chord", metric, 1.0))  # must not leak in
                items += [(model, seed, k, metric, v) for k, v in enumerate(per_seq)]
    frame = pd.DataFrame(rows, columns=["model", "seed", "eval_set", "metric", "value"])
    frame = frame.assign(status="ok", profile="smoke", data_source="synthetic")
    return frame, pd.DataFrame(items, columns=["model", "seed", "item", "metric", "value"])


@pytest.fixture()
def rep(tmp_path: Path) -> report.Report:
    metrics, per_item = metrics_and_items()
    return synthetic_report(tmp_path, metrics, runs_frame(), MODELS, SEEDS, per_item=per_item)


def means() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": list(MODELS),
            "ssim": [v[0] for v in MODELS.values()],
            "piq": [v[1] for v in MODELS.values()],
        }
    )


# --------------------------------------------------------------------------- flags


def test_model_flags_count_seeds_and_never_guess() -> None:
    flags = A.model_flags(runs_frame()).set_index("model")
    assert flags.loc["BetaVAE", "label"] == "yes (2/3 seeds)" and flags.loc["BetaVAE", "collapsed"]
    assert flags.loc["VAE", "label"] == "" and not flags.loc["VAE", "collapsed"]
    assert flags.loc["AE", "label"] == "n/a" and not flags.loc["AE", "collapsed"]
    assert flags.loc["SVAE", "label"] == "no (2/3 seeds measured)"
    assert flags.loc["BetaVAE", "setting"] == "β = 4 (study: 1)"
    assert flags.loc["VAE", "setting"] == "" and flags.loc["AE", "setting"] == "n/a"
    assert flags.loc["SVAE", "setting"] == "λ = 1e-7 (study: 10) (1/3 seeds)"
    assert "IWAE" not in flags.index  # only ok seeds count
    assert A.collapsed_models(runs_frame()) == ["BetaVAE"]
    old_style = runs_frame().drop(columns=["collapsed", "setting_differs"])
    assert set(A.model_flags(old_style)["label"]) == {"n/a"}


def test_tables_i_ii_and_study_comparison_carry_both_columns(rep: report.Report) -> None:
    expected = {
        "BetaVAE": "yes (2/3 seeds)",
        "VAE": "",
        "AE": "n/a",
        "WAE_MMD": "",
        "SVAE": "no (2/3 seeds measured)",
    }
    setting = {"BetaVAE": "β = 4 (study: 1)", "VAE": "", "AE": "n/a", "WAE_MMD": ""}
    for out in (report.table_i(rep), report.table_i(rep, "full"), report.table_ii(rep)):
        table = out.frame.set_index("model")
        assert table[A.COLLAPSED_COLUMN].to_dict() == expected, out.name
        assert table[A.SETTING_COLUMN].drop("SVAE").to_dict() == setting, out.name
        assert COLLAPSE_RULE in out.caption
        saved = pd.read_csv(rep.tables_dir / f"{out.name}.csv", keep_default_na=False).set_index("model")
        assert (
            saved.loc["AE", A.SETTING_COLUMN] == "n/a"
            and saved.loc["BetaVAE", "collapsed"] == expected["BetaVAE"]
        )
    table_ii = report.table_ii(rep).frame
    assert table_ii["model"].iloc[0] == "BetaVAE"  # numbers and ranks untouched, only flagged
    assert table_ii.loc[0, "PIQ (×10³)"].startswith("0.010")  # the extra chord path (1.0) is not mixed in
    comp = report.study_comparison(rep)
    for frame in (comp.frame, comp.view):
        rows = frame.drop_duplicates("model").set_index("model")
        assert rows.loc["BetaVAE", A.COLLAPSED_COLUMN] == "yes (2/3 seeds)"
        assert rows.loc["AE", A.SETTING_COLUMN] == "n/a" and rows.loc["VAE", A.SETTING_COLUMN] == ""
        assert rows.loc["MIWAE", A.COLLAPSED_COLUMN] == "n/a"  # a study row without our results


# --------------------------------------------------------------------------- Table III


def test_collapsed_best_piq_is_not_recommended_and_is_listed_as_left_out() -> None:
    table = A.table_iii(means(), k=2, excluded=["BetaVAE"]).set_index("criterion")
    for column in ("recommended", "avoid"):
        assert not table[column].str.contains("BetaVAE").any()
    assert table.loc["piq", "recommended"] == "WAE_MMD, VAE"
    assert set(table["left_out"]) == {"BetaVAE (collapsed)"}
    old = A.table_iii(means(), k=2).set_index("criterion")  # the old behaviour, still the default
    assert old.loc["piq", "recommended"].startswith("BetaVAE") and set(old["left_out"]) == {""}


def test_report_table_iii_leaves_collapsed_models_out(rep: report.Report) -> None:
    out = report.table_iii(rep)
    table = out.frame.set_index("criterion")
    assert "BetaVAE" not in ", ".join(table["recommended"]) + ", ".join(table["avoid"])
    assert (table["left_out"] == "BetaVAE (collapsed)").all()
    assert COLLAPSE_RULE in out.caption and "left out of every ranking" in out.caption


# --------------------------------------------------------------------------- Pareto


def test_collapsed_model_is_off_the_frontier_and_a_dominated_one_comes_back() -> None:
    # BetaVAE dominates AE (higher SSIM, lower PIQ): with it on the frontier AE is not.
    before = A.assign_regimes(means()).set_index("model")
    assert before.loc["BetaVAE", "pareto_optimal"] and not before.loc["AE", "pareto_optimal"]
    after = A.assign_regimes(means(), collapsed=["BetaVAE"]).set_index("model")
    assert not after.loc["BetaVAE", "pareto_optimal"] and after.loc["BetaVAE", "collapsed"]
    assert after.loc["AE", "pareto_optimal"] and not after.loc["AE", "collapsed"]
    assert after[["ssim_rank", "piq_rank"]].equals(before[["ssim_rank", "piq_rank"]])


def test_report_pareto_table_and_figures_flag_collapsed(rep: report.Report) -> None:
    table = report.pareto_regimes(rep)
    rows = table.frame.set_index("model")
    assert not rows.loc["BetaVAE", "pareto_optimal"] and rows.loc["AE", "pareto_optimal"]
    assert rows.loc["BetaVAE", "collapsed"] == "yes (2/3 seeds)" and rows.loc["AE", "collapsed"] == "n/a"
    assert COLLAPSE_RULE in table.caption and "kept off the frontier" in table.caption
    fig6 = report.fig6_pareto(rep)
    assert (
        COLLAPSE_RULE in fig6.caption and not fig6.frame.set_index("model").loc["BetaVAE", "pareto_optimal"]
    )
    assert P.COLLAPSED_LABEL in _legend_texts(fig6.figure)
    assert "collapsed" in "".join(_legend_texts(report.fig5_ssim_vs_piq(rep).figure))
    labels = [t.get_text() for t in report.fig4_top_combined(rep).figure.axes[0].get_yticklabels()]
    assert "BetaVAE (collapsed)" in labels and "VAE" in labels


# --------------------------------------------------------------------------- plots


def _legend_texts(fig) -> list[str]:
    legend = fig.axes[0].get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def _grey_hollow(fig) -> list:
    """Scatter collections with points, grey edges and no fill (the collapsed models)."""
    out = []
    for coll in fig.axes[0].collections:
        faces, edges = coll.get_facecolors(), coll.get_edgecolors()
        hollow = len(faces) == 0 or all(face[3] == 0 for face in faces)
        grey = len(edges) > 0 and tuple(edges[0]) == GREY
        if len(coll.get_offsets()) and hollow and grey:
            out.append(coll)
    return out


def test_scatter_draws_collapsed_models_grey_and_says_so() -> None:
    fig = P.plot_ssim_vs_piq(means(), CAPTION, collapsed=["BetaVAE"])
    grey = _grey_hollow(fig)
    assert len(grey) == 1 and grey[0].get_offsets()[0][1] == pytest.approx(0.95)
    assert any("collapsed" in t for t in _legend_texts(fig))
    assert not _grey_hollow(P.plot_ssim_vs_piq(means(), CAPTION))


def test_pareto_plot_greys_collapsed_models_and_refuses_them_on_the_frontier() -> None:
    regimes = A.assign_regimes(means(), collapsed=["BetaVAE"])
    fig = P.plot_pareto(regimes, CAPTION)  # the flag is read from the frame
    grey = _grey_hollow(fig)
    assert len(grey) == 1 and len(grey[0].get_offsets()) == 1
    assert P.COLLAPSED_LABEL in _legend_texts(fig)
    with pytest.raises(ValueError, match="collapsed models on the frontier"):
        P.plot_pareto(A.assign_regimes(means()), CAPTION, collapsed=["BetaVAE"])


def test_fig2_draws_collapsed_models_grey_and_keeps_them_in_the_boxes() -> None:
    families = {m: "disentanglement" if m == "BetaVAE" else "baseline" for m in MODELS}
    fig = P.plot_ssim_by_family(means(), families, CAPTION, collapsed=["BetaVAE"])
    grey = _grey_hollow(fig)
    assert len(grey) == 1 and grey[0].get_offsets()[0][0] == pytest.approx(0.95)
    assert "collapsed" in _legend_texts(fig)
    assert not _grey_hollow(P.plot_ssim_by_family(means(), families, CAPTION))


def test_image_figures_label_collapsed_models(rep: report.Report) -> None:
    """Figs 1 and 3 show stored images: the collapsed model's row says so, and the caption the rule."""
    from shared.report import figures

    assert figures._label(rep, "BetaVAE") == "BetaVAE (collapsed)" and figures._label(rep, "VAE") == "VAE"
    # with real stored images: tests/test_evaluation_notebook.py checks Figs 1-3's captions


def test_a_collapsed_model_is_never_bold_as_best() -> None:
    """β-VAE's flat interpolations have the lowest PIQ; the bold best goes to the next model."""
    summary = pd.DataFrame(
        {
            "model": ["BetaVAE", "VAE"],
            **{
                f"{m}_mean": [v0, v1]
                for m, v0, v1 in (("piq", 1e-6, 1e-3), ("iss", 1e-9, 1e-7), ("issim", 0.99, 0.9))
            },
            **{f"{m}_std": [0.0, 0.0] for m in ("piq", "iss", "issim")},
            **{f"{m}_n": [25, 25] for m in ("piq", "iss", "issim")},
        }
    )
    plain = A.table_interpolation(summary).attrs
    flagged = A.table_interpolation(summary, unbolded=["BetaVAE"]).attrs
    from shared.analysis.tables import BEST_ATTR

    assert plain[BEST_ATTR]["PIQ (×10³)"] == [True, False]
    assert flagged[BEST_ATTR]["PIQ (×10³)"] == [False, True]
