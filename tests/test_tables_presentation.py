"""How the tables read (issue item 4): units and ↑/↓ in the headers, the best value in bold
(Markdown and LaTeX only; the CSV keeps plain text), n said once in the caption, the seed-based
tables replaced by one line with one seed, and no pandas index column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shared import analysis as A
from shared import report
from tests.synthetic_report import runs_of, synthetic_report

METRICS = A.RECONSTRUCTION_METRICS + A.INTERPOLATION_METRICS
#: model -> metric -> the run mean of seed 0, 1, 2 (a per-seed offset of 0.001 keeps a std)
BASE = {
    "VAE": {"ssim": 0.60, "mse": 0.030, "psnr": 15.0, "mae": 0.10, "piq": 0.0020, "iss": 2e-7, "issim": 0.95},
    "AE": {"ssim": 0.90, "mse": 0.008, "psnr": 21.0, "mae": 0.06, "piq": 0.0010, "iss": 1e-7, "issim": 0.97},
    "WAE_MMD": {"ssim": 0.90, "mse": 0.009, "psnr": 20.0, "mae": 0.07, "piq": 0.0030, "iss": 3e-7, "issim": 0.93},
}  # fmt: skip


def metrics_frame(seeds: tuple[int, ...]) -> pd.DataFrame:
    rows = []
    for model, values in BASE.items():
        for i, seed in enumerate(seeds):
            for metric, v in values.items():
                eval_set = "interpolation" if metric in A.INTERPOLATION_METRICS else "protocol_sampled"
                value = v * (1 + 0.001 * i) if metric == "iss" else v + 0.001 * i
                rows.append((model, seed, "ok", "smoke", "synthetic", eval_set, metric, value))
    columns = ["model", "seed", "status", "profile", "data_source", "eval_set", "metric", "value"]
    return pd.DataFrame(rows, columns=columns)


def make_report(tmp_path: Path, seeds: tuple[int, ...]) -> report.Report:
    frame = metrics_frame(seeds)
    return synthetic_report(tmp_path, frame, runs_of(frame), BASE, seeds)


def table_i(seeds: tuple[int, ...] = (0, 1, 2)) -> pd.DataFrame:
    return A.table_reconstruction(A.summarise(metrics_frame(seeds), "protocol_sampled", METRICS))


# --------------------------------------------------------------------------- headers


def test_headers_carry_units_and_arrows() -> None:
    assert A.display_header("MSE (×10³)", "mse") == "MSE ↓ (×10³)"
    assert A.display_header("SSIM", "ssim") == "SSIM ↑"
    md_header = A.to_markdown(table_i()).splitlines()[0]
    assert md_header == "| rank | model | SSIM ↑ | MSE ↓ (×10³) | PSNR ↑ (dB) | MAE ↓ |"
    for metric, (header, scale, _, _) in {**A.TABLE_I_COLUMNS, **A.TABLE_II_COLUMNS}.items():
        assert A.arrow(metric) == ("↑" if A.HIGHER_IS_BETTER[metric] else "↓")
        if scale != 1.0:
            assert "×10" in header  # the scaling is stated in the header
    assert A.TABLE_II_COLUMNS["iss"][0] == "ISS (×10⁷)"
    tex = A.to_latex(table_i())
    assert r"SSIM $\uparrow$" in tex and r"MSE $\downarrow$ ($\times$10$^3$)" in tex


def test_iss_is_scaled_fixed_not_scientific() -> None:
    summary = A.summarise(metrics_frame((0, 1, 2)), "interpolation", METRICS)
    table = A.table_interpolation(summary)
    cell = table.set_index("model").loc["AE", "ISS (×10⁷)"]
    assert "e-" not in cell and cell.startswith("1.00 ± ")  # 1e-7 shown as 1.00 (×10⁷)


# --------------------------------------------------------------------------- bold best


def test_best_value_is_bold_in_markdown_and_latex_ties_all_bold_csv_plain(tmp_path: Path) -> None:
    table = table_i()
    md = A.to_markdown(table).splitlines()[2:]
    rows = {line.split(" | ")[1]: line for line in md}
    # SSIM: AE and WAE_MMD tie at 0.901 -> both bold; MSE: AE alone (lowest); PSNR: AE (highest)
    assert "**0.901 ± 0.001**" in rows["AE"] and "**0.901 ± 0.001**" in rows["WAE_MMD"]
    assert "**9.00 ± 1.00**" in rows["AE"] and "**" not in rows["VAE"]
    assert rows["WAE_MMD"].count("**") == 2  # only its (tied) SSIM
    tex = A.to_latex(table)
    assert r"\textbf{0.901 $\pm$ 0.001}" in tex and tex.count(r"\textbf{") == 2 + 3  # SSIM x2, AE's others
    paths = A.save_table(table, tmp_path, "t")
    csv = paths["csv"].read_text(encoding="utf-8")
    assert "**" not in csv and "textbf" not in csv and "↑" not in csv
    assert pd.read_csv(paths["csv"]).columns.tolist() == table.columns.tolist()


def test_lower_is_better_picks_the_minimum() -> None:
    assert A.best_mask([3.0, 1.0, 1.0, float("nan")], higher_is_better=False) == [False, True, True, False]
    assert A.best_mask([float("nan")], higher_is_better=True) == [False]


# --------------------------------------------------------------------------- n once, in the caption


def test_n_is_in_the_caption_not_in_cells_or_a_column(tmp_path: Path) -> None:
    rep = make_report(tmp_path, (0, 1, 2))
    out = report.table_i(rep)
    assert "mean ± std over n = 3 seeds" in out.caption and "bold" in out.caption
    assert not any(c.startswith("n (") for c in out.frame.columns)
    assert not out.frame.astype(str).apply(lambda col: col.str.contains(r"\(n = ")).any().any()
    assert A.n_statement(pd.DataFrame({"model": ["A"], "piq_mean": [1.0], "piq_n": [6], "n_items": [2],
                                       "n_seeds": [3]}), "sequence") == "2 sequences × 3 seeds"  # fmt: skip
    saved = (tmp_path / "tables" / "table_i_reconstruction_protocol.md").read_text(encoding="utf-8")
    assert saved.count("n = 3 seeds") == 1


def test_rows_with_different_n_keep_a_column() -> None:
    frame = metrics_frame((0, 1, 2))
    frame = frame[~((frame["model"] == "AE") & (frame["seed"] > 0))]
    table = A.table_reconstruction(A.summarise(frame, "protocol_sampled", METRICS))
    assert table.set_index("model")["n (seeds)"].to_dict() == {"AE": "1", "WAE_MMD": "3", "VAE": "3"}
    assert table.set_index("model").loc["AE", "SSIM"] == "0.900"  # one seed: no std, no "(n = 1)"


# --------------------------------------------------------------------------- one seed


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("step", [report.significance_seeds, report.confidence_intervals])
def test_one_seed_gives_one_line_instead_of_a_nan_table(tmp_path: Path, step) -> None:
    rep = make_report(tmp_path, (42,))
    out = step(rep)
    assert not out.built and out.note.count("\n") == 0 and "≥ 2 seeds" in out.note
    assert not list((tmp_path / "tables").glob(f"{out.name}.*"))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_two_seeds_still_build_the_seed_tables(tmp_path: Path) -> None:
    rep = make_report(tmp_path, (0, 1))
    assert report.significance_seeds(rep).built and report.confidence_intervals(rep).built


# --------------------------------------------------------------------------- no index column


def test_no_pandas_index_column(tmp_path: Path) -> None:
    table = table_i().set_index(pd.Index([97, 98, 99]))  # an index that must not be printed
    md, tex = A.to_markdown(table), A.to_latex(table)
    assert md.splitlines()[0].startswith("| rank | model |") and "97" not in md and "97" not in tex
    assert md.splitlines()[2].startswith("| 1 | AE |")
    assert tex.splitlines()[2].startswith("rank & model")
    out = report.table_i(make_report(tmp_path, (0, 1, 2)))
    assert out.view.index.name == "rank" and "SSIM ↑" in out.view.columns
    assert out.frame.columns[0] == "rank"


def test_run_times_are_rounded(tmp_path: Path) -> None:
    rep = make_report(tmp_path, (0,))
    rep.runs = rep.runs.assign(
        epochs_run=1, best_epoch=1, early_stopped=False, wall_seconds=11.12, device="cpu", n_train=10,
        failure_epoch=None, failure_reason=None,
    )  # fmt: skip
    assert set(report.run_table(rep).frame["wall_minutes"]) == {0.2}


def test_a_caption_names_the_models_a_per_model_budget_applies_to() -> None:
    from shared.report.core import describe

    rows = pd.DataFrame(
        {
            "model": ["VAE", "AE", "HVAE", "MIWAE"],
            "seed": [42] * 4,
            "profile": ["reference"] * 4,
            "data": ["full MNIST"] * 4,
            "deviations": [
                "at most 2 epochs instead of 100; learning rate 0.001 instead of 0.0001",
                "at most 2 epochs instead of 100; learning rate 0.001 instead of 0.0001",
                "at most 2 epochs instead of 100; learning rate 0.001 instead of 0.0001",
                "at most 1 epoch instead of 100; learning rate 0.001 instead of 0.0001",
            ],
        }
    )
    text = describe(rows)
    assert "at most 1 epoch (MIWAE); at most 2 epochs (all but MIWAE); learning rate 0.001)" in text


def test_reproduction_vs_study_prints_a_paper_table_and_keeps_the_full_csv(tmp_path: Path) -> None:
    report.study_comparison(make_report(tmp_path, (0, 1, 2)))
    md = (tmp_path / "tables" / "reproduction_vs_study.md").read_text(encoding="utf-8")
    lines = [line for line in md.splitlines() if line.startswith("| ")]
    assert (
        "| SSIM ours ↑ | SSIM study ↑ | SSIM ours − study |" in lines[0] and "PIQ study ↓ (×10³)" in lines[0]
    )
    assert "ours_mean" not in md and "n = 3 seeds" in md  # n once, in the caption
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in lines[1:]}
    assert sorted(rows) == ["AE", "VAE", "WAE_MMD"]  # one row per model
    # bold: ours SSIM (AE and WAE_MMD tie at 0.901), the study's SSIM (AE 0.908), ours PIQ (AE),
    # the study's PIQ (VAE 1.524)
    assert (
        "**0.901 ± 0.001**" in rows["AE"] and "**0.908**" in rows["AE"] and "**2.000 ± 1.000**" in rows["AE"]
    )
    assert rows["WAE_MMD"].count("**") == 2 and "**1.524**" in rows["VAE"] and rows["VAE"].count("**") == 2
    full = pd.read_csv(tmp_path / "tables" / "reproduction_vs_study.csv")
    assert {"ours_mean", "ours_std", "study_value", "t_ci_low"} <= set(full.columns)  # the numbers in full
