"""RESULTS.md (shared.report.findings) is written from the tables alone: its numbers are the CSV
values, each linked to an existing table, a table that was not built gives a sentence and no
number, and --check catches a file that no longer matches its tables. Small hand-made tables."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from shared.report import findings as F

CAPTION = (
    "profile reference (not the study's protocol: at most 2 epochs; learning rate 0.001) · "
    "data: MNIST IDX files in /data · 3 seeds per model (42, 123, 456) · 3 models"
)
RUNS = pd.DataFrame(
    {
        "model": ["AE"] * 3 + ["BetaVAE"] * 3 + ["VAE"] * 3,
        "seed": [42, 123, 456] * 3,
        "status": ["ok"] * 8 + ["failed"],
        "epochs_run": [2, 2, 2, 1, 1, 1, 2, 2, 1],
        "wall_minutes": [1.5, 1.5, 1.0, 2.0, 2.0, 2.0, 10.0, 10.0, 5.0],
        "device": ["cpu"] * 9,
        "deviations": ["at most 2 epochs instead of 100"] * 3 + ["at most 1 epoch instead of 100"] * 3
        + ["at most 2 epochs instead of 100"] * 3,
    }
)  # fmt: skip
TABLES: dict[str, pd.DataFrame] = {
    "run_summary": RUNS,
    "run_summary_by_model": pd.DataFrame(
        {
            "model": ["AE", "BetaVAE", "VAE"],
            "seeds_ok": ["3/3", "3/3", "2/3"],
            "epochs_run": ["2", "1", "1, 2"],
            "early_stopped": ["0/3", "1/3", "0/3"],
            "data_source": ["MNIST IDX files in /data"] * 3,
        }
    ),
    "failed_runs": pd.DataFrame({"model": ["VAE"], "seed": [456], "reason": ["non-finite loss"]}),
    "coverage": pd.DataFrame({"model": ["AE", "BetaVAE", "VAE"], "seed 42": ["ok", "ok", "ok"]}),
    "rank_agreement_with_study": pd.DataFrame(
        {
            "metric": ["ssim", "piq"],
            "n_models": [3, 3],
            "spearman_rho": [0.4793, 0.2546],
            "p": [0.0240, 0.2528],
        }
    ),
    "table_i_reconstruction_protocol": pd.DataFrame(
        {
            "rank": [1, 2, 3],
            "model": ["AE", "VAE", "BetaVAE"],
            "collapsed": ["", "", "yes (3/3 seeds)"],
            "setting differs from study": ["", "β = 2 (study: 1)", ""],
        }
    ),
    "table_i_reconstruction_protocol_values": pd.DataFrame(
        {"model": ["AE", "VAE", "BetaVAE"], "ssim_mean": [0.8196, 0.4466, 0.1289]}
    ),
    "table_ii_interpolation": pd.DataFrame(
        {"rank": [1, 2, 3], "model": ["BetaVAE", "VAE", "AE"], "collapsed": ["yes (3/3 seeds)", "", ""]}
    ),
    "table_ii_interpolation_values": pd.DataFrame(
        {"model": ["BetaVAE", "VAE", "AE"], "piq_mean": [5.9e-6, 8.877e-4, 2.4085e-3]}
    ),
    "reproduction_vs_study": pd.DataFrame(
        {
            "model": ["AE", "BetaVAE", "VAE", "AE", "BetaVAE", "VAE"],
            "metric": ["ssim"] * 3 + ["piq"] * 3,
            "ours_mean": [0.8196, 0.1289, 0.4466, 2.4085e-3, 5.9e-6, 8.877e-4],
            "study_value": [0.908, 0.61, 0.63, 0.00169, 0.00169, 0.00140],
            "difference": [-0.0884, -0.4811, -0.1834, 7.2e-4, -1.68e-3, -5.1e-4],
            "study_in_our_t_ci": ["no", "no", "yes", "no", "no", "yes"],
        }
    ),
    "significance_vs_vae_seeds": pd.DataFrame(
        {
            "model": ["AE", "BetaVAE", "AE"],
            "metric": ["ssim", "ssim", "piq"],
            "significant": ["yes", "no", "no"],
        }
    ),
    "duality_test": pd.DataFrame(
        {
            "smoothness": ["PIQ", "path excess", "PIQ given endpoint distance"],
            "kind": ["raw", "scale-free", "raw"],
            "method": ["pearson", "pearson", "partial"],
            "r": [0.9591, 0.1234, float("nan")],
            "p": [7.2e-12, 0.6123, float("nan")],
            "n": [21, 21, 2],
            "collapsed_left_out": [1, 1, 1],
            "note": ["", "", "fewer than 4 usable models: n = 2"],
        }
    ),
    "metric_correlations": pd.DataFrame(
        {
            "pair": ["SSIM–PIQ"],
            "n_models": [3],
            "r": [0.9646],
            "p": [4.9e-13],
            "study_r": [0.769],
            "study_p": ["< 0.001"],
        }
    ),
    "pareto_regimes": pd.DataFrame(
        {
            "model": ["AE", "VAE", "BetaVAE"],
            "ssim": [0.8196, 0.4466, 0.1289],
            "piq": [2.4085e-3, 8.877e-4, 5.9e-6],
            "ssim_rank": [1.0, 2.0, 3.0],
            "collapsed": ["", "", "yes (3/3 seeds)"],
            "pareto_optimal": [True, True, False],
            "regime": ["reconstruction-first", "balanced", "smoothness-first"],
        }
    ),
    "table_iii_applications": pd.DataFrame(
        {
            "application": ["High-fidelity reconstruction"],
            "criterion": ["ssim"],
            "rule": ["recommended = top 1 by SSIM"],
            "recommended": ["AE"],
            "avoid": ["VAE"],
            "left_out": ["BetaVAE (collapsed)"],
        }
    ),
    "identical_rows": pd.DataFrame(
        {"table": ["study Table I"], "group": [1], "n_models": [2.0], "models": ["RAE_GP, RAE_L2"]}
    ),
    "table_iv_generation": pd.DataFrame({"rank": [1, 2], "model": ["VAE", "AE"], "collapsed": ["", ""]}),
    "table_iv_generation_values": pd.DataFrame(
        {
            "model": ["VAE", "AE"],
            "prior_fd_mean": [345.9, float("nan")],
            "gmm_fd_mean": [279.89, 301.2],
            "gmm_precision_mean": [0.948, 0.9],
            "gmm_recall_mean": [0.0101, 0.02],
        }
    ),
    "table_v_codes": pd.DataFrame({"rank": [1], "model": ["VAE"], "collapsed": [""]}),
    "table_v_codes_values": pd.DataFrame(
        {"model": ["VAE"], "probe_accuracy_mean": [0.85], "kmeans_accuracy_mean": [0.4846]}
    ),
    "table_scale_free_smoothness": pd.DataFrame(
        {"rank": [1, 2], "model": ["VAE", "AE"], "collapsed": ["", ""]}
    ),
    "table_scale_free_smoothness_values": pd.DataFrame(
        {"model": ["VAE", "AE"], "path_excess_mean": [1.3632, 1.4711]}
    ),
}


def write_tables(folder: Path, tables: dict[str, pd.DataFrame] = TABLES) -> Path:
    """Each table as the report writes it: CSV, and a .md whose bold first line is the caption."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
        if not name.endswith("_values"):
            md = f"**{name.replace('_', ' ').capitalize()}. {CAPTION}.**\n\n| x |\n|---|\n| 1 |\n"
            (folder / f"{name}.md").write_text(md, encoding="utf-8")
    return folder


