"""Re-evaluation from stored weights (shared.reevaluate): unchanged models keep their numbers bit for
bit, version-1 runs gain the new blocks, runs that cannot be re-evaluated are named."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from shared import reevaluate, results
from tests.stored_runs import store_smoke_run
from tools.compare_results import differences

SCALE_FREE = ("endpoint_distance", "path_excess", "step_cv")


@pytest.fixture(scope="module")
def stored_run(mnist_dir, tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("results")
    return folder, store_smoke_run("VAE", mnist_dir, folder)[0]


def test_reevaluating_an_unchanged_model_reproduces_every_stored_number(stored_run, mnist_dir) -> None:
    folder, before = stored_run
    outcomes = reevaluate.reevaluate(folder, ["VAE"], data_dir=str(mnist_dir))
    assert [o[:2] for o in outcomes] == [("VAE", 42)] and outcomes[0][2].startswith("re-evaluated")
    after = results.load_results(folder / "VAE_MNIST.pkl")["runs"][42]
    for part in ("metrics", "samples", "eval_indices", "weights", "history", "training"):
        assert differences(before[part], after[part], part) == [], part
    assert set(after["metrics"]["generation"]["sets"]) == {"prior", "gmm", "reconstruction_mean"}
    assert "reevaluated" in after["config"] and "reevaluated" not in before["config"]


def test_reevaluation_uses_the_runs_thread_count_and_gives_its_numbers(
    stored_run, mnist_dir, tmp_path
) -> None:
    """Evaluated with 1 thread, re-evaluated from a process using 2: the stored bits, because the
    run's own count is used (with 2 threads the decoder's sums split differently)."""
    _, before = stored_run
    assert before["config"]["training"]["threads"] == 1
    results.save_run(tmp_path, "VAE", 42, before)
    torch.set_num_threads(2)
    reevaluate.reevaluate(tmp_path, ["VAE"], data_dir=str(mnist_dir))
    assert torch.get_num_threads() == 2  # restored afterwards
    after = results.load_results(tmp_path / "VAE_MNIST.pkl")["runs"][42]
    for part in ("metrics", "samples"):
        assert differences(before[part], after[part], part) == [], part


def _as_version_1(run: dict) -> dict:
    """The run as the version-1 code stored it: no generation, codes or scale-free metrics."""
    metrics = {k: v for k, v in run["metrics"].items() if k not in ("generation", "codes")}
    interp = metrics["interpolation"]
    metrics["interpolation"] = {part: {k: v for k, v in interp[part].items() if k not in SCALE_FREE}
                                for part in interp}  # fmt: skip
    samples = {k: v for k, v in run["samples"].items() if not k.startswith("generated_")}
    return {**run, "metrics": metrics, "samples": samples}


def test_a_version_1_run_gains_the_new_metrics_and_keeps_the_old(stored_run, mnist_dir, tmp_path) -> None:
    _, run = stored_run
    old = _as_version_1(run)
    path = tmp_path / "VAE_MNIST.pkl"
    path.write_bytes(
        pickle.dumps({"schema_version": 1, "model": "VAE", "dataset": "MNIST", "runs": {42: old}})
    )
    reevaluate.reevaluate(tmp_path, ["VAE"], data_dir=str(mnist_dir))
    data = results.load_results(path)
    new = data["runs"][42]
    assert data["schema_version"] == results.SCHEMA_VERSION
    assert (
        "generation" in new["metrics"] and "codes" in new["metrics"] and "generated_prior" in new["samples"]
    )
    assert set(SCALE_FREE) <= set(new["metrics"]["interpolation"]["mean"])
    recon = "metrics.reconstruction"
    assert differences(old["metrics"]["reconstruction"], new["metrics"]["reconstruction"], recon) == []


def test_runs_without_weights_or_with_other_data_are_skipped_and_say_why(
    stored_run, mnist_dir, tmp_path
) -> None:
    _, run = stored_run
    path = tmp_path / "VAE_MNIST.pkl"
    other_data = {**run["config"], "data": {**run["config"]["data"], "n_test": 123}}
    runs = {1: {**run, "seed": 1, "weights": None}, 2: {**run, "seed": 2, "config": other_data}}
    path.write_bytes(pickle.dumps({"schema_version": 2, "model": "VAE", "dataset": "MNIST", "runs": runs}))
    notes = {
        seed: note for _, seed, note in reevaluate.reevaluate(tmp_path, ["VAE"], data_dir=str(mnist_dir))
    }
    assert notes[1].startswith("skipped") and "no trained weights" in notes[1]
    assert notes[2].startswith("skipped") and "data differ" in notes[2]
    assert differences(results.load_results(path)["runs"][2]["metrics"], run["metrics"], "m") == []
    assert reevaluate.reevaluate(tmp_path, ["AE"]) == [("AE", -1, "no results file")]


def test_command_line_errors_are_one_line(tmp_path) -> None:
    cmd = [sys.executable, "-m", "shared.reevaluate", "--results-dir", str(tmp_path / "nowhere")]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert out.returncode == 2 and "no such folder" in out.stderr and "Traceback" not in out.stderr
    bad = subprocess.run([*cmd[:-1], str(tmp_path), "--models", "NoSuchVAE"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown model" in bad.stderr and "Traceback" not in bad.stderr
