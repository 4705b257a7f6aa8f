"""The table of extra interpolation paths (SVAE chord, VQ-VAE requantised) beside the main path.

Synthetic frames shaped like ``shared.results`` output. The extra paths must show up in their own
table only: Table II keeps the main path whatever else a run stores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared import analysis as A
from shared import report
from shared import results as R
from tests.synthetic_report import runs_of, synthetic_report

SEEDS = (42, 123, 456)
METRICS = ("piq", "iss", "issim")
#: model -> main-path run means per metric (one value per seed)
MAIN = {
    "SVAE": {"piq": [1.0, 2.0, 3.0], "iss": [10.0, 20.0, 30.0], "issim": [0.5, 0.6, 0.7]},
    "VAE": {"piq": [4.0, 4.0, 4.0], "iss": [1.0, 1.0, 1.0], "issim": [0.9, 0.9, 0.9]},
    "VQVAE": {"piq": [2.0, 4.0, 100.0], "iss": [3.0, 5.0, 100.0], "issim": [0.8, 0.6, 0.0]},
}
#: (model, path) -> extra-path run means; VQVAE lacks its requantised path on seed 456
EXTRA = {
    ("SVAE", "chord"): {"piq": [3.0, 3.0, 6.0], "iss": [40.0, 20.0, 30.0], "issim": [0.2, 0.3, 0.4]},
    ("VQVAE", "requantised"): {"piq": [5.0, 9.0], "iss": [1.0, 2.0], "issim": [0.5, 0.5]},
}


def metrics_frame(failed_extra: bool = False) -> pd.DataFrame:
    """Main and extra eval sets as ``shared.results.metrics_frame`` gives them."""
    rows = []
    for model, metrics in MAIN.items():
        rows += [(model, s, "ok", "protocol_sampled", "ssim", 0.9) for s in SEEDS]
        for metric, values in metrics.items():
            rows += [(model, s, "ok", "interpolation", metric, v) for s, v in zip(SEEDS, values)]
    for (model, path), metrics in EXTRA.items():
        for metric, values in metrics.items():
            rows += [(model, s, "ok", f"interpolation_{path}", metric, v) for s, v in zip(SEEDS, values)]
    if failed_extra:  # a failed run never counts, even with a stored extra path
        rows += [
            ("AE", 7, "failed", e, m, 1.0) for e in ("interpolation", "interpolation_chord") for m in METRICS
        ]
    frame = pd.DataFrame(rows, columns=["model", "seed", "status", "eval_set", "metric", "value"])
    return frame.assign(profile="smoke", data_source="synthetic")


# --------------------------------------------------------------------------- the analysis table


def test_values_equal_a_hand_computation() -> None:
    table = A.interpolation_paths_table(metrics_frame()).set_index(["model", "path"])
    svae = table.loc[("SVAE", "chord")]
    assert svae["n_seeds"] == 3
    assert svae["piq_main"] == pytest.approx(2.0) and svae["piq_extra"] == pytest.approx(4.0)
    assert svae["piq_difference"] == pytest.approx(2.0)
    assert svae["iss_main"] == pytest.approx(20.0) and svae["iss_extra"] == pytest.approx(30.0)
    assert svae["issim_difference"] == pytest.approx(0.3 - 0.6)
    assert svae["main_path"] == "great circle"
    assert svae["extra_path"] == "chord (the study's literal protocol)"
    vq = table.loc[("VQVAE", "requantised")]  # paired: seed 456 has no requantised path
    assert vq["n_seeds"] == 2
    assert vq["piq_main"] == pytest.approx(3.0) and vq["piq_extra"] == pytest.approx(7.0)
    assert vq["iss_difference"] == pytest.approx(1.5 - 4.0)
    assert vq["issim_main"] == pytest.approx(0.7) and vq["issim_difference"] == pytest.approx(-0.2)
    assert vq["main_path"] == "straight line"
    assert vq["extra_path"] == "requantised (codes the model can emit)"


def test_columns_and_order_are_fixed() -> None:
    table = A.interpolation_paths_table(metrics_frame().sample(frac=1.0, random_state=3))
    assert list(table.columns) == A.INTERPOLATION_PATHS_COLUMNS
    assert list(zip(table["model"], table["path"])) == [("SVAE", "chord"), ("VQVAE", "requantised")]


def test_models_without_extra_paths_and_failed_runs_are_absent() -> None:
    table = A.interpolation_paths_table(metrics_frame(failed_extra=True))
    assert set(table["model"]) == {"SVAE", "VQVAE"}  # VAE has none, AE's only one failed


def test_empty_when_no_model_has_an_extra_path() -> None:
    frame = metrics_frame()
    for data in (frame[~frame["eval_set"].str.startswith("interpolation_")], frame.iloc[0:0]):
        table = A.interpolation_paths_table(data)
        assert table.empty and list(table.columns) == A.INTERPOLATION_PATHS_COLUMNS


def test_stored_main_path_is_preferred_to_the_constant() -> None:
    frame = metrics_frame().assign(interpolation_path="line")
    frame.loc[frame["model"] == "VQVAE", "interpolation_path"] = "great_circle"
    labels = A.interpolation_paths_table(frame).set_index("model")["main_path"]
    assert labels.to_dict() == {"SVAE": "straight line", "VQVAE": "great circle"}


def test_main_path_labels_agree_with_the_registry() -> None:
    from shared import registry

    for name in registry.MODEL_NAMES + registry.EXTRA_MODEL_NAMES:
        spec = registry.get_spec(name)
        assert A.main_path_label(name) == A.PATH_NAME_LABELS[spec.interpolation], name
        assert set(spec.extra_interpolations) <= set(A.EXTRA_PATH_LABELS), name
    assert set(A.EXTRA_PATH_LABELS) == set(R.INTERPOLATION_PATH_SETS)


# --------------------------------------------------------------------------- Table II is untouched


def _block(rng: np.random.Generator, scale: float, n: int = 25) -> dict:
    per = {m: (scale * (1 + rng.random(n))).astype(np.float32) for m in METRICS}
    return {"per_sequence": per, "mean": {m: float(v.mean()) for m, v in per.items()}, "std": {}}


def results(extra: bool) -> dict[str, dict]:
    """Two models' results files; with ``extra`` SVAE and VQVAE also store their extra path."""
    rng, out = np.random.default_rng(0), {}
    for model, path in (("SVAE", "chord"), ("VQVAE", "requantised")):
        runs = {}
        for seed in SEEDS:
            metrics = {"reconstruction": {}, "interpolation": _block(rng, 1e-3)}
            paths = {path: _block(rng, 5e-2)}  # drawn either way: same main values with or without
            if extra:
                metrics["interpolation_paths"] = paths
            config = {"data": {"source": "synthetic"}}
            runs[seed] = {"status": "ok", "profile": "smoke", "config": config, "metrics": metrics}
        out[model] = {"schema_version": 1, "model": model, "runs": runs}
    return out


