"""The report beyond the study (results schema v2): Table IV (generation), Table V (codes), the
scale-free smoothness table, the duality test and its figures, from synthetic results files
written with ``shared.results.save_run`` (so they pass the schema) and loaded as the notebook
loads them. Every expected number is computed here from the inputs, not through the report."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared import analysis as A
from shared import plotting as P
from shared import report
from shared.analysis import duality as D
from shared.analysis.tables import BEST_ATTR
from shared.collapse import COLLAPSE_RULE
from shared.report.beyond_tables import duality_models
from shared.report.steps import STEPS
from tests.synthetic_report import FEATURE_NET, synthetic_run, write_synthetic_results
from tools.templates import evaluation as evaluation_template

SEEDS = (42, 123)
NAN = float("nan")
FD = "FD (MNIST-classifier features)"


def _gen(prior: float, gmm: float, rec: float, p: tuple[float, float], r: tuple[float, float]) -> dict:
    """fd / precision / recall of every set: (prior, gmm) precision and recall, reconstructions fixed."""
    return {
        "fd": {"prior": prior, "gmm": gmm, "reconstruction_mean": rec, "reconstruction_sampled": rec + 1},
        "precision": {"prior": p[0], "gmm": p[1], "reconstruction_mean": 0.8, "reconstruction_sampled": 0.7},
        "recall": {"prior": r[0], "gmm": r[1], "reconstruction_mean": 0.7, "reconstruction_sampled": 0.6},
    }


#: model -> seed -> what it stores. BetaVAE collapsed: best GMM FD, precision, probe, PIQ, step CV
#: (a constant output is trivially "good"), path excess undefined everywhere; never bold.
MODELS: dict[str, dict[int, dict]] = {
    "VAE": {
        42: {"ssim": 0.80, "piq": 2.0e-3, "probe": 0.90, "kmeans": (0.60, 0.62, 0.58), **_gen(20, 15, 5, (0.5, 0.6), (0.4, 0.5))},
        123: {"ssim": 0.82, "piq": 2.2e-3, "probe": 0.92, "kmeans": (0.64, 0.66, 0.62), **_gen(22, 17, 5, (0.5, 0.6), (0.4, 0.5))},
    },
    "AE": {  # no prior sampler
        s: {"ssim": 0.90, "piq": 3.0e-3, "probe": 0.95, "kmeans": (0.70, 0.72, 0.74), "path_excess": [1.2] * 5,
            **_gen(NAN, 10 + i, 3, (NAN, 0.7), (NAN, 0.6))}
        for i, s in enumerate(SEEDS)
    },
    "BetaVAE": {
        s: {"ssim": 0.50, "piq": 1e-5, "step_cv": 0.0, "path_excess": [NAN] * 5, "probe": 0.99, "kmeans": (0.9, 0.9, 0.9),
            **_gen(1.0, 1.0, 1.0, (0.99, 0.99), (0.1, 0.1))}
        for s in SEEDS
    },
    "VQVAE": {  # prior = code frequencies; one undefined sequence per seed
        s: {"ssim": 0.85, "piq": 2.5e-3, "probe": 0.80, "kmeans": (0.5, 0.5, 0.5), "step_cv": 0.15,
            "path_excess": [1.3, 1.4, NAN, 1.5, 1.3], **_gen(30, 12, 4, (0.4, 0.65), (0.3, 0.55))}
        for s in SEEDS
    },
    "WAE_MMD": {
        s: {"ssim": 0.88, "piq": 2.8e-3, "probe": 0.93, "kmeans": (0.66, 0.68, 0.70), "path_excess": [1.1] * 5,
            "step_cv": 0.1, **_gen(18, 13, 4, (0.55, 0.62), (0.45, 0.52))}
        for s in SEEDS
    },
}  # fmt: skip
COLLAPSED = ("BetaVAE",)


def _drop_nan_prior(values: dict) -> dict:
    """A NaN prior means no prior sampler (AE): the set is absent, as the evaluation stores it."""
    if math.isnan(values.get("fd", {}).get("prior", 0.0)):
        values = {k: ({s: x for s, x in v.items() if s != "prior"} if k in ("fd", "precision", "recall") else v)
                  for k, v in values.items()}  # fmt: skip
    return values


def _write(folder: Path, beyond: bool | tuple[str, ...] = True, models=MODELS) -> Path:
    clean = {m: {s: _drop_nan_prior(v) for s, v in per.items()} for m, per in models.items()}
    return write_synthetic_results(folder, clean, SEEDS, collapsed=COLLAPSED, beyond=beyond)


@pytest.fixture(scope="module")
def rep(tmp_path_factory) -> report.Report:
    root = tmp_path_factory.mktemp("beyond")
    return report.load_report(_write(root / "res"), root / "figures", root / "tables")


def _inputs(model: str, key, seeds=SEEDS) -> np.ndarray:
    """The stored input of ``model`` per seed: key or (key, set)."""
    out = []
    for s in seeds:
        v = MODELS[model][s]
        out.append(v[key[0]][key[1]] if isinstance(key, tuple) else v[key])
    return np.asarray(out, dtype=float)


def _bold(frame: pd.DataFrame, header: str) -> list[str]:
    return [m for m, b in zip(frame["model"], frame.attrs[BEST_ATTR][header], strict=True) if b]


# --------------------------------------------------------------------------- Table IV


def test_table_iv_values_are_the_stored_ones(rep: report.Report) -> None:
    out = report.table_iv(rep)
    assert out.built and out.name == "table_iv_generation"
    values = pd.read_csv(rep.tables_dir / "table_iv_generation_values.csv").set_index("model")
    for model in MODELS:
        for name, column in (("gmm", "gmm_fd"), ("reconstruction_mean", "reconstruction_mean_fd")):
            stored = _inputs(model, ("fd", name))
            assert values.loc[model, f"{column}_mean"] == pytest.approx(stored.mean())
            assert values.loc[model, f"{column}_std"] == pytest.approx(stored.std(ddof=1), abs=1e-12)
        for metric in ("precision", "recall"):
            assert values.loc[model, f"gmm_{metric}_mean"] == pytest.approx(
                _inputs(model, (metric, "gmm")).mean()
            )
    assert values.loc["AE", "prior_fd_n"] == 0 and np.isnan(values.loc["AE", "prior_fd_mean"])
    table = out.frame.set_index("model")
    assert (
        table.loc["VAE", f"GMM: {FD}"] == "16.00 ± 1.41"
        and table.loc["VAE", f"prior: {FD}"] == "21.00 ± 1.41"
    )
    assert (
        table.loc["AE", f"prior: {FD}"] == "n/a"
        and table.loc["AE", "prior"] == "none (trained without a prior)"
    )
    assert table.loc["VQVAE", "prior"].startswith("training-set code frequencies")
    assert (
        table.loc["BetaVAE", A.COLLAPSED_COLUMN] == "yes (2/2 seeds)"
        and table.loc["VAE", A.COLLAPSED_COLUMN] == ""
    )
    assert out.frame["model"].tolist() == ["BetaVAE", "AE", "VQVAE", "WAE_MMD", "VAE"]  # by GMM FD, ascending
    headers = out.frame.attrs[A.HEADERS_ATTR]
    assert headers[f"GMM: {FD}"] == "GMM: FD ↓ (MNIST-classifier features)"
    assert headers["GMM: precision"] == "GMM: precision ↑" and headers["prior: recall"] == "prior: recall ↑"


def test_table_iv_caption_says_how_fd_was_measured(rep: report.Report) -> None:
    cap = report.table_iv(rep).caption
    for said in (
        f"feature network {FEATURE_NET}",
        "k = 3",
        "n_pr = 500",
        "n_real = 500",
        report.FD_DISCLAIMER,
    ):
        assert said in cap, said
    assert "VQVAE: the “prior” is the training-set code frequencies" in cap and "no prior of its own" in cap
    assert "no samples from AE (prior: none (trained without a prior))" in cap
    assert "mean ± std over n = 2 seeds" in cap and COLLAPSE_RULE in cap
    heading = (rep.tables_dir / "table_iv_generation.md").read_text(encoding="utf-8").splitlines()[0]
    assert heading.startswith("**Table IV: generation quality per sampler. profile smoke")


def test_table_iv_never_bolds_the_collapsed_model(rep: report.Report) -> None:
    frame = report.table_iv(rep).frame
    assert _bold(frame, f"GMM: {FD}") == ["AE"]  # BetaVAE's 1.0 is lower, but it collapsed
    assert _bold(frame, "GMM: precision") == ["AE"] and _bold(frame, f"prior: {FD}") == ["WAE_MMD"]
    md = (report.table_iv(rep).paths[1]).read_text(encoding="utf-8")
    beta = next(line for line in md.splitlines() if line.startswith("| 1 | BetaVAE"))
    assert "**" not in beta


# --------------------------------------------------------------------------- Table V


def test_table_v_values_are_the_stored_ones(rep: report.Report) -> None:
    out = report.table_v(rep)
    values = pd.read_csv(rep.tables_dir / "table_v_codes_values.csv").set_index("model")
    for model in MODELS:
        probe = _inputs(model, "probe")
        assert values.loc[model, "probe_accuracy_mean"] == pytest.approx(probe.mean())
        restarts = np.concatenate([np.asarray(MODELS[model][s]["kmeans"], dtype=np.float32) for s in SEEDS])
        assert values.loc[model, "kmeans_accuracy_mean"] == pytest.approx(restarts.astype(float).mean())
        assert values.loc[model, "kmeans_accuracy_std"] == pytest.approx(
            restarts.astype(float).std(ddof=1), abs=1e-7
        )
        assert values.loc[model, "kmeans_accuracy_n"] == 6
    table = out.frame.set_index("model")
    assert table.loc["VAE", "linear-probe accuracy"] == "0.910 ± 0.014"
    assert table.loc["VAE", "k-means accuracy"] == "0.620 ± 0.028"
    assert out.frame["model"].tolist() == ["BetaVAE", "AE", "WAE_MMD", "VAE", "VQVAE"]  # by probe
    assert _bold(out.frame, "linear-probe accuracy") == ["AE"] and _bold(out.frame, "k-means accuracy") == [
        "AE"
    ]
    assert "k-means: mean ± std over 3 restarts × 2 seeds" in out.caption
    assert "linear probe: mean ± std over n = 2 seeds" in out.caption and "3 restarts per run" in out.caption
    assert out.frame.attrs[A.HEADERS_ATTR]["k-means accuracy"] == "k-means accuracy ↑"


# --------------------------------------------------------------------------- scale-free smoothness


def test_scale_free_table_values_and_undefined_sequences(rep: report.Report) -> None:
    out = report.table_scale_free(rep)
    values = pd.read_csv(rep.tables_dir / "table_scale_free_smoothness_values.csv").set_index("model")
    expected_excess = {"VAE": 1.5, "AE": 1.2, "WAE_MMD": 1.1, "VQVAE": np.mean([1.3, 1.4, 1.5, 1.3])}
    for model, excess in expected_excess.items():
        assert values.loc[model, "path_excess_mean"] == pytest.approx(excess, rel=1e-6)
    assert np.isnan(values.loc["BetaVAE", "path_excess_mean"]) and values.loc["BetaVAE", "path_excess_n"] == 0
    assert values.loc["VAE", "piq_mean"] == pytest.approx(2.1e-3, rel=1e-6)
    assert values.loc["VQVAE", "step_cv_mean"] == pytest.approx(0.15, rel=1e-6)
    assert (
        values.loc["VQVAE", "path_excess_undefined"] == 2 and values.loc["VQVAE", "path_excess_total"] == 10
    )
    table = out.frame.set_index("model")
    assert (
        table.loc["VQVAE", A.UNDEFINED_COLUMN] == "2 of 10"
        and table.loc["BetaVAE", A.UNDEFINED_COLUMN] == "10 of 10"
    )
    assert table.loc["BetaVAE", "path excess (× straight morph)"] == "n/a"
    assert out.frame["model"].tolist()[-1] == "BetaVAE"  # undefined everywhere: ranked last, still listed
    assert "BetaVAE 10 of 10, VQVAE 2 of 10" in out.caption and "5 sequences per run" in out.caption
    assert _bold(out.frame, "PIQ (×10³)") == ["VAE"] and _bold(out.frame, "step CV") == ["WAE_MMD"]
    assert _bold(out.frame, "endpoint distance (×10³)") == []  # a scale: neither better nor worse
    headers = out.frame.attrs[A.HEADERS_ATTR]
    assert headers["endpoint distance (×10³)"] == "endpoint distance (×10³)"
    assert headers["path excess (× straight morph)"] == "path excess ↓ (× straight morph)"


# --------------------------------------------------------------------------- the duality test


def test_duality_table_is_the_analysis_of_the_protocol_ssim(rep: report.Report) -> None:
    out = report.duality_test(rep)
    models = duality_models(rep).set_index("model")  # what the report feeds the test
    for model in MODELS:  # the study's protocol SSIM (sampled), not the mean-code one (SSIM²)
        assert models.loc[model, "ssim"] == pytest.approx(_inputs(model, "ssim").mean(), rel=1e-6)
    assert models.loc["BetaVAE", "collapsed"] and not models.loc["VAE", "collapsed"]
    expected = D.duality_table(models.reset_index())
    pd.testing.assert_frame_equal(out.frame.set_index("smoothness"), expected)
    assert expected.loc[D.PIQ, "n"] == 4 and expected.loc[D.PIQ, "collapsed_left_out"] == 1
    assert "protocol_sampled" in out.caption and "left out of every correlation: BetaVAE" in out.caption
    saved = pd.read_csv(rep.tables_dir / "duality_test.csv").set_index("smoothness")
    assert saved.loc[D.PIQ, "r"] == pytest.approx(expected.loc[D.PIQ, "r"])


def test_duality_conclusion_is_generated_and_shown_in_the_notebook(rep: report.Report) -> None:
    text = report.duality_conclusion(rep)
    table = D.duality_table(A.duality_input(rep.means, rep.flags))
    assert text.endswith(D.duality_conclusion(table)) and "Generated from the duality test's numbers" in text
    sources = [src for kind, src in evaluation_template.cells() if kind == "code"]
    assert "display(Markdown(report.duality_conclusion(rep)))" in sources
    for call in ("table_iv(rep)", "table_v(rep)", "table_scale_free(rep)", "duality_test(rep)", "fig_duality(rep)",
                 "fig_fd_vs_ssim(rep)", "fig_probe_vs_piq(rep)", 'fig_samples(rep, "prior")', 'fig_samples(rep, "gmm")'):  # fmt: skip
        assert f"report.display_output(report.{call})" in sources, call


# --------------------------------------------------------------------------- figures


BEYOND_FIGURES = [
    s for s in STEPS if s.kind == "figure" and s.func.__module__ == "shared.report.beyond_figures"
]


def test_every_new_figure_builds_with_a_one_line_title_and_its_caption(rep: report.Report) -> None:
    outs = [s.func(rep, **kwargs) for s in BEYOND_FIGURES for kwargs in s.calls]
    names = {o.name for o in outs}
    assert names == {
        "fig_duality",
        "fig_fd_vs_ssim",
        "fig_probe_vs_piq",
        "fig_samples_prior",
        "fig_samples_gmm",
    }
    for out in outs:
        assert out.built, (out.name, out.note)
        title = out.figure.get_suptitle()
        assert title and "\n" not in title and len(title) <= P.MAX_TITLE_CHARS, (out.name, title)
        caption_file = rep.figures_dir / f"{out.name}.caption.md"
        assert caption_file.read_text(encoding="utf-8").strip() == f"**{out.title}.** {out.caption}"
        assert (rep.figures_dir / f"{out.name}.png").read_bytes()[:4] == b"\x89PNG"
        assert COLLAPSE_RULE in out.caption, out.name


def test_duality_figure_puts_the_tests_r_and_p_in_its_panels(rep: report.Report) -> None:
    out = report.fig_duality(rep)
    table = D.duality_table(A.duality_input(rep.means, rep.flags))
    titles = [ax.get_title() for ax in out.figure.axes]
    for label, title in ((D.PIQ, titles[0]), (D.PATH_EXCESS, titles[1])):
        row = table.loc[label]
        assert f"r = {D.format_r(row['r'])}, p = {D.format_p(row['p'])}, n = {int(row['n'])}" in title
    assert "SSIM vs PIQ" in titles[0] and "SSIM vs path excess" in titles[1]
    assert "collapsed (left out of r)" in [t.get_text() for t in out.figure.axes[0].get_legend().get_texts()]


def test_sample_grids_have_a_row_per_model_and_label_collapsed(rep: report.Report) -> None:
    prior, gmm = report.fig_samples(rep, "prior"), report.fig_samples(rep, "gmm")
    assert "AE" not in set(prior.frame["model"]) and set(gmm.frame["model"]) == set(MODELS)
    assert (
        "no samples: AE" in prior.caption
        and "VQVAE: the “prior” is the training-set code frequencies" in prior.caption
    )
    labels = [ax.get_ylabel() for ax in gmm.figure.axes if ax.get_ylabel()]
    assert len(labels) == len(MODELS) and any(
        label.startswith("BetaVAE (collapsed)\nFD 1.00") for label in labels
    )
    strips = [ax.images[0].get_array() for ax in gmm.figure.axes if ax.get_visible() and ax.images]
    n = report.N_SAMPLE_IMAGES  # one strip of n digits per model
    assert len(strips) == len(MODELS) and all(a.shape == (28, n * 28 + (n - 1) * 2) for a in strips)


def test_scatter_figures_grey_the_collapsed_model(rep: report.Report) -> None:
    for out in (report.fig_fd_vs_ssim(rep), report.fig_probe_vs_piq(rep)):
        legend = [t.get_text() for t in out.figure.axes[0].get_legend().get_texts()]
        assert legend == ["collapsed (still counted in r)"], out.name
        assert set(out.frame["model"]) == set(MODELS)
    fd = report.fig_fd_vs_ssim(rep).frame.set_index("model")
    assert fd.loc["VAE", "fd"] == pytest.approx(16.0) and fd.loc["VAE", "ssim"] == pytest.approx(
        0.81, rel=1e-6
    )


# --------------------------------------------------------------------------- FD is never called FID


def _figure_texts(fig) -> list[str]:
    texts = [fig.get_suptitle()]
    for ax in fig.axes:
        texts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        texts += [t.get_text() for t in (*ax.texts, *ax.get_xticklabels(), *ax.get_yticklabels())]
        if ax.get_legend():
            texts += [t.get_text() for t in ax.get_legend().get_texts()]
    return texts


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # t-tests of the synthetic constant values
def test_fd_is_never_labelled_fid(rep: report.Report, tmp_path: Path) -> None:
    built = report.build_report(rep.results_dir, tmp_path / "f", tmp_path / "t", figures=False)
    for entry in BEYOND_FIGURES:  # the study's figures never mention FD
        for kwargs in entry.calls:
            entry.func(built, **kwargs)
    texts = [p.read_text(encoding="utf-8") for p in (tmp_path / "t").iterdir()]
    texts += [p.read_text(encoding="utf-8") for p in (tmp_path / "f").glob("*.caption.md")]
    for out in built.outputs:
        texts += [out.title, out.caption, out.note]
        if out.figure is not None:
            texts += _figure_texts(out.figure)
    texts += A.headline_lines(synthetic_run("VAE", 42)["metrics"])
    joined = "\n".join(texts)
    assert joined.count(report.FD_DISCLAIMER) >= 3  # Table IV, the FD figure: said, as a disclaimer
    assert "FID" not in joined.replace(report.FD_DISCLAIMER, ""), [
        t for t in texts if "FID" in t.replace(report.FD_DISCLAIMER, "")
    ][:3]
    assert "MNIST-classifier features" in joined


# --------------------------------------------------------------------------- results without the new blocks


NEW_STEPS = ("table_iv_generation", "table_v_codes", "table_scale_free_smoothness", "duality_test",
             "fig_duality", "fig_fd_vs_ssim", "fig_probe_vs_piq", "fig_samples_prior", "fig_samples_gmm")  # fmt: skip


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # t-tests of the synthetic constant values
def test_version_1_results_build_the_report_with_the_new_steps_skipped(tmp_path: Path) -> None:
    folder = _write(tmp_path / "res", beyond=False)
    built = report.build_report(folder, tmp_path / "f", tmp_path / "t", figures=False)
    for entry in BEYOND_FIGURES:
        for kwargs in entry.calls:
            entry.func(built, **kwargs)
    report.fig5_ssim_vs_piq(built)
    by_name = {o.name: o for o in built.outputs}
    assert set(NEW_STEPS) <= set(by_name)
    for name in NEW_STEPS:
        out = by_name[name]
        assert not out.built and "schema v2" in out.note and "\n" not in out.note, (name, out.note)
        assert not list((tmp_path / "t").glob(f"{name}.*")) and not list((tmp_path / "f").glob(f"{name}.*"))
    assert by_name["table_i_reconstruction_protocol"].built and by_name["fig5_ssim_vs_piq"].built
    assert report.duality_conclusion(built).startswith("> No duality conclusion: no run has the scale-free")
    index = report.index(built).set_index("output")
    assert "metrics.generation" in index.loc["table_iv_generation", "note"]


def test_a_mix_of_old_and_new_runs_says_which_models_lack_the_blocks(tmp_path: Path) -> None:
    folder = _write(tmp_path / "res", beyond=("VAE", "AE", "WAE_MMD", "VQVAE"))
    rep = report.load_report(folder, tmp_path / "f", tmp_path / "t")
    for out in (report.table_iv(rep), report.table_v(rep), report.table_scale_free(rep)):
        assert out.built and "BetaVAE" in out.note and "schema v2" in out.note, out.name
        assert "BetaVAE" not in set(out.frame["model"])


# --------------------------------------------------------------------------- the training notebook


def test_training_notebook_lines_and_titles() -> None:
    metrics = synthetic_run("VAE", 42)["metrics"]
    lines = A.headline_lines(metrics)
    assert len(lines) == 3 and all("\n" not in line for line in lines)
    assert lines[0] == (
        "FD (MNIST-classifier features), lower = closer to the test digits: prior (N(0, I)) 20.00 · GMM 15.00 · "
        "mean-code reconstructions 5.00"
    )
    assert lines[1].endswith("accuracy 0.900") and lines[2].endswith("accuracy 0.600 ± 0.016 over 5 restarts")
    ae = A.headline_lines(synthetic_run("AE", 42)["metrics"])[0]
    assert "prior: no samples (none (trained without a prior))" in ae
    assert A.headline_lines(synthetic_run("VAE", 42, beyond=False)["metrics"]) == []
    title = A.sample_title("VQVAE", "prior", synthetic_run("VQVAE", 42)["metrics"]["generation"], 64)
    assert title.startswith("VQVAE: 64 digits from the prior: training-set code frequencies")
    fig = P.plot_samples(
        synthetic_run("VAE", 42)["samples"]["generated_gmm"],
        "caption",
        A.sample_title("VAE", "gmm", None, 64),
    )
    (ax,) = fig.axes  # one montage of the 64 digits, 8 x 8, 2 white pixels apart
    assert ax.get_images()[0].get_array().shape == (8 * 28 + 7 * 2,) * 2 and "\n" not in fig.get_suptitle()
