"""run_all.sh --executor slurm (shared/slurm.py) and --dry-run.

The first tests need no Slurm: options, the one-line refusals, the dry-run text, the task's
checkpoint and the status tracking (against a scripted squeue). The rest run against a real
single-node cluster that tools/slurm_cluster.sh installs (apt, if missing), starts and stops:
munged, slurmctld and slurmd, without the accounting daemon: submitit's sacct would only warn
"status may be inaccurate" there; run_all.sh never asks sacct (squeue and the tasks' outcome
files), and these tests pass with ``sacct`` answering "accounting storage is disabled". Without
root or a package registry they are skipped with the reason, except in CI (``CI`` set), where
they must run. Extra CI time measured: see the README's "On a cluster".
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared import batch, results, slurm

ROOT = Path(__file__).resolve().parents[1]
RUN_ALL = str(ROOT / "run_all.sh")
CLUSTER = str(ROOT / "tools" / "slurm_cluster.sh")
DAEMONS = ("munged", "slurmctld", "slurmd")


def _refused(capsys, argv: list[str]) -> str:
    """``run_all.sh argv`` stops with exit 2 and one line on stderr; returns it."""
    with pytest.raises(SystemExit) as exc:
        batch.parse_args(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("run_all.sh: error:"), err
    return err


# ------------------------------------------------------------------ without Slurm


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--slurm-time", "soon"], "--slurm-time"),
        (["--slurm-time", "0"], "--slurm-time"),
        (["--slurm-time", "1:2:3:4"], "--slurm-time"),
        (["--slurm-cpus-per-task", "0"], "--slurm-cpus-per-task"),
        (["--slurm-gpus-per-task", "-1"], "--slurm-gpus-per-task"),
        (["--slurm-gpus-per-task", "one"], "--slurm-gpus-per-task"),
        (["--slurm-mem", "lots"], "--slurm-mem"),
        (["--slurm-mem", "0G"], "--slurm-mem"),
        (["--slurm-array-parallelism", "0"], "--slurm-array-parallelism"),
        (["--slurm-partition", "a b"], "--slurm-partition"),
        (["--slurm-account", ""], "--slurm-account"),
        (["--slurm-extra=qos=high"], "not a long sbatch option"),
        (["--slurm-extra=--array=0-3"], "--array is set by the executor"),
        (["--slurm-extra=--output=x.log"], "--output is set by the executor"),
        (["--reevaluate"], "--reevaluate"),
    ],
)
def test_bad_slurm_options_exit_2_with_one_line(capsys, argv, says):
    assert says in _refused(capsys, ["--executor", "slurm", *argv])


def test_slurm_options_need_the_slurm_executor(capsys):
    assert "--slurm-partition needs --executor slurm" in _refused(capsys, ["--slurm-partition", "gpu"])
    assert "invalid choice" in _refused(capsys, ["--executor", "pbs"])


def test_a_bad_config_file_is_refused_with_one_line(capsys, tmp_path):
    missing = tmp_path / "none.toml"
    assert "none.toml" in _refused(capsys, ["--executor", "slurm", "--slurm-config", str(missing)])
    bad = tmp_path / "bad.toml"
    bad.write_text("partition = \n")
    assert "not TOML" in _refused(capsys, ["--executor", "slurm", "--slurm-config", str(bad)])
    bad.write_text('partitoin = "gpu"\n')
    assert "unknown key 'partitoin'" in _refused(capsys, ["--executor", "slurm", "--slurm-config", str(bad)])
    bad.write_text("cpus_per_task = 0\n")
    assert "--slurm-cpus-per-task" in _refused(capsys, ["--executor", "slurm", "--slurm-config", str(bad)])


def test_bad_slurm_options_through_run_all_sh_print_nothing_else():
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(
        [RUN_ALL, "--executor", "slurm", "--slurm-mem", "lots"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("run_all.sh: error:")


def test_options_come_from_the_config_file_then_the_flags(tmp_path):
    config = tmp_path / "slurm.toml"
    config.write_text(
        'partition = "gpu"\ntime = "1-00:00:00"\ncpus_per_task = 4\ngpus_per_task = 1\nmem = "16G"\n'
        'array_parallelism = 8\naccount = "vae"\nextra = ["--qos=high --exclusive"]\n'
    )
    args = batch.parse_args(["--executor", "slurm", "--slurm-config", str(config), "--slurm-time", "90"])
    assert args.slurm == slurm.SlurmOptions(
        partition="gpu",
        time=90,  # the flag wins
        cpus_per_task=4,
        gpus_per_task=1,
        mem="16G",
        array_parallelism=8,
        account="vae",
        extra=["--qos=high --exclusive"],
    )
    params = args.slurm.submitit_parameters("vae-quick")
    assert params["additional_parameters"] == {"qos": "high", "exclusive": True}
    assert params["gpus_per_task"] == 1 and params["time"] == 90
    flags = args.slurm.sbatch_flags("vae-quick", 3, tmp_path)
    for flag in ("--array=0-2%3", "--partition=gpu", "--gpus-per-task=1", "--qos=high", "--exclusive"):
        assert flag in flags
    assert batch.parse_args([]).slurm is None  # local: untouched


@pytest.mark.parametrize(
    "text, minutes",
    [("90", 90), (45, 45), ("1:30", 2), ("1:30:00", 90), ("2-00", 2880), ("1-12:00", 2160), ("0-0:0:1", 1)],
)
def test_slurm_time_formats(text, minutes):
    assert slurm.parse_time(text) == minutes


def _dry_run(capsys, argv: list[str]) -> str:
    assert batch.main(["--dry-run", "--profile", "smoke", *argv]) == 0
    return capsys.readouterr().out


def test_dry_run_prints_the_plan_and_writes_nothing(capsys, tmp_path):
    out = tmp_path / "out"
    common = ["--models", "AE,VAE", "--seeds", "1,2", "--results-dir", str(out)]
    text = _dry_run(capsys, common)
    assert "4 runs: 4 to run, 0 already stored as ok" in text and "executor local" in text
    assert text.count("-m shared.notebook_run") == 5 and "evaluation.ipynb" in text  # 4 runs + the evaluation
    text = _dry_run(capsys, [*common, "--executor", "slurm", "--threads", "3", "--slurm-time", "2:00:00"])
    assert "one array of 4 tasks" in text
    (options,) = [line for line in text.splitlines() if line.startswith("sbatch options: ")]
    for flag in (
        "--array=0-3%4",
        "--cpus-per-task=3",
        "--time=120",
        "--signal=USR2@90",
        "--job-name=vae-smoke",
    ):
        assert flag in options.split()
    assert (
        "task 3:" in text and "-p threads 3" in text and "when the array has finished" in text
    )  # CPUs = threads
    assert not out.exists()


def test_dry_run_commands_are_the_ones_run_one_runs(monkeypatch, tmp_path):
    """The dry run builds its commands itself: they must be what Runner.run_one executes."""
    args = batch.parse_args(["--profile", "smoke", "--device", "cpu", "--results-dir", str(tmp_path)])
    dirs = batch.output_dirs(args.profile, args.results_dir)
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    ran = []

    class FakeProcess:
        def __init__(self, cmd, **kwargs):
            ran.append(cmd)
            self.pid = os.getpid()

        def wait(self):
            return 1  # "crashed": run_one reads no results

    monkeypatch.setattr(batch.subprocess, "Popen", FakeProcess)
    runner = batch.Runner(args, dirs)
    runner.threads = 3
    assert runner.run_one("VAE", 7).status == "crashed"
    # run_one starts it through shared.lifeline (it dies with the batch); the command inside is the same
    assert ran == [batch.with_lifeline(slurm.notebook_command(args, dirs, "VAE", 7, 3))]


def test_checkpoint_stops_the_notebook_and_hands_back_the_task_without_force(tmp_path):
    import cloudpickle
    import submitit

    args = batch.parse_args(
        ["--executor", "slurm", "--profile", "smoke", "--force", "--results-dir", str(tmp_path)]
    )
    dirs = batch.output_dirs(args.profile, args.results_dir)
    task = slurm.NotebookTask(args, dirs, slurm.slurm_dir(dirs), {"MNIST_DIR": "/data"})
    task._runner = batch.Runner(args, dirs)
    notebook = subprocess.Popen(["sleep", "60"], start_new_session=True)  # stands for papermill
    task._runner.children.add(notebook)
    delayed = task.checkpoint("VAE", 7)
    assert notebook.wait(timeout=5) == -signal.SIGTERM  # stopped by checkpoint, not left running
    assert isinstance(delayed, submitit.helpers.DelayedSubmission)
    assert delayed.args == ("VAE", 7) and isinstance(delayed.function, slurm.NotebookTask)
    assert delayed.function.args.force is False and args.force is True  # never re-runs a stored run
    again = cloudpickle.loads(cloudpickle.dumps(delayed.function))  # submitit pickles it for the requeue
    assert again.environ == {"MNIST_DIR": "/data"} and again._runner is None


def test_status_comes_from_squeue_and_the_outcome_files(monkeypatch, tmp_path, capsys):
    """No sacct: a task in an active state is waited for; a finished one reports its outcome file;
    one that left the queue without an outcome is reported crashed with the logs it left."""
    dirs = {"executed": tmp_path / "executed", "results": tmp_path}
    folder = slurm.slurm_dir(dirs)
    (tmp_path / "executed").mkdir()
    (tmp_path / "executed" / "AE_seed2.log").write_text("Traceback ...")
    waiting = {
        "VAE:1": {"job_id": "5_0", "stderr": str(folder / "logs/5_0_0_log.err")},
        "AE:2": {"job_id": "5_1", "stderr": str(folder / "logs/5_1_0_log.err")},
    }
    polls = iter(
        [
            {"5_0": "RUNNING", "5_1": "PENDING"},
            {"5_0": "RUNNING", "5_1": "RUNNING"},
            {"5_0": "COMPLETED", "5_1": "RUNNING"},
            {"5_1": "FAILED"},  # 5_0 aged out of squeue: its outcome file says enough
            {},
            {},
        ]
    )

    def fake_squeue():
        states = next(polls)
        if states.get("5_0") == "COMPLETED":
            record = batch.Outcome("VAE", 1, "ok", 12.5, "")
            slurm._write_outcome(slurm.outcome_path(folder, "VAE", 1), record, "5_0")
        return states

    monkeypatch.setattr(slurm, "squeue_states", fake_squeue)
    monkeypatch.setattr(slurm, "POLL_SECONDS", 0.0)
    stale = batch.Outcome("AE", 2, "ok", 1.0, "")  # an earlier job's outcome does not count
    slurm._write_outcome(slurm.outcome_path(folder, "AE", 2), stale, "3_0")
    outcomes = {
        (o.model, o.seed): o for o in slurm._wait(dict(waiting), dirs, folder, 2, 0, time.perf_counter())
    }
    assert outcomes[("VAE", 1)].status == "ok" and outcomes[("VAE", 1)].seconds == 12.5
    crashed = outcomes[("AE", 2)]
    assert crashed.status == "crashed" and "Slurm job 5_1 ended FAILED" in crashed.note
    assert str(tmp_path / "executed" / "AE_seed2.log") in crashed.note
    printed = capsys.readouterr().out
    assert "[  1/2] VAE" in printed and "[  2/2] AE" in printed


# ------------------------------------------------------------------ a real single-node cluster


@dataclass
class Cluster:
    folder: Path
    env: dict
    pids: dict

    def run(self, *cmd: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(list(cmd), capture_output=True, text=True, env=self.env, timeout=60, **kw)

    def states(self) -> dict[str, str]:
        out = self.run("squeue", "-h", "-r", "-t", "all", "-o", "%i|%T").stdout
        return dict(line.split("|", 1) for line in out.split())


def _why_no_slurm() -> str | None:
    if not sys.platform.startswith("linux"):
        return "the test cluster runs on Linux"
    if os.geteuid() != 0:
        return "not root: the test cluster (munged, slurmctld, slurmd) runs as root"
    installed = all(shutil.which(t) for t in ("slurmctld", "slurmd", "sbatch", "munged"))
    if not installed and not shutil.which("apt-get"):
        return "Slurm is not installed and there is no apt-get to install slurm-wlm and munge"
    return None


def _no_slurm(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the Slurm tests: {why}")
    pytest.skip(why)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    why = _why_no_slurm()
    if why:
        _no_slurm(why)
    folder = tmp_path_factory.mktemp("slurm_cluster")
    start = subprocess.run([CLUSTER, "start", str(folder)], capture_output=True, text=True, timeout=600)
    pids = {d: int(p.read_text()) for d in DAEMONS if (p := folder / f"{d}.pid").exists()}
    if start.returncode != 0:
        subprocess.run([CLUSTER, "stop", str(folder)], capture_output=True, timeout=120)
        lines = (start.stderr or start.stdout).strip().splitlines() or ["no message"]
        _no_slurm(f"the test cluster did not start: {lines[-1]}")
    env = {**os.environ, "SLURM_CONF": str(folder / "slurm.conf"), "PYTHON": sys.executable}
    yield Cluster(folder, env, pids)
    subprocess.run([CLUSTER, "stop", str(folder)], capture_output=True, timeout=120)
    assert not [d for d, pid in pids.items() if _alive(pid)], "a daemon outlived the test"


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    """The uninterrupted run the requeue test compares with, through the local path (quick profile,
    AE, seed 42; one torch thread, run_all's default on both executors). Started when the first cluster test starts,
    before the cluster itself, so it runs on the cores the installation and the smoke batch leave
    idle; the requeue test waits for it."""
    why = _why_no_slurm()
    if why:
        _no_slurm(why)
    out = tmp_path_factory.mktemp("local_reference")
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.Popen(
        [RUN_ALL, "--profile", "quick", "--models", "AE", "--skip-evaluation", "--results-dir", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    yield out, proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def _run_all(cluster: Cluster, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([RUN_ALL, *args], capture_output=True, text=True, env=cluster.env, timeout=900)


def _popen_run_all(cluster: Cluster, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [RUN_ALL, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cluster.env
    )


def _jobs(out: Path) -> dict:
    try:
        return json.loads((out / "executed" / "slurm" / "jobs.json").read_text())
    except (OSError, ValueError):
        return {}


@pytest.mark.slow
def test_slurm_refuses_options_the_cluster_cannot_meet_with_one_line(local_reference, cluster, tmp_path):
    proc = _run_all(
        cluster, "--executor", "slurm", "--profile", "smoke", "--models", "AE", "--results-dir", str(tmp_path),
        "--slurm-partition", "nosuch",
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "partition" in proc.stderr, proc.stderr
    assert not _jobs(tmp_path) and not cluster.states()  # nothing submitted


@pytest.mark.slow
def test_smoke_batch_on_slurm_cancelled_task_reported_then_alone_resubmitted(cluster, tmp_path):
    out = tmp_path / "smoke"
    args = [
        "--executor", "slurm", "--profile", "smoke", "--models", "AE,VAE", "--seeds", "1,2",
        "--results-dir", str(out), "--slurm-time", "20",
    ]  # fmt: skip
    plan = _run_all(cluster, *args, "--dry-run")
    assert plan.returncode == 0 and "one array of 4 tasks" in plan.stdout, plan.stdout + plan.stderr
    (options,) = [ln.split(": ", 1)[1] for ln in plan.stdout.splitlines() if ln.startswith("sbatch options:")]

    first = _popen_run_all(cluster, *args, "--skip-evaluation")
    cancelled, deadline = None, time.time() + 300
    while cancelled is None and first.poll() is None and time.time() < deadline:
        states = cluster.states()
        for key, entry in _jobs(out).items():  # the first task whose notebook runs is cancelled
            model, seed = key.split(":")
            started = (out / "executed" / f"{model}_seed{seed}.log").exists()
            if states.get(entry["job_id"]) == "RUNNING" and started:
                cluster.run("scancel", entry["job_id"])
                cancelled = (key, entry)
                break
        time.sleep(0.3)
    output = first.communicate(timeout=600)[0]
    assert cancelled, output
    (key, entry) = cancelled
    model, seed = key.split(":")
    array = entry["job_id"].split("_")[0]
    script = (out / "executed" / "slurm" / "logs" / f"{array}_submission.sh").read_text()
    submitted = sorted(ln.removeprefix("#SBATCH ") for ln in script.splitlines() if ln.startswith("#SBATCH"))
    assert submitted == options.split()  # the dry run printed exactly what was submitted

    assert first.returncode == 1, output  # a crashed run: exit 1, as the local path
    (line,) = [
        ln
        for ln in output.splitlines()
        if ln.startswith("[") and f" {model} " in ln and f"seed {seed} " in ln
    ]
    assert "crashed" in line and f"Slurm job {entry['job_id']} ended CANCELLED" in line, line
    assert entry["stderr"] in line and f"{model}_seed{seed}.log" in line, line  # its logs, named
    assert "runs: 3 ok, 0 skipped, 0 failed, 1 crashed" in output, output

    again = _run_all(cluster, *args)  # the same command (now evaluating): only the cancelled run goes
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "1 submitted, 0 already queued or running, 3 already stored as ok" in again.stdout, again.stdout
    assert "runs: 1 ok, 3 skipped, 0 failed, 0 crashed; evaluation notebook: ok" in again.stdout, again.stdout
    for name in ("AE", "VAE"):
        data = results.load_results(results.results_path(out, name))  # validates the schema
        for s in (1, 2):
            run = data["runs"][s]
            assert run["status"] == "ok" and run["profile"] == "smoke" and run["metrics"] is not None
            for suffix in (".ipynb", ".html", ".log"):
                assert (out / "executed" / f"{name}_seed{s}{suffix}").exists()
    assert (out / "executed" / "evaluation.ipynb").exists()
    assert list((out / "tables").glob("*.csv")) and list((out / "figures").glob("*.png"))

    rest = _run_all(cluster, *args, "--dry-run")
    assert "4 runs: 0 to run, 4 already stored as ok" in rest.stdout, rest.stdout
    no_accounting = cluster.run("sacct")
    assert no_accounting.returncode != 0 and "accounting storage is disabled" in no_accounting.stderr.lower()


@pytest.mark.slow
def test_requeued_task_resumes_with_the_numbers_of_an_uninterrupted_run(local_reference, cluster, tmp_path):
    """quick profile (4 epochs): a preemption drill after epoch 1 (submitit's own: SIGTERM, then its
    USR2); the task is requeued, resumes from its checkpoint and stores, bit for bit, what the local
    path stores for the same run uninterrupted (1 torch thread in both)."""
    from tools import compare_results

    on_slurm = tmp_path / "slurm"
    local, reference = local_reference
    task = _popen_run_all(
        cluster, "--profile", "quick", "--models", "AE", "--skip-evaluation", "--executor", "slurm",
        "--results-dir", str(on_slurm), "--slurm-cpus-per-task", "1", "--slurm-time", "30",
    )  # fmt: skip
    checkpoint = on_slurm / "checkpoints" / "AE_seed42.pt"
    deadline = time.time() + 400
    while not checkpoint.exists() and task.poll() is None and time.time() < deadline:
        time.sleep(0.3)
    assert checkpoint.exists(), "no epoch finished"
    job = _jobs(on_slurm)["AE:42"]["job_id"]
    cluster.run("scancel", "--signal=TERM", job)
    time.sleep(1)
    cluster.run("scancel", "--signal=USR2", job)
    deadline = time.time() + 120
    while cluster.states().get(job) != "PENDING" and time.time() < deadline:
        time.sleep(0.3)
    assert cluster.states().get(job) == "PENDING", "not requeued"
    # Slurm holds a requeued job ~2 min; release it, but not within the second of its requeue: its
    # credential was revoked at a 1-s resolution, and a restart in the same second is killed as
    # "non-startable batch job: Job credential revoked" (seen in slurmctld.log on a fast machine).
    time.sleep(2)
    cluster.run("scontrol", "update", f"JobId={job}", "StartTime=now")
    task_out = task.communicate(timeout=600)[0]
    reference_out = reference.communicate(timeout=600)[0]
    assert task.returncode == 0 and reference.returncode == 0, task_out[-3000:] + reference_out[-3000:]
    assert "runs: 1 ok, 0 skipped, 0 failed, 0 crashed" in task_out and "(requeued 1x)" in task_out, task_out
    log = (on_slurm / "executed" / "slurm" / "logs" / f"{job}_0_log.out").read_text()
    assert "this job is preempted" in log and f"Requeued job {job}" in log, log
    assert (
        "Resuming from the checkpoint after epoch" in (on_slurm / "executed" / "AE_seed42.ipynb").read_text()
    )
    assert not checkpoint.exists()
    threads = [
        results.load_results(results.results_path(d, "AE"))["runs"][42]["config"]["training"]["threads"]
        for d in (on_slurm, local)
    ]
    assert threads == [1, 1]
    assert compare_results.main([str(on_slurm), str(local)]) == 0  # metrics, samples, weights, history


@pytest.mark.slow
def test_the_cluster_script_stops_every_daemon_it_started(cluster):
    assert set(cluster.pids) == set(DAEMONS) and all(_alive(pid) for pid in cluster.pids.values())
    stop = subprocess.run([CLUSTER, "stop", str(cluster.folder)], capture_output=True, text=True, timeout=120)
    assert stop.returncode == 0, stop.stderr
    assert not [d for d, pid in cluster.pids.items() if _alive(pid)]
