"""A second checkout sharing this venv runs its own code in its notebooks, not the installed one.

The venv's ``pip install -e .`` points at one checkout; the notebooks import the installed
package unless ``$VAE_BENCH_ROOT`` says otherwise, so a batch started from another clone or git
worktree used to train and evaluate with the installed checkout's code. The stored run's
``config.git_commit`` tells which code ran.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared import results

ROOT = Path(__file__).resolve().parents[1]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.slow
def test_a_batch_from_a_second_clone_runs_that_clones_code(tmp_path):
    clone = tmp_path / "clone"
    _git(ROOT, "clone", "--quiet", "--local", str(ROOT), str(clone))
    who = ["-c", "user.name=test", "-c", "user.email=test@example.org"]
    _git(clone, *who, "commit", "--quiet", "--allow-empty", "-m", "a commit only the clone has")
    env = {k: v for k, v in os.environ.items() if k != "VAE_BENCH_ROOT"} | {"PYTHON": sys.executable}
    cmd = [str(clone / "run_all.sh"), "--profile", "smoke", "--models", "AE", "--skip-evaluation"]
    out = subprocess.run(
        [*cmd, "--results-dir", str(tmp_path / "r")], capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 0, out.stdout + out.stderr
    run = results.load_results(tmp_path / "r" / "AE_MNIST.pkl")["runs"][42]
    assert run["config"]["git_commit"] == _git(clone, "rev-parse", "--short", "HEAD")
