"""Schema version 2: version-1 files still load and tabulate; the new blocks are validated and tabulated."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest

from shared import results as R

V1_FIXTURE = Path(__file__).parent / "fixtures" / "schema_v1_VAE_MNIST.pkl"


@pytest.fixture()
def v1_dir(tmp_path: Path) -> Path:
    shutil.copy(V1_FIXTURE, tmp_path / "VAE_MNIST.pkl")
    return tmp_path


def test_a_file_written_by_the_version_1_code_still_loads_and_tabulates(v1_dir: Path) -> None:
    data = R.load_results(v1_dir / "VAE_MNIST.pkl")
    assert data["schema_version"] == 1
    frame = R.metrics_frame(R.load_results_dir(v1_dir))
    assert set(frame["eval_set"]) >= {"protocol_sampled", "interpolation"}
    assert not any(s.startswith(("distribution_", "codes")) for s in frame["eval_set"])
    assert R.runs_frame(data).loc[0, "status"] == "ok"


def test_saving_into_a_version_1_file_keeps_its_runs_and_stamps_the_current_version(v1_dir: Path) -> None:
    run = R.load_results(v1_dir / "VAE_MNIST.pkl")["runs"][42]
    R.save_run(v1_dir, "VAE", 7, {**run, "seed": 7})
    data = R.load_results(v1_dir / "VAE_MNIST.pkl")
    assert data["schema_version"] == R.SCHEMA_VERSION == 3 and set(data["runs"]) == {7, 42}


def _v2_run() -> dict:
    run = copy.deepcopy(R.load_results(V1_FIXTURE)["runs"][42])
    sets = {"prior": {"fd": 12.5, "precision": 0.5, "recall": 0.25, "n_fake": 10_000}}
    run["metrics"]["generation"] = {
        "prior": "normal", "n_samples": 10_000, "feature_net": "mnist-lenet-x", "k": 3,
        "n_real": 100, "sets": sets,
    }  # fmt: skip
    run["metrics"]["codes"] = {
        "probe_accuracy": 0.75, "kmeans_accuracy": np.array([0.5, 0.7], np.float32),
        "kmeans_mean": 0.6, "kmeans_std": 0.1414,
    }  # fmt: skip
    return run


def test_new_blocks_appear_in_the_metrics_frame() -> None:
    frame = R.metrics_frame({"VAE": {"schema_version": 2, "model": "VAE", "runs": {42: _v2_run()}}})
    value = frame.set_index(["eval_set", "metric"])["value"]
    assert value[("distribution_prior", "fd")] == 12.5 and value[("distribution_prior", "recall")] == 0.25
    assert ("distribution_prior", "n_fake") not in value.index
    assert value[("codes", "probe_accuracy")] == 0.75 and value[("codes", "kmeans_accuracy")] == 0.6


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda m: m["generation"]["sets"].update(gan={}), "unknown generation sets"),
        (lambda m: m["generation"]["sets"]["prior"].update(fd="12"), "sets.prior.fd: number"),
        (lambda m: m["generation"].pop("feature_net"), "metrics.generation is missing"),
        (lambda m: m["codes"].update(kmeans_accuracy=[0.5]), "kmeans_accuracy must be a 1-D"),
        (lambda m: m["codes"].pop("probe_accuracy"), "metrics.codes is missing"),
    ],
)
def test_damaged_new_blocks_are_refused_with_the_place_named(damage, message) -> None:
    run = _v2_run()
    R.validate_run(run)
    damage(run["metrics"])
    with pytest.raises(R.ResultsError, match=message):
        R.validate_run(run)


def test_a_future_schema_version_is_refused_naming_the_readable_ones(tmp_path: Path) -> None:
    import pickle

    path = tmp_path / "VAE_MNIST.pkl"
    path.write_bytes(pickle.dumps({"schema_version": 4, "model": "VAE", "dataset": "MNIST", "runs": {}}))
    with pytest.raises(R.ResultsError, match="versions 1, 2, 3"):
        R.load_results(path)