@pytest.fixture()
def tables(tmp_path: Path) -> Path:
    return write_tables(tmp_path / "tables")


@pytest.fixture(scope="module")
def text(tmp_path_factory: pytest.TempPathFactory) -> str:
    """RESULTS.md of the unchanged tables (rendered once for the tests that only read it)."""
    return render(write_tables(tmp_path_factory.mktemp("findings") / "tables"))


def render(tables: Path) -> str:
    return F.render(tables, tables.parent / "RESULTS.md")


def part(text: str, title: str) -> str:
    """The body of one section."""
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


LINK = re.compile(r"\[((?:\\.|[^\]\\])*)\]\[([^\]]+)\]")


def test_the_sections_come_in_order_and_their_numbers_are_the_csv_values(text: str) -> None:
    assert [line[3:] for line in text.splitlines() if line.startswith("## ")] == [t for t, _ in F.SECTIONS]
    study = part(text, "What holds of the study and what does not")
    assert "ρ = [0.479][rank_agreement_with_study], [p = 0.024][rank_agreement_with_study]" in study
    assert "significant agreement" in study and "[p = 0.253][rank_agreement_with_study]" in study
    assert "SSIM [1][significance_vs_vae_seeds] of [2][significance_vs_vae_seeds]; PIQ [0]" in study
    assert "ours [AE and VAE][table_i_reconstruction_protocol]" in study  # BetaVAE collapsed: skipped
    assert "the study's [AE, VAE and BetaVAE][reproduction_vs_study]" in study
    duality = part(text, "The duality on raw and scale-free metrics")
    assert (
        "r = [0.959][duality_test], [p < 0.001][duality_test], n = [21][duality_test]: significant" in duality
    )
    assert "r = [0.123][duality_test], [p = 0.612][duality_test]" in duality
    assert "[fewer than 4 usable models: n = 2][duality_test]" in duality  # undefined row: its note
    assert "[does not survive][duality_test] scale-free" in duality
    budget = part(text, "The run's budget")
    assert "[9][run_summary] runs, [8][run_summary] ok, [1][run_summary] failed" in budget
    assert "[VAE seed 456: non-finite loss][failed_runs]" in budget
    assert "[35.0][run_summary] min" in budget  # the sum of the runs' wall minutes
    assert f"[{CAPTION.split(' · ')[0]}][run_summary_by_model]" in budget  # the caption's deviations
    assert "[1, 2][run_summary_by_model] epochs: [VAE][run_summary_by_model]" in budget


