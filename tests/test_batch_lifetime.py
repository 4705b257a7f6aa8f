"""Nothing trains twice, nothing outlives its batch (issue: a SIGTERM or SIGKILL of run_all.sh left
its notebooks running, and a re-run meanwhile trained the same (model, seed) beside them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import papermill
import pytest

from shared import results, runlock

ROOT = Path(__file__).resolve().parents[1]
HOLD = "import sys, time; from shared import runlock; runlock.hold(sys.argv[1], 'VAE', 42); print('held', flush=True); time.sleep(120)"


def _hold_elsewhere(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_held_run_lock_is_refused_naming_its_holder_and_a_dead_holder_blocks_nothing(
    tmp_path: Path,
) -> None:
    holder = _hold_elsewhere(tmp_path)
    with pytest.raises(results.ResultsError, match=f"already being trained \\(pid {holder.pid} on ") as info:
        runlock.hold(tmp_path, "VAE", 42)
    assert len(str(info.value).splitlines()) == 1
    holder.kill()  # SIGKILL: no cleanup ran, its lock file is still there
    holder.wait()
    assert runlock.lock_path(tmp_path, "VAE", 42).exists()
    runlock.hold(tmp_path, "VAE", 42)
    runlock.release(tmp_path, "VAE", 42)
    assert list((tmp_path / "checkpoints").iterdir()) == []


@pytest.mark.slow
def test_a_notebook_of_a_run_in_progress_stops_before_training(tmp_path: Path) -> None:
    holder = _hold_elsewhere(tmp_path / "res")
    try:
        with pytest.raises(papermill.PapermillExecutionError, match="already being trained"):
            papermill.execute_notebook(
                str(ROOT / "notebooks" / "VAE_training.ipynb"),
                str(tmp_path / "out.ipynb"),
                parameters={"profile": "smoke", "seed": 42, "results_dir": str(tmp_path / "res")},
                kernel_name="python3",
                progress_bar=False,
            )
    finally:
        holder.kill()
    assert "epoch 1/" not in (tmp_path / "out.ipynb").read_text()
    assert not results.results_path(tmp_path / "res", "VAE").exists()


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process (Linux /proc)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                out[int(entry.name)] = (ppid, (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except (OSError, IndexError, ValueError):
                pass
    return out


def _descendants(pid: int) -> set[int]:
    table, found, frontier = _processes(), set(), {pid}
    while frontier:
        frontier = {p for p, (ppid, _) in table.items() if ppid in frontier} - found
        found |= frontier
    return found


def _start_batch(tmp_path: Path) -> tuple[subprocess.Popen, set[int]]:
    """A smoke batch of two notebooks, once both kernels have started: (batch, its descendants)."""
    cmd = ["./run_all.sh", "--profile", "smoke", "--models", "VAE,AE", "--jobs", "2", "--skip-evaluation"]
    batch = subprocess.Popen(
        [*cmd, "--results-dir", str(tmp_path / "res")], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        family = _descendants(batch.pid)
        if sum("ipykernel" in _processes().get(p, (0, ""))[1] for p in family) == 2:
            return batch, family
        time.sleep(0.5)
    batch.kill()
    pytest.fail("the batch's two kernels did not start within 90 s")


def _alive(pids: set[int]) -> set[int]:
    return {p for p in pids if Path(f"/proc/{p}").exists() and "(Z)" not in _state(p)}


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1][:4]
    except OSError:
        return "(Z)"


def _wait_gone(pids: set[int], seconds: float = 20) -> set[int]:
    deadline = time.monotonic() + seconds
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.5)
    return _alive(pids)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_notebooks_die_with_their_batch(tmp_path: Path, sig: int) -> None:
    batch, family = _start_batch(tmp_path)
    os.kill(batch.pid, sig)
    code = batch.wait(timeout=60)
    assert _wait_gone(family) == set(), "notebooks still running after the batch died"
    if sig == signal.SIGTERM:
        assert code == 130 and "Interrupted" in batch.stdout.read()
