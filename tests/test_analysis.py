"""Tests of shared.analysis on synthetic frames shaped like shared.results' output."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from shared import analysis as A

SEEDS = (42, 123, 456)


def metrics_frame(
    values: dict[str, dict[str, list[float]]], eval_set: str = "protocol_sampled"
) -> pd.DataFrame:
    """model -> metric -> per-seed values, as a metrics frame."""
    rows = []
    for model, metrics in values.items():
        for metric, per_seed in metrics.items():
            for seed, value in zip(SEEDS, per_seed, strict=False):
                rows.append(
                    {
                        "model": model,
                        "seed": seed,
                        "status": "ok",
                        "profile": "smoke",
                        "data_source": "synthetic",
                        "eval_set": eval_set,
                        "metric": metric,
                        "value": value,
                    }
                )
    return pd.DataFrame(rows)


def synthetic_results(n_models: int = 8, n_items: int = 25) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A full metrics frame (reconstruction + interpolation) and the interpolation per-item one."""
    rng = np.random.default_rng(0)
    models = list(A.REGISTRY_MODELS[:n_models])
    rows, items = [], []
    for i, model in enumerate(models):
        for seed in SEEDS:
            base = {
                "ssim": 0.6 + 0.03 * i,
                "mse": 0.03 - 0.002 * i,
                "psnr": 15 + 0.3 * i,
                "mae": 0.12 - 0.005 * i,
            }
            for metric, value in base.items():
                rows.append(
                    (
                        model,
                        seed,
                        "protocol_sampled",
                        metric,
                        value + rng.normal(0, 1e-3),
                    )
                )
            for metric, value in {
                "piq": 1e-3 * (1 + 0.2 * i),
                "iss": 1e-7,
                "issim": 0.95,
            }.items():
                per_seq = value * (1 + rng.normal(0, 0.1, n_items))
                rows.append((model, seed, "interpolation", metric, per_seq.mean()))
                items += [(model, seed, k, metric, v) for k, v in enumerate(per_seq)]
    frame = pd.DataFrame(rows, columns=["model", "seed", "eval_set", "metric", "value"])
    frame = frame.assign(status="ok", profile="smoke", data_source="synthetic")
    per_item = pd.DataFrame(items, columns=["model", "seed", "item", "metric", "value"])
    return frame, per_item


# --------------------------------------------------------------------------- summaries


def test_summarise_mean_std_n_and_failed_runs_excluded() -> None:
    frame = metrics_frame({"VAE": {"ssim": [0.5, 0.6, 0.7]}, "AE": {"ssim": [0.9]}})
    failed = frame.iloc[[0]].assign(model="AE", seed=123, status="failed", value=0.0)
    summary = A.summarise(pd.concat([frame, failed]), "protocol_sampled", ["ssim"])
    vae = summary.set_index("model").loc["VAE"]
    assert vae["ssim_mean"] == pytest.approx(0.6)
    assert vae["ssim_std"] == pytest.approx(np.std([0.5, 0.6, 0.7], ddof=1))
    assert vae["ssim_n"] == 3
    ae = summary.set_index("model").loc["AE"]
    assert ae["ssim_n"] == 1 and math.isnan(ae["ssim_std"])


def test_format_mean_std_never_fakes_a_std() -> None:
    assert A.format_mean_std(0.9123, 0.0041, 3) == "0.912 ± 0.004"
    assert A.format_mean_std(0.9123, float("nan"), 1) == "0.912"  # n is said in the caption
    assert A.format_mean_std(0.0301, 0.0012, 3, scale=1e3, digits=2) == "30.10 ± 1.20"
    assert A.format_mean_std(float("nan"), float("nan"), 0) == "n/a"
    assert "e-07" in A.format_mean_std(1.5e-7, 2e-8, 3, notation="sci", digits=2)


def test_table_i_ranked_by_ssim_and_rows_with_different_n_keep_the_n_column() -> None:
    frame = metrics_frame(
        {
            "VAE": {
                "ssim": [0.6, 0.62, 0.61],
                "mse": [0.03] * 3,
                "psnr": [15] * 3,
                "mae": [0.1] * 3,
            },
            "AE": {"ssim": [0.9], "mse": [0.008], "psnr": [21.0], "mae": [0.06]},
        }
    )
    table = A.table_reconstruction(A.summarise(frame, "protocol_sampled", A.RECONSTRUCTION_METRICS))
    assert table["model"].tolist() == ["AE", "VAE"]
    assert table.loc[0, "SSIM"] == "0.900"
    assert table.loc[0, "MSE (×10³)"] == "8.00"
    assert table.loc[1, "SSIM"].startswith("0.610 ± ")
    assert table["n (seeds)"].tolist() == ["1", "3"]  # rows differ: the column stays