def test_a_changed_csv_value_changes_the_text(tables: Path) -> None:
    before = render(tables)
    frame = TABLES["rank_agreement_with_study"].assign(spearman_rho=[0.6125, 0.2546], p=[0.0004, 0.2528])
    frame.to_csv(tables / "rank_agreement_with_study.csv", index=False)
    after = render(tables)
    assert "ρ = [0.479]" in before and "ρ = [0.479]" not in after
    assert "ρ = [0.613][rank_agreement_with_study], [p < 0.001][rank_agreement_with_study]" in after


def test_every_number_is_inside_a_link_and_every_link_reaches_a_table(tmp_path: Path) -> None:
    tables = write_tables(tmp_path / "tables")
    out = tmp_path / "docs" / "RESULTS.md"  # the links are relative to the output file
    out.parent.mkdir()
    text = F.render(tables, out)
    body = text.split("\n[coverage]:")[0]
    targets = dict(re.findall(r"^\[([^\]]+)\]: (\S+)$", text, flags=re.M))
    assert targets and all(t.startswith("../tables/") and t.endswith(".md") for t in targets.values())
    assert all((out.parent / t).is_file() for t in targets.values())
    assert {label for _, label in LINK.findall(body)} == set(targets)
    prose = LINK.sub("", body)
    for fixed in ("RAE_L2", "p < 0.001", F.alpha_text()):
        prose = prose.replace(fixed, "")
    assert re.findall(r".*\d.*", prose) == []  # no number typed by hand


def test_a_missing_table_gives_a_sentence_and_no_number(tables: Path) -> None:
    for path in tables.glob("duality_test.*"):
        path.unlink()
    duality = part(render(tables), "The duality on raw and scale-free metrics")
    assert "The duality test: not built (the tables folder has no `duality_test.md`)." in duality
    assert "[duality_test]" not in duality and "r = [0.965][metric_correlations]" in duality


