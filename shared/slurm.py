"""``run_all.sh --executor slurm``: one Slurm array task per (model, seed), through submitit; and
``--dry-run`` for both executors.

Each task runs, on its node, exactly what the local runner runs for that (model, seed): it calls
:meth:`shared.batch.Runner.run_one` (the same papermill command and parameters, the same results
file, executed notebook and log, the same ``--threads``; a task asks for that many CPUs unless
``--slurm-cpus-per-task`` says otherwise), so its numbers are the local path's. The submitting
process waits for the array (one line per finished task, as the local runner prints), then runs
the evaluation notebook itself and prints the summary table: the evaluation reads every results
file, takes a minute and needs no node (``--skip-evaluation`` leaves it out).

Requeue: a task whose time limit comes near, or that is preempted, receives submitit's signal
(USR2, ``signal_delay_s`` before the limit); submitit then calls :meth:`NotebookTask.checkpoint`,
which stops the running notebook (its per-epoch checkpoint ``<results>/checkpoints/<MODEL>_seed<seed>.pt``
is on disk) and hands back the same task, and submitit requeues it (``scontrol requeue``). The
requeued task runs the same notebook, which resumes after its last finished epoch with the
numbers of an uninterrupted run. A task that Slurm requeues by itself (``scontrol requeue``,
preemption in REQUEUE mode) resumes the same way.

Status: from ``squeue`` (slurmctld) and a small outcome file each task writes when its notebook
ends, never from ``sacct``: clusters without the accounting daemon (slurmdbd) work the same. A
task that ends without an outcome (cancelled, killed, out of memory, timed out too often) is
reported crashed with its logs. Re-running the same command skips what is stored as ok, waits for
tasks still queued or running (``<executed>/slurm/jobs.json`` remembers them) and submits the rest.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

# Slurm job states in which a task may still run (anything else, or gone from squeue: finished)
ACTIVE_STATES = {
    "PENDING",
    "RUNNING",
    "CONFIGURING",
    "COMPLETING",
    "REQUEUED",
    "REQUEUE_FED",
    "REQUEUE_HOLD",
    "RESIZING",
    "SIGNALING",
    "SPECIAL_EXIT",
    "STAGE_OUT",
    "STOPPED",
    "SUSPENDED",
    "RESV_DEL_HOLD",
}
# sbatch options the executor sets itself: --slurm-extra may not override them
MANAGED = {"array", "output", "error", "open-mode", "signal", "wrap", "parsable", "test-only"}
POLL_SECONDS = 2.0  # squeue every 2 s at first, then less often: +1 s per 30 s waited, at most 30 s
SIGNAL_DELAY_S = 90  # submitit's default: USR2 this long before the time limit


@dataclasses.dataclass
class SlurmOptions:
    """What each array task asks Slurm for (flags override the --slurm-config file)."""

    partition: str | None = None  # None: the cluster's default partition
    time: int = 120  # minutes per task (a task that reaches it is requeued and resumes)
    cpus_per_task: int | None = None  # None: run_all's --threads (the notebook's torch threads)
    gpus_per_task: int = 0
    mem: str | None = None  # e.g. "8G"; None: the partition's default
    array_parallelism: int | None = None  # tasks running at once; None: no limit (submitit: 256)
    account: str | None = None
    extra: list[str] = dataclasses.field(default_factory=list)  # more sbatch options, "--qos=high"

    def submitit_parameters(self, job_name: str) -> dict[str, Any]:
        """SlurmExecutor.update_parameters keywords."""
        params: dict[str, Any] = {
            "job_name": job_name,
            "time": self.time,
            "cpus_per_task": self.cpus_per_task,
        }
        for key in ("partition", "mem", "account", "array_parallelism"):
            if getattr(self, key) is not None:
                params[key] = getattr(self, key)
        if self.gpus_per_task:
            params["gpus_per_task"] = self.gpus_per_task
        if self.extra:
            params["additional_parameters"] = dict(_split_extra(self.extra))
        params["signal_delay_s"] = SIGNAL_DELAY_S
        return params

    def sbatch_flags(self, job_name: str, n_tasks: int, logs: Path) -> list[str]:
        """The #SBATCH options submitit writes for an array of ``n_tasks`` (a plain job for one),
        sorted as it sorts them (a test compares them with the submitted script)."""
        tag = "%A_%a" if n_tasks > 1 else "%j"
        flags = {
            "job-name": job_name,
            "time": self.time,
            "nodes": 1,
            "cpus-per-task": self.cpus_per_task,
            "partition": self.partition,
            "mem": self.mem,
            "account": self.account,
            "gpus-per-task": self.gpus_per_task or None,
            "wckey": "submitit",
            "signal": f"USR2@{SIGNAL_DELAY_S}",
            "output": f"{logs}/{tag}_0_log.out",
            "error": f"{logs}/{tag}_0_log.err",
            "open-mode": "append",
        }
        if n_tasks > 1:
            flags["array"] = f"0-{n_tasks - 1}%{min(n_tasks, self.array_parallelism or 256)}"
        flags.update(_split_extra(self.extra))
        return [
            f"--{k}" if v is True else f"--{k}={shlex.quote(str(v))}"
            for k, v in sorted(flags.items())
            if v is not None
        ]


# ------------------------------------------------------------------ options


FLAGS = {  # SlurmOptions field -> (flag, metavar, help)
    "partition": ("--slurm-partition", "NAME", "partition (default: the cluster's default)"),
    "time": ("--slurm-time", "TIME", "time limit per task: minutes or [D-]HH:MM[:SS] (default 120 min)"),
    "cpus_per_task": ("--slurm-cpus-per-task", "N", "CPUs per task (default: --threads)"),
    "gpus_per_task": ("--slurm-gpus-per-task", "N", "GPUs per task (default 0)"),
    "mem": ("--slurm-mem", "SIZE", "memory per task, e.g. 8G (default: the partition's)"),
    "array_parallelism": ("--slurm-array-parallelism", "N", "tasks running at once (default: no limit)"),
    "account": ("--slurm-account", "NAME", "account to charge (default: yours)"),
    "extra": ("--slurm-extra", "OPTS", "more sbatch options, e.g. --slurm-extra=--qos=high (repeatable)"),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """--executor, --dry-run and the Slurm options (all default None: the config file fills in)."""
    p.add_argument(
        "--executor",
        choices=["local", "slurm"],
        default="local",
        help="local: notebooks side by side on this machine (default); slurm: one Slurm array task "
        "per (model, seed), the evaluation here when the array has finished",
    )
    p.add_argument("--dry-run", action="store_true", help="print what would run or be submitted, run nothing")
    g = p.add_argument_group("Slurm (with --executor slurm)")
    g.add_argument(
        "--slurm-config",
        default=None,
        metavar="FILE",
        help=f"TOML file with the options below (keys: {', '.join(FLAGS)}); flags override it",
    )
    for field, (flag, metavar, text) in FLAGS.items():
        action = "append" if field == "extra" else "store"
        g.add_argument(flag, action=action, default=None, metavar=metavar, help=text)


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Merge defaults < --slurm-config < flags into ``args.slurm``; one line and exit 2 on a bad
    value (``p.error``)."""
    given = [flag for field, (flag, _, _) in FLAGS.items() if getattr(args, field_dest(field)) is not None]
    if args.slurm_config is not None:
        given.insert(0, "--slurm-config")
    if args.executor != "slurm":
        if given:
            p.error(f"{given[0]} needs --executor slurm")
        args.slurm = None
        return
    if args.reevaluate:
        p.error("--reevaluate runs in this process: leave out --executor slurm")
    try:
        values: dict[str, Any] = {}
        if args.slurm_config is not None:
            values.update(read_config(Path(args.slurm_config)))
        for field in FLAGS:
            value = getattr(args, field_dest(field))
            if value is not None:
                values[field] = value
        args.slurm = make_options(values)
    except ValueError as exc:
        p.error(str(exc))
    if args.slurm.cpus_per_task is None:  # a CPU for each torch thread of the notebook
        args.slurm.cpus_per_task = max(1, args.threads)