def test_table_ii_pooled_over_sequences_and_seeds() -> None:
    _, per_item = synthetic_results(n_models=3, n_items=5)
    table = A.table_interpolation(A.summarise_items(per_item, A.INTERPOLATION_METRICS))
    piq = per_item[(per_item["model"] == table.loc[0, "model"]) & (per_item["metric"] == "piq")]
    expected = A.format_mean_std(piq["value"].mean(), piq["value"].std(ddof=1), 15, 1e3, 3)
    assert table.loc[0, "PIQ (×10³)"] == expected
    assert "n (items × seeds)" not in table.columns  # the same for every row: said in the caption
    assert A.n_statement(A.summarise_items(per_item, A.INTERPOLATION_METRICS), "sequence") == (
        "5 sequences × 3 seeds"
    )
    means = [
        per_item[(per_item.model == m) & (per_item.metric == "piq")].value.mean() for m in table["model"]
    ]
    assert means == sorted(means)


# --------------------------------------------------------------------------- intervals and tests


def test_confidence_intervals_match_scipy() -> None:
    values = np.array([0.61, 0.63, 0.66])
    sd, n = values.std(ddof=1), len(values)
    lo, hi = stats.t.interval(0.95, n - 1, loc=values.mean(), scale=stats.sem(values))
    assert A.ci_halfwidth_t(sd, n) == pytest.approx((hi - lo) / 2)
    assert A.ci_halfwidth_normal(sd, n) == pytest.approx(1.96 * sd / math.sqrt(3))
    assert np.isnan(A.ci_halfwidth_t(float("nan"), 1))
    summary = A.summarise(metrics_frame({"VAE": {"ssim": list(values)}}), "protocol_sampled", ["ssim"])
    ci = A.confidence_intervals(summary, ["ssim"]).iloc[0]
    assert (ci["ci95_t_low"], ci["ci95_t_high"]) == pytest.approx((lo, hi))


def test_bonferroni() -> None:
    assert A.bonferroni([0.001, 0.01, 0.2], 22) == pytest.approx([0.022, 0.22, 1.0])


def test_significance_across_seeds_matches_ttest_rel() -> None:
    vae, iwae, ae = [0.60, 0.62, 0.61], [0.63, 0.66, 0.64], [0.9]
    frame = metrics_frame({"VAE": {"ssim": vae}, "IWAE": {"ssim": iwae}, "AE": {"ssim": ae}})
    out = A.significance_across_seeds(frame, "protocol_sampled", ["ssim"]).set_index("model")
    ref = stats.ttest_rel(iwae, vae)
    assert out.loc["IWAE", "t"] == pytest.approx(ref.statistic)
    assert out.loc["IWAE", "p"] == pytest.approx(ref.pvalue)
    assert out.loc["IWAE", "n"] == 3
    assert "same seed (42, 123, 456)" in out.loc["IWAE", "paired"]
    assert out.loc["AE", "n"] == 1 and out.loc["AE", "significant"] == "n/a (n < 2)"
    assert out.loc["IWAE", "m"] == 1  # only IWAE could be tested
    forced = A.significance_across_seeds(frame, "protocol_sampled", ["ssim"], m=22)
    iwae_row = forced.set_index("model").loc["IWAE"]
    assert iwae_row["p_bonferroni"] == pytest.approx(min(1.0, ref.pvalue * 22))
    assert iwae_row["alpha_per_test"] == pytest.approx(0.05 / 22)


def test_significance_per_item_averages_common_seeds_and_pairs_items() -> None:
    rng = np.random.default_rng(1)
    rows = []
    for model, shift, seeds in (("VAE", 0.0, SEEDS), ("SVAE", 0.05, SEEDS[:2])):
        for seed in seeds:
            for item in range(10):
                rows.append((model, seed, item, "ssim", 0.6 + shift + rng.normal(0, 0.02)))
    per_item = pd.DataFrame(rows, columns=["model", "seed", "item", "metric", "value"])
    out = A.significance_per_item(per_item, ["ssim"]).iloc[0]
    common = per_item[per_item["seed"].isin(SEEDS[:2])]
    avg = common.groupby(["model", "item"])["value"].mean().unstack(0)
    ref = stats.ttest_rel(avg["SVAE"], avg["VAE"])
    assert out["n"] == 10 and out["n_seeds"] == 2
    assert out["p"] == pytest.approx(ref.pvalue)
    assert "paired by image" in out["paired"]