def test_a_skipped_table_whose_markdown_holds_only_a_note_gives_that_note(tables: Path) -> None:
    (tables / "significance_vs_vae_seeds.csv").unlink()
    (tables / "significance_vs_vae_seeds.md").write_text(
        "not built: every model has only 1 seed, and a paired test over seeds needs ≥ 2 seeds\n",
        encoding="utf-8",
    )
    study = part(render(tables), "What holds of the study and what does not")
    assert "paired by seed: not built ([not built: every model has only 1 seed" in study


def test_an_empty_tables_folder_gives_a_sentence_per_section_and_no_crash(tmp_path: Path) -> None:
    (tmp_path / "tables").mkdir()
    text = render(tmp_path / "tables")
    assert text.count("not built") >= len(F.SECTIONS)
    assert "could not be written" not in text
    assert re.findall(r"\[[^\]]*\d[^\]]*\]\[", text) == []  # no number at all


def test_a_table_with_other_columns_says_so_instead_of_crashing(tables: Path) -> None:
    TABLES["pareto_regimes"].drop(columns=["ssim_rank"]).to_csv(tables / "pareto_regimes.csv", index=False)
    pareto = part(render(tables), "Regimes and the Pareto set")
    assert "could not be written from the tables (a column it reads is missing: 'ssim_rank')" in pareto


def test_pareto_settings_and_recommendations_come_from_their_tables(text: str) -> None:
    pareto = part(text, "Regimes and the Pareto set")
    assert (
        "- AE: SSIM [0.820][pareto_regimes], PIQ [0.00241][pareto_regimes], [reconstruction-first]" in pareto
    )
    assert (
        "- BetaVAE:" not in pareto and "frontier (their ranks unchanged): [BetaVAE][pareto_regimes]" in pareto
    )
    settings = part(text, "Models whose settings differ from the study")
    assert "- VAE: [β = 2 (study: 1)][table_i_reconstruction_protocol]." in settings
    assert "- BetaVAE: [at most 1 epoch instead of 100][run_summary]." in settings
    assert "for most models: [at most 2 epochs instead of 100][run_summary]." in settings
    recs = part(text, "Recommendations")
    assert "use [AE][table_iii_applications]; avoid [VAE][table_iii_applications]" in recs
    beyond = part(text, "Beyond the study")
    assert "VAE's ([280][table_iv_generation]" in beyond and "no prior samples: [AE]" in beyond


def test_check_passes_on_a_fresh_file_and_fails_in_one_line_after_drift(tables: Path, capsys) -> None:
    out = tables.parent / "RESULTS.md"
    args = ["--tables-dir", str(tables), "--out", str(out)]
    assert F.main([*args, "--check"]) == 1  # not written yet
    assert F.main(args) == 0 and F.main([*args, "--check"]) == 0
    TABLES["metric_correlations"].assign(r=[0.5]).to_csv(tables / "metric_correlations.csv", index=False)
    capsys.readouterr()
    assert F.main([*args, "--check"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "differs from its tables" in err


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (0.8196, "0.820"),
        (18.945, "18.9"),
        (327.13, "327"),
        (1234.5, "1,230"),
        (5.077e-8, "5.08e-8"),
        (1.0, "1.00"),
    ],
)
def test_numbers_have_three_significant_digits(x: float, text: str) -> None:
    assert F.number(x) == text


@pytest.mark.parametrize(
    ("p", "text"),
    [(0.0344, "p = 0.034"), (0.0004, "p < 0.001"), (0.0496, "p = 0.0496"), (0.2528, "p = 0.253")],
)
def test_p_values_never_round_across_alpha(p: float, text: str) -> None:
    assert F.p_value(p) == text


def test_a_table_without_its_values_file_spoils_only_its_own_sentence(tables: Path) -> None:
    (tables / "table_v_codes_values.csv").unlink()  # table_v_codes.csv has no probe column
    beyond = part(render(tables), "Beyond the study")
    assert (
        "could not be written from the tables (a column it reads is missing: ['probe_accuracy_mean'])"
        in beyond
    )
    assert "[280][table_iv_generation]" in beyond and "[1.36][table_scale_free_smoothness]" in beyond
