"""A run's numbers do not depend on --jobs: every run gets the same, recorded thread count (#18 item 11)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared import batch, results
from tools.compare_results import differences

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("jobs", ["1", "2", "3"])
def test_threads_per_run_are_fixed_whatever_the_jobs(jobs, tmp_path) -> None:
    args = batch.parse_args(
        ["--profile", "smoke", "--models", "VAE", "--jobs", jobs, "--results-dir", str(tmp_path)]
    )
    assert batch.Runner(args, batch.output_dirs("smoke", args.results_dir)).threads == 1


def test_bad_thread_count_is_one_line() -> None:
    out = subprocess.run([str(ROOT / "run_all.sh"), "--threads", "0"], capture_output=True, text=True,
                         env={**os.environ, "PYTHON": sys.executable})  # fmt: skip
    assert out.returncode == 2 and "--threads must be >= 1" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_jobs_1_and_jobs_2_give_identical_runs(tmp_path) -> None:
    stored = {}
    for jobs in ("1", "2"):
        folder = tmp_path / f"jobs{jobs}"
        cmd = [str(ROOT / "run_all.sh"), "--profile", "smoke", "--models", "VAE,AE", "--seeds", "42",
               "--jobs", jobs, "--results-dir", str(folder), "--skip-evaluation"]  # fmt: skip
        run = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable},
                             timeout=900)  # fmt: skip
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        stored[jobs] = results.load_results_dir(folder)
    for model in ("VAE", "AE"):
        a, b = stored["1"][model]["runs"][42], stored["2"][model]["runs"][42]
        for part in ("weights", "metrics", "samples"):
            assert differences(a[part], b[part], f"{model}.{part}") == []
        assert a["config"]["training"]["threads"] == b["config"]["training"]["threads"] == 1