def test_correlations_match_pearsonr_and_carry_study_values() -> None:
    frame, _ = synthetic_results()
    means = A.model_means(frame)
    out = A.metric_correlations(means).set_index("pair")
    r, p = stats.pearsonr(means["ssim"], means["piq"])
    assert out.loc["SSIM–PIQ", "r"] == pytest.approx(r)
    assert out.loc["SSIM–PIQ", "p"] == pytest.approx(p)
    assert out.loc["SSIM–PIQ", "study_r"] == 0.769
    assert out.loc["I-SSIM–PIQ", "study_p"] == "0.08"
    assert len(out) == 6


# --------------------------------------------------------------------------- Pareto and ranks


def test_pareto_frontier_known_answer_with_ties_and_dominated_point() -> None:
    df = pd.DataFrame(
        {
            "model": ["A", "B", "C", "D", "E", "F", "G"],
            "ssim": [0.90, 0.80, 0.80, 0.70, 0.60, 0.80, 0.70],
            "piq": [4.0, 2.0, 2.0, 1.0, 1.0, 3.0, 1.5],
        }
    )
    # B and C tie exactly (both kept); F is dominated by B; E by D (same PIQ, lower SSIM);
    # G is dominated by D (same SSIM, higher PIQ).
    assert df.loc[A.pareto_mask(df), "model"].tolist() == ["A", "B", "C", "D"]


def test_combined_rank_and_regimes_are_deterministic() -> None:
    frame, _ = synthetic_results()
    means = A.model_means(frame)
    ranked = A.combined_rank(means)
    assert ranked["combined_rank"].is_monotonic_increasing
    expected = (means["ssim"].rank(ascending=False) + means["piq"].rank()) / 2
    assert sorted(ranked["combined_rank"]) == sorted(expected)
    regimes = A.assign_regimes(means)
    assert set(regimes["regime"]) <= set(A.REGIMES)
    shuffled = A.assign_regimes(means.sample(frac=1, random_state=3))
    pd.testing.assert_frame_equal(regimes, shuffled)


def test_regimes_by_stated_rule_keep_identical_models_together() -> None:
    df = pd.DataFrame(
        {
            "model": ["A", "B", "C", "D", "E"],
            "ssim": [0.9, 0.7, 0.7, 0.65, 0.6],
            "piq": [5.0, 3.0, 3.0, 2.5, 1.0],
        }
    )
    regimes = A.assign_regimes(df).set_index("model")
    assert regimes.loc["A", "tilt"] == pytest.approx(1.0)  # SSIM rank 1, PIQ rank 5
    assert regimes.loc["A", "regime"] == "reconstruction-first"
    assert regimes.loc["E", "regime"] == "smoothness-first"
    assert regimes.loc["B", "regime"] == regimes.loc["C", "regime"] == "balanced"
    assert regimes["pareto_optimal"].all()


# --------------------------------------------------------------------------- Table III


def test_table_iii_is_derived_from_the_numbers() -> None:
    frame, _ = synthetic_results()
    means = A.model_means(frame)
    table = A.table_iii(means).set_index("application")
    best_ssim = means.sort_values("ssim", ascending=False)["model"].head(3).tolist()
    assert table.loc["High-fidelity reconstruction", "recommended"] == ", ".join(best_ssim)
    assert "top 3" in table.loc["High-fidelity reconstruction", "rule"]
    pd.testing.assert_frame_equal(A.table_iii(means), A.table_iii(means.iloc[::-1]))
    flipped = means.assign(ssim=-means["ssim"], piq=-means["piq"])
    table2 = A.table_iii(flipped).set_index("application")
    assert (
        table2.loc["High-fidelity reconstruction", "recommended"]
        == table.loc["High-fidelity reconstruction", "avoid"]
    )
    assert (
        table2.loc["Smooth latent navigation / animation", "recommended"]
        != table.loc["Smooth latent navigation / animation", "recommended"]
    )


# --------------------------------------------------------------------------- study comparison


def test_identical_rows_in_study_tables_match_method_md() -> None:
    t1, t2 = A.load_study_tables()
    expected = {
        "DisentangledBetaVAE, IWAE, MIWAE, MSSSIM_VAE, PIWAE",
        "RAE_GP, RAE_L2",
        "FactorVAE, INFOVAE_MMD",
        "BetaVAE, CIWAE",
    }
    assert set(A.identical_study_rows(t1)["models"]) == expected
    assert set(A.identical_study_rows(t2)["models"]) == expected
    flags = A.study_identity_flags(t1, t2).set_index("model")
    assert flags["duplicated_figures"].sum() == 11
    assert flags.loc["RAE_L2", "identical_in_table_i"] == "RAE_GP"
    assert not flags.loc["VAE", "duplicated_figures"]