def table_ii_of(per_item: pd.DataFrame) -> pd.DataFrame:
    return A.table_interpolation(A.summarise_items(per_item, A.INTERPOLATION_METRICS))


def test_table_ii_is_unchanged_by_extra_eval_sets() -> None:
    plain, with_paths = results(extra=False), results(extra=True)
    assert set(R.metrics_frame(with_paths)["eval_set"]) > set(R.metrics_frame(plain)["eval_set"])
    before = table_ii_of(R.per_item_frame(plain, "interpolation"))
    after = table_ii_of(R.per_item_frame(with_paths, "interpolation"))
    pd.testing.assert_frame_equal(before, after)
    mixed = pd.concat(  # what Table II would be with the extra paths mixed in: clearly different
        [R.per_item_frame(with_paths, f"interpolation_{p}") for p in R.INTERPOLATION_PATH_SETS]
        + [R.per_item_frame(with_paths, "interpolation")],
        ignore_index=True,
    )
    assert not table_ii_of(mixed).equals(before)
    for frame in (R.metrics_frame(plain), R.metrics_frame(with_paths)):
        summary = A.summarise(frame, "interpolation", A.INTERPOLATION_METRICS)
        assert summary["piq_mean"].max() < 2e-3  # the extra paths (~7.5e-2) do not leak in


# --------------------------------------------------------------------------- the report step


def _report(tmp_path: Path, frame: pd.DataFrame) -> report.Report:
    return synthetic_report(tmp_path, frame, runs_of(frame), MAIN, SEEDS)


def test_report_step_saves_the_table_with_its_caption(tmp_path: Path) -> None:
    out = report.interpolation_paths(_report(tmp_path, metrics_frame()))
    assert out.built and out.name == "interpolation_paths" and not out.note
    saved = pd.read_csv(tmp_path / "tables" / "interpolation_paths.csv")
    assert list(zip(saved["model"], saved["path"])) == [("SVAE", "chord"), ("VQVAE", "requantised")]
    assert saved.loc[0, "piq_difference"] == pytest.approx(2.0)
    assert A.COLLAPSED_COLUMN in saved.columns
    assert "main path" in out.caption and "chord" in out.caption and "requantised" in out.caption
    assert "2 models" in out.caption  # the runs behind it: SVAE and VQVAE, not VAE
    md = (tmp_path / "tables" / "interpolation_paths.md").read_text(encoding="utf-8")
    assert md.startswith("**Interpolation along the extra paths")


def test_report_step_skips_with_a_note_when_nothing_to_show(tmp_path: Path) -> None:
    frame = metrics_frame()
    out = report.interpolation_paths(_report(tmp_path, frame[frame["eval_set"] == "interpolation"]))
    assert not out.built and out.note == "no model has an extra interpolation path"
    assert not (tmp_path / "tables" / "interpolation_paths.csv").exists()


def test_step_is_registered_after_table_ii_in_report_and_notebook() -> None:
    steps = report.TABLE_STEPS
    assert steps.index(report.interpolation_paths) == steps.index(report.table_ii) + 1
    from tools.templates import evaluation

    code = [src for kind, src in evaluation.cells() if kind == "code"]
    at = code.index("report.display_output(report.table_ii(rep))")
    assert code[at + 1] == "report.display_output(report.interpolation_paths(rep))"