def field_dest(field: str) -> str:
    return FLAGS[field][0].lstrip("-").replace("-", "_")


def read_config(path: Path) -> dict[str, Any]:
    """The --slurm-config file: TOML, keys as SlurmOptions' fields."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"--slurm-config {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"--slurm-config {path}: not TOML ({exc})") from None
    unknown = sorted(set(data) - set(FLAGS))
    if unknown:
        raise ValueError(f"--slurm-config {path}: unknown key {unknown[0]!r} (known: {', '.join(FLAGS)})")
    return {k: (v if k != "extra" or not isinstance(v, str) else [v]) for k, v in data.items()}


_NAME = re.compile(r"^[A-Za-z0-9_.,+-]+$")
_MEM = re.compile(r"^[0-9]+[KMGT]?B?$", re.IGNORECASE)
_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def parse_time(text: str | int) -> int:
    """A Slurm time limit -> whole minutes (rounded up): "90", "1:30:00", "2-00", "1-12:00"."""
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    m = _TIME.match(str(text).strip())
    if not m:
        raise ValueError(f"--slurm-time {text!r}: expected minutes or [D-]HH:MM[:SS]")
    days, a, b, c = (int(x) if x is not None else None for x in m.groups())
    if days is not None:  # D-HH, D-HH:MM, D-HH:MM:SS
        seconds = days * 86400 + a * 3600 + (b or 0) * 60 + (c or 0)
    elif b is None:  # MM
        seconds = a * 60
    elif c is None:  # MM:SS
        seconds = a * 60 + b
    else:  # HH:MM:SS
        seconds = a * 3600 + b * 60 + c
    if seconds <= 0:
        raise ValueError(f"--slurm-time {text!r}: must be more than 0")
    return math.ceil(seconds / 60)


def _integer(field: str, value: Any, minimum: int) -> int:
    flag = FLAGS[field][0]
    try:
        number = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise ValueError(f"{flag} must be an integer >= {minimum}, got {value!r}")
    return number


def _split_extra(extra: list[str]) -> list[tuple[str, Any]]:
    """["--qos=high --exclusive"] -> [("qos", "high"), ("exclusive", True)]."""
    out = []
    for chunk in extra:
        for token in shlex.split(chunk):
            if not token.startswith("--") or len(token) < 3:
                raise ValueError(f"--slurm-extra: {token!r} is not a long sbatch option (--name[=value])")
            key, eq, value = token[2:].partition("=")
            if key in MANAGED:
                raise ValueError(f"--slurm-extra: --{key} is set by the executor itself")
            out.append((key, value if eq else True))
    return out


def make_options(values: dict[str, Any]) -> SlurmOptions:
    """Checked SlurmOptions from strings (flags) or TOML values; ValueError names the flag."""
    opts = SlurmOptions()
    for field in ("partition", "account"):
        if field in values:
            text = str(values[field]).strip()
            if not _NAME.match(text):
                raise ValueError(f"{FLAGS[field][0]} {values[field]!r}: not a Slurm name")
            setattr(opts, field, text)
    if "time" in values:
        opts.time = parse_time(values["time"])
    if "cpus_per_task" in values:
        opts.cpus_per_task = _integer("cpus_per_task", values["cpus_per_task"], 1)
    if "gpus_per_task" in values:
        opts.gpus_per_task = _integer("gpus_per_task", values["gpus_per_task"], 0)
    if "array_parallelism" in values:
        opts.array_parallelism = _integer("array_parallelism", values["array_parallelism"], 1)
    if "mem" in values:
        text = str(values["mem"]).strip()
        if not _MEM.match(text) or int(re.match(r"\d+", text).group()) == 0:
            raise ValueError(f"--slurm-mem {values['mem']!r}: expected a size such as 8G or 4000M")
        opts.mem = text.upper().removesuffix("B")
    if "extra" in values:
        extra = values["extra"]
        if not isinstance(extra, list) or not all(isinstance(x, str) for x in extra):
            raise ValueError("--slurm-extra: expected sbatch options as strings")
        _split_extra(extra)  # checks them
        opts.extra = list(extra)
    return opts


# ------------------------------------------------------------------ the task on a node


def outcome_path(slurm_dir: Path, model: str, seed: int) -> Path:
    return Path(slurm_dir) / "outcomes" / f"{model}_seed{seed}.json"


class NotebookTask:
    """One (model, seed) in a Slurm task: ``batch.Runner.run_one``, as the local runner calls it.

    A callable with a ``checkpoint`` method, so submitit requeues it on its preemption/time-limit
    signal instead of letting it die (see the module docstring)."""

    def __init__(self, args: argparse.Namespace, dirs: dict[str, Path], slurm_dir: Path, environ: dict):
        self.args, self.dirs, self.slurm_dir, self.environ = args, dirs, Path(slurm_dir), environ
        self._runner = None
        self._terminated = False

    def __getstate__(self) -> dict:  # the running notebook's process stays behind
        return {k: v for k, v in self.__dict__.items() if k not in ("_runner", "_terminated")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _runner=None, _terminated=False)

    def __call__(self, model: str, seed: int) -> dict:
        from shared import batch

        job_id = _task_job_id()
        out = outcome_path(self.slurm_dir, model, seed)
        out.unlink(missing_ok=True)  # a requeued task's earlier attempt must not speak for it
        os.environ.update(self.environ)
        previous = signal.getsignal(signal.SIGTERM)

        def on_term(signum, frame):  # Slurm cancels, preempts or requeues: the notebook dies with us
            self._terminated = True
            if callable(previous):
                previous(signum, frame)

        signal.signal(signal.SIGTERM, on_term)
        runner = batch.Runner(self.args, self.dirs)  # torch threads: --threads, as on the local path
        self._runner = runner
        try:
            outcome = runner.run_one(model, seed)
        except Exception as exc:  # e.g. submitit's "timed-out too many times": say so, with the log
            runner.stop_children()
            outcome = batch.Outcome(model, seed, "crashed", 0.0, f"{type(exc).__name__}: {exc}")
            _write_outcome(out, outcome, job_id)
            raise
        if outcome.status == "crashed" and self._terminated:
            # the notebook died of Slurm's SIGTERM: this task is being cancelled (SIGKILL follows
            # after KillWait), preempted or requeued (it comes back), or submitit's USR2 follows
            # (checkpoint and requeue). Stay until then instead of reporting a crash.
            deadline = time.time() + 180
            while time.time() < deadline:
                time.sleep(1)
        _write_outcome(out, outcome, job_id)
        return dataclasses.asdict(outcome)

    def checkpoint(self, model: str, seed: int):
        """Called by submitit on USR2 (time limit near, or preemption): stop the notebook (its last
        finished epoch is checkpointed on disk) and return the task to requeue. It resumes from
        that checkpoint; it never re-runs a (model, seed) already stored as ok (force is dropped)."""
        import submitit

        runner = self._runner
        if runner is not None:
            pids = [proc.pid for proc in runner.children]
            runner.stop_children()
            _wait_exit(pids, 30)
        args = argparse.Namespace(**{**vars(self.args), "force": False})
        return submitit.helpers.DelayedSubmission(
            NotebookTask(args, self.dirs, self.slurm_dir, self.environ), model, seed
        )


def _task_job_id() -> str:
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID", "")


def _write_outcome(path: Path, outcome, job_id: str) -> None:
    from shared import results

    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        **dataclasses.asdict(outcome),
        "job_id": job_id,
        "attempt": os.environ.get("SLURM_RESTART_COUNT"),
    }
    results.write_bytes_atomically(path, json.dumps(record).encode())


def _wait_exit(pids: list[int], timeout: float) -> None:
    """Wait until these children have exited (without reaping them: a signal handler may have
    interrupted their parent's own wait), then SIGKILL their process groups if they have not."""
    deadline = time.time() + timeout
    alive = list(pids)
    while alive and time.time() < deadline:
        still = []
        for pid in alive:
            try:
                if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
                    still.append(pid)
            except ChildProcessError:
                pass
        alive = still
        if alive:
            time.sleep(0.2)
    for pid in alive:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# ------------------------------------------------------------------ submitting and waiting


def slurm_dir(dirs: dict[str, Path]) -> Path:
    """Where the array's scripts, pickles, Slurm logs and outcome files go: beside the executed
    notebooks (never in the published results folder)."""
    return Path(dirs["executed"]) / "slurm"


def job_name(args: argparse.Namespace) -> str:
    return f"vae-{args.profile}"


def _load_jobs(folder: Path) -> dict[str, dict]:
    try:
        return json.loads((folder / "jobs.json").read_text())
    except (OSError, ValueError):
        return {}


def _save_jobs(folder: Path, jobs: dict[str, dict]) -> None:
    from shared import results

    folder.mkdir(parents=True, exist_ok=True)
    results.write_bytes_atomically(folder / "jobs.json", json.dumps(jobs, indent=1).encode())


def _key(model: str, seed: int) -> str:
    return f"{model}:{seed}"


def squeue_states() -> dict[str, str] | None:
    """Job id ("12_3" for array tasks) -> state of this user's jobs known to slurmctld, or None
    when squeue does not answer. Finished jobs stay listed for MinJobAge, then drop out."""
    try:
        proc = subprocess.run(
            ["squeue", "-h", "-r", "-t", "all", "-u", pwd.getpwuid(os.getuid()).pw_name, "-o", "%i|%T"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    states = {}
    for line in proc.stdout.splitlines():
        job, _, state = line.strip().partition("|")
        if job:
            states[job] = state.split()[0] if state else ""
    return states


def _refuse(message: str) -> None:
    """One line on stderr and exit status 2, as every bad flag of run_all.sh."""
    from shared import batch

    batch._refuse(message)


def check_cluster(opts: SlurmOptions, name: str, n_tasks: int, logs: Path) -> None:
    """Slurm's own verdict on the options, before anything is submitted (``sbatch --test-only``):
    an unknown partition or account, a time over the partition's limit, GPUs the cluster lacks:
    one line and exit 2."""
    for tool in ("sbatch", "squeue", "srun", "scontrol"):
        if shutil.which(tool) is None:
            _refuse(f"--executor slurm: {tool} not found (run on a Slurm login node)")
    try:
        import submitit  # noqa: F401
    except ImportError:
        _refuse("--executor slurm needs submitit: pip install -r requirements.txt")
    cmd = ["sbatch", "--test-only", *opts.sbatch_flags(name, n_tasks, logs), "--wrap", "true"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        _refuse("sbatch --test-only did not answer in 60 s (is slurmctld up?)")
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower()] or lines or ["no message"]
        _refuse(f"Slurm refuses the options: {errors[0]}")


def _line(n: int, total: int, o, t0: float) -> str:
    """One finished run, as the local runner prints it."""
    return (
        f"[{n:>3}/{total}] {o.model:<20} seed {o.seed:<4} {o.status:<8} "
        f"{o.seconds:6.1f} s  (elapsed {time.perf_counter() - t0:6.1f} s) {o.note}"
    )


def submit(args, dirs, folder: Path, todo: list[tuple[str, int]]) -> dict[str, dict]:
    """One array for ``todo`` (a plain job when it is one run); returns jobs.json entries."""
    import submitit

    opts = args.slurm
    executor = submitit.SlurmExecutor(folder=folder / "logs")
    executor.update_parameters(**opts.submitit_parameters(job_name(args)))
    # carried in the task itself: a cluster may not export the submitting shell's environment
    environ = {k: os.environ[k] for k in ("MNIST_DIR", "VAE_BENCH_ROOT") if k in os.environ}
    task = NotebookTask(args, dirs, folder, environ)
    jobs = executor.map_array(task, [m for m, _ in todo], [s for _, s in todo])
    return {
        _key(m, s): {"job_id": job.job_id, "stdout": str(job.paths.stdout), "stderr": str(job.paths.stderr)}
        for (m, s), job in zip(todo, jobs)
    }


def _crash_note(entry: dict, state: str | None, dirs, model: str, seed: int) -> str:
    """Why a task has no outcome, and the logs it left (as the local runner names its logs)."""
    executed = Path(dirs["executed"]) / f"{model}_seed{seed}"
    how = f"ended {state}" if state else "left the queue"
    logs = [p for p in (entry["stderr"], f"{executed}.ipynb", f"{executed}.log") if Path(p).exists()]
    where = (
        f"see {', '.join(logs[:-1])} and {logs[-1]}"
        if len(logs) > 1
        else (f"see {logs[0]}" if logs else "it never started")
    )
    return f"Slurm job {entry['job_id']} {how} before its notebook finished: {where}"


def run_batch(args, dirs, jobs: list[tuple[str, int]]) -> list:
    """Submit what is missing, wait for every task, return their outcomes (like batch.run_batch)."""
    from shared import batch, results

    folder = slurm_dir(dirs)
    t0 = time.perf_counter()
    known = _load_jobs(folder)
    states = squeue_states() if known else {}
    if states is None:
        _refuse("squeue does not answer (is slurmctld up?)")
    outcomes: list = []
    waiting: dict[str, dict] = {}
    todo: list[tuple[str, int]] = []
    for model, seed in jobs:
        entry = known.get(_key(model, seed))
        if entry and states.get(entry["job_id"]) in ACTIVE_STATES:
            waiting[_key(model, seed)] = entry  # queued or running since an earlier run_all: wait
        elif not args.force and results.is_done(dirs["results"], model, seed, args.profile, args.identity):
            outcomes.append(batch.Outcome(model, seed, "skipped", 0.0, "already stored as ok"))
        else:
            todo.append((model, seed))
    if todo:
        check_cluster(args.slurm, job_name(args), len(todo), folder / "logs")
        entries = submit(args, dirs, folder, todo)
        known.update(entries)
        _save_jobs(folder, known)
        waiting.update(entries)
        array = next(iter(entries.values()))["job_id"].split("_")[0]
        what = f"array {array} ({len(todo)} tasks)" if len(todo) > 1 else f"job {array}"
        flags = args.slurm.sbatch_flags(job_name(args), len(todo), folder / "logs")
        print(f"run_all: submitted {what} to Slurm: {' '.join(flags)}")
    inflight = len(waiting) - len(todo)
    print(
        f"run_all: {len(todo)} submitted, {inflight} already queued or running, {len(outcomes)} already "
        f"stored as ok; Slurm logs in {folder / 'logs'} (Ctrl-C leaves the tasks running)",
        flush=True,
    )
    for n, o in enumerate(outcomes, 1):
        print(_line(n, len(jobs), o, t0), flush=True)
    try:
        outcomes += _wait(waiting, dirs, folder, len(jobs), len(outcomes), t0)
    except KeyboardInterrupt:
        ids = " ".join(sorted({e["job_id"].split("_")[0] for e in waiting.values()}))
        print(
            f"\nInterrupted: the Slurm tasks keep running (squeue; scancel {ids} stops them). Re-run the "
            "same command to wait for them and evaluate.",
            flush=True,
        )
        raise
    return outcomes


def _wait(waiting: dict[str, dict], dirs, folder: Path, total: int, done: int, t0: float) -> list:
    from shared import batch

    outcomes = []
    last_state: dict[str, str] = {}
    final_state: dict[str, str] = {}  # a finished task's state, once seen (it may leave squeue next)
    gone_once: set[str] = set()
    quiet_since = time.time()
    while waiting:
        states = squeue_states()
        if states is None:
            if time.time() - quiet_since > 300:
                print("run_all: squeue has not answered for 5 min; still waiting", flush=True)
                quiet_since = time.time()
            time.sleep(POLL_SECONDS)
            continue
        quiet_since = time.time()
        for key, entry in list(waiting.items()):
            model, seed = key.rsplit(":", 1)[0], int(key.rsplit(":", 1)[1])
            state = states.get(entry["job_id"])
            before = last_state.get(key)
            if state in ACTIVE_STATES:
                gone_once.discard(key)
                if before == "RUNNING" and state in ("PENDING", "REQUEUED", "REQUEUE_HOLD"):
                    print(
                        f"      {model:<20} seed {seed:<4} requeued by Slurm ({entry['job_id']})", flush=True
                    )
                last_state[key] = state
                continue
            record = _read_outcome(outcome_path(folder, model, seed), entry["job_id"])
            if record is None and key not in gone_once:  # finished: let its outcome file arrive
                gone_once.add(key)
                if state:
                    final_state[key] = state
                continue
            if record is not None:
                note = record["note"]
                if record.get("attempt") not in (None, "", "0"):
                    note = f"{note} (requeued {record['attempt']}x)".lstrip()
                outcome = batch.Outcome(model, seed, record["status"], record["seconds"], note)
            else:
                outcome = batch.Outcome(
                    model,
                    seed,
                    "crashed",
                    0.0,
                    _crash_note(entry, state or final_state.get(key), dirs, model, seed),
                )
            del waiting[key]
            outcomes.append(outcome)
            print(_line(done + len(outcomes), total, outcome, t0), flush=True)
        if waiting:
            time.sleep(_poll_interval(time.perf_counter() - t0))
    return outcomes


def _poll_interval(waited: float) -> float:
    return min(30.0, POLL_SECONDS * (1 + waited / 60)) if POLL_SECONDS else 0.0


def _read_outcome(path: Path, job_id: str) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("job_id") == job_id else None


def main(args: argparse.Namespace, dirs: dict[str, Path], jobs: list[tuple[str, int]]) -> int:
    """``--executor slurm`` (and ``--dry-run``): called by ``batch.main`` instead of its local path."""
    from shared import batch

    if args.dry_run:
        print(dry_run_text(args, dirs, jobs))
        return 0
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    print(
        f"run_all: profile {args.profile}, {len(args.models)} models x {len(jobs) // max(1, len(args.models))} "
        f"seeds = {len(jobs)} runs on Slurm, one array task each; results in {dirs['results']}, executed "
        f"notebooks in {dirs['executed']}; python {sys.executable}",
        flush=True,
    )
    start = time.perf_counter()
    try:
        outcomes = run_batch(args, dirs, jobs)
    except KeyboardInterrupt:
        return 130
    return batch.finish(batch.Runner(args, dirs), outcomes, start)


# ------------------------------------------------------------------ --dry-run


def notebook_command(args, dirs, model: str, seed: int, threads: int | None) -> list[str]:
    """The papermill command ``Runner.run_one`` runs for (model, seed) (tests check they agree)."""
    from shared import batch

    out = Path(dirs["executed"]) / f"{model}_seed{seed}.ipynb"
    params = batch.notebook_params(args, dirs, model, seed, threads)
    return batch.papermill_command(batch.NOTEBOOKS / f"{model}_training.ipynb", out, params)


def evaluation_command(dirs) -> list[str]:
    from shared import batch

    params = {
        "results_dir": str(dirs["results"]),
        "figures_dir": str(dirs["figures"]),
        "tables_dir": str(dirs["tables"]),
    }
    return batch.papermill_command(
        batch.NOTEBOOKS / "evaluation.ipynb", Path(dirs["executed"]) / "evaluation.ipynb", params
    )


def dry_run_text(args, dirs, jobs: list[tuple[str, int]]) -> str:
    """What ``run_all.sh`` would run (local) or submit (slurm) with these flags; runs nothing."""
    from shared import batch, results

    if args.reevaluate:
        return (
            f"run_all --dry-run: --reevaluate recomputes, in this process, the metrics of the stored runs of "
            f"{', '.join(args.models)} (seeds {', '.join(map(str, sorted({s for _, s in jobs})))}) in "
            f"{dirs['results']} from their weights; nothing trains"
            + (
                ""
                if args.skip_evaluation
                else f"; then the evaluation notebook: {shlex.join(evaluation_command(dirs))}"
            )
        )
    todo, skipped, inflight = [], [], []
    known = _load_jobs(slurm_dir(dirs)) if args.executor == "slurm" else {}
    states = (squeue_states() or {}) if known and shutil.which("squeue") else {}
    for model, seed in jobs:
        entry = known.get(_key(model, seed))
        if entry and states.get(entry["job_id"]) in ACTIVE_STATES:
            inflight.append((model, seed, entry["job_id"]))
        elif not args.force and results.is_done(dirs["results"], model, seed, args.profile, args.identity):
            skipped.append((model, seed))
        else:
            todo.append((model, seed))
    lines = [f"run_all --dry-run: profile {args.profile}, {len(jobs)} runs: {len(todo)} to run, "
             f"{len(skipped)} already stored as ok (skipped){f', {len(inflight)} queued or running on Slurm' if inflight else ''}; "
             f"results in {dirs['results']}, executed notebooks and logs in {dirs['executed']}"]  # fmt: skip
    if args.executor == "slurm":
        opts, name = args.slurm, job_name(args)
        threads = None if args.device == "cuda" else args.threads
        if todo:
            kind = f"one array of {len(todo)} tasks" if len(todo) > 1 else "one job (a single run)"
            lines.append(f"executor slurm: {kind} through submitit, Slurm logs in {slurm_dir(dirs) / 'logs'}")
            flags = opts.sbatch_flags(name, len(todo), slurm_dir(dirs) / "logs")
            lines.append(f"sbatch options: {' '.join(flags)}")
            lines.append("each task runs (with --device auto on a GPU node: the GPU, no thread count):")
        for i, (model, seed) in enumerate(todo):
            lines.append(
                f"  task {i}: {model} seed {seed}: {shlex.join(notebook_command(args, dirs, model, seed, threads))}"
            )
        for model, seed, job in inflight:
            lines.append(f"  waits for {model} seed {seed}: Slurm job {job}, already queued or running")
        where = "here, when the array has finished"
    else:
        runner = batch.Runner(args, dirs)
        lines.append(f"executor local: {runner.jobs} at a time ({runner.threads or 'default'} threads each)")
        for model, seed in todo:
            lines.append(
                f"  {model} seed {seed}: {shlex.join(notebook_command(args, dirs, model, seed, runner.threads))}"
            )
        where = "when every run has finished"
    for model, seed in skipped:
        lines.append(f"  skips {model} seed {seed}: already stored as ok (--force re-runs it)")
    if args.skip_evaluation:
        lines.append("no evaluation notebook (--skip-evaluation)")
    else:
        lines.append(f"then the evaluation notebook, {where}: {shlex.join(evaluation_command(dirs))}")
    return "\n".join(lines)