def test_study_name_mapping_covers_registry() -> None:
    t1, t2 = A.load_study_tables()
    assert set(t1["registry_model"]) == set(A.REGISTRY_MODELS)
    assert set(t2["registry_model"]) == set(A.REGISTRY_MODELS)
    assert A.STUDY_NAME_TO_REGISTRY["InfoVAE"] == "INFOVAE_MMD"
    assert A.STUDY_NAME_TO_REGISTRY["WAE"] == "WAE_MMD"
    assert set(A.STUDY_FAMILIES) == set(A.REGISTRY_MODELS)


def test_compare_with_study_units_intervals_and_flags() -> None:
    frame = metrics_frame(
        {
            "VAE": {"ssim": [0.62, 0.63, 0.64], "mse": [0.0307] * 3},
            "AE": {"ssim": [0.95], "mse": [0.0084]},
            "IWAE": {"ssim": [0.60, 0.61, 0.62]},
        }
    )
    out = A.compare_with_study(frame).set_index(["model", "metric"])
    vae = out.loc[("VAE", "ssim")]
    assert vae["study_value"] == pytest.approx(0.630)
    assert vae["difference"] == pytest.approx(0.0)
    assert vae["study_in_our_t_ci"] == "yes"
    assert out.loc[("VAE", "mse"), "study_value"] == pytest.approx(30.72e-3)
    assert out.loc[("AE", "ssim"), "study_in_our_t_ci"] == "n/a (n < 2)"
    assert "MIWAE" in out.loc[("IWAE", "ssim"), "study_row_identical_to"]
    assert math.isnan(out.loc[("VAE", "iss"), "study_value"])  # unconvertible "x10" label


def test_rank_agreement_spearman() -> None:
    t1, _ = A.load_study_tables()
    means = pd.DataFrame({"model": t1["registry_model"], "ssim": t1["ssim_mean"].astype(float)})
    out = A.rank_agreement(means, ["ssim"]).iloc[0]
    assert out["n_models"] == 22 and out["spearman_rho"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- runs and saving


def test_run_summary_and_failures() -> None:
    runs = pd.DataFrame(
        {
            "model": ["VAE", "VAE", "HVAE"],
            "seed": [42, 123, 42],
            "status": ["ok", "ok", "failed"],
            "failure_reason": [None, None, "NaN loss"],
            "failure_epoch": [None, None, 3],
            "epochs_run": [40, 35, 3],
            "best_epoch": [30, 25, 2],
            "early_stopped": [True, True, False],
            "wall_seconds": [600.0, 540.0, 30.0],
            "device": ["cpu"] * 3,
            "profile": ["quick"] * 3,
            "data_source": ["full MNIST"] * 3,
            "n_train": [50000] * 3,
        }
    )
    summary = A.run_summary(runs).set_index("model")
    assert summary.loc["VAE", "seeds_ok"] == "2/2"
    assert summary.loc["VAE", "wall_minutes_mean"] == pytest.approx(9.5)
    assert summary.loc["HVAE", "wall_minutes_mean"] == 0.5  # rounded to 1 decimal
    assert summary.loc["HVAE", "failures"] == "seed 42 (epoch 3): NaN loss"
    assert A.failed_runs(runs)["reason"].tolist() == ["NaN loss"]


def test_save_table_writes_csv_md_tex(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "model": ["VAE_IAF", "AE"],
            "SSIM": ["0.61 ± 0.01", "0.9 (n = 1)"],
            "p": [0.012345678, float("nan")],
        }
    )
    paths = A.save_table(df, tmp_path / "t", "table_i")
    assert all(p.exists() for p in paths.values())
    assert pd.read_csv(paths["csv"])["p"].iloc[0] == pytest.approx(0.012345678)
    md = paths["md"].read_text(encoding="utf-8")
    assert md.splitlines()[0] == "| model | SSIM | p |" and "0.01235" in md
    tex = paths["tex"].read_text(encoding="utf-8")
    assert r"VAE\_IAF" in tex and r"$\pm$" in tex and r"\toprule" in tex


def test_missing_integers_are_empty_cells_not_na_text() -> None:
    df = pd.DataFrame({"model": ["AE", "VAE"], "epoch": pd.array([3, None], dtype="Int64")})
    md, tex = A.to_markdown(df), A.to_latex(df)
    assert "<NA>" not in md and "NA" not in tex
    assert md.splitlines()[-1] == "| VAE |  |"
