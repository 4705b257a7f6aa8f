"""The batch runner behind ``run_all.sh``: every (model, seed) notebook through papermill, then
the evaluation notebook.

Resumable: a (model, seed) already stored with status ok for the same profile is skipped
(unless ``--force``), and results are written by each run as soon as it finishes, so an
interrupted batch restarted with the same command only runs what is missing. A run that
diverges is stored as failed and the batch goes on; a run that crashes is reported with the
path of its executed notebook, the batch goes on, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from shared import data, experiment, fusions, registry, results
from shared import precision as precisions
from shared.cli import comma_list
from shared.protocol import PUBLISHED_PROFILES

ROOT = experiment.PROJECT_ROOT
NOTEBOOKS = ROOT / "notebooks"


MAX_SEED = 2**32 - 1  # numpy's seeds are 32-bit: a larger one crashes every notebook
KERNEL_MEMORY = 700 * 2**20  # one notebook kernel at its peak (about 670 MB measured, CPU smoke/quick)


def _refuse(message: str) -> None:
    """One line on stderr and exit status 2 (no usage dump, no traceback)."""
    sys.stderr.write(f"run_all.sh: error: {message} (see ./run_all.sh --help)\n")
    raise SystemExit(2)


class OneLineParser(argparse.ArgumentParser):
    """Bad flags: one line on stderr and exit status 2 (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        _refuse(message)


def _seed_list(text: str) -> list[int]:
    try:
        seeds = list(dict.fromkeys(int(s) for s in comma_list(text)))
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers, got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("no seeds given")
    outside = [s for s in seeds if not 0 <= s <= MAX_SEED]
    if outside:
        raise argparse.ArgumentTypeError(f"seeds must be in [0, {MAX_SEED}], got {outside[0]}")
    return seeds


def _model_list(text: str) -> list[str]:
    if not comma_list(text):  # registry.parse_model_list reads "" as all 22: say "all" for that
        raise argparse.ArgumentTypeError("no models given (--models all runs the 22)")
    try:
        return registry.parse_model_list(text)
    except registry.UnknownModelError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _check_data(p: OneLineParser, args: argparse.Namespace) -> None:
    """Fail once, here, on data every notebook would fail on (not once per notebook)."""
    try:
        folder = data.find_mnist_folder(args.data_dir, ROOT / "data")
    except data.DataError as exc:
        p.error(str(exc))
    if folder is None and args.profile in PUBLISHED_PROFILES:
        p.error(f"the {args.profile} profile needs full MNIST: pass --data-dir or set MNIST_DIR")
    args.mnist_folder = folder


def check_data_content(folder: Path | None) -> None:
    """Read the MNIST files the notebooks will read (about a second): a truncated or swapped file
    raises :class:`shared.data.DataError` here, once, instead of crashing every notebook."""
    if folder is not None:
        data.check_idx_folder(folder)


def _unwritable(folder: Path) -> str | None:
    """Why ``folder`` cannot be created and written to, or None. The nearest existing folder on its
    path is probed with a temporary file (root, ACLs and read-only mounts all answer truthfully)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        return f"{existing} is not writable ({exc.strerror})"
    return None


def _cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _available_memory() -> int | None:
    """Bytes of memory available for new processes (Linux MemAvailable), else physical; None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def max_jobs() -> tuple[int, str]:
    """How many notebook kernels this machine holds side by side, and why: one per CPU core and
    one per ``KERNEL_MEMORY`` of available memory, whichever is fewer (never below one)."""
    cores, memory = _cores(), _available_memory()
    limit, why = cores, f"{cores} CPU core{'s' * (cores != 1)}"
    if memory is not None:
        by_memory = max(1, memory // KERNEL_MEMORY)
        why += f", {memory / 2**30:.1f} GiB of available memory at ~{KERNEL_MEMORY / 2**30:.1f} GiB a kernel"
        limit = min(limit, by_memory)
    return limit, why


def _check_output_dirs(p: OneLineParser, args: argparse.Namespace) -> None:
    """Every folder the batch writes to must be a folder we can write (one line, not a traceback)."""
    for what, folder in output_dirs(args.profile, args.results_dir, args.identity).items():
        problem = _unwritable(folder)
        if problem:
            flag = f"--results-dir {args.results_dir}" if args.results_dir else f"{what} folder {folder}"
            p.error(f"{flag}: {problem}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = OneLineParser(
        prog="run_all.sh",
        description="Run the benchmark: every (model, seed) training notebook through papermill, "
        "then the evaluation notebook. Resumable: finished runs are skipped.",
    )
    p.add_argument(
        "--profile", choices=list(experiment.PROFILES), default="quick", help="budget (default: quick)"
    )
    p.add_argument(
        "--models", type=_model_list, default=list(registry.MODEL_NAMES), help="comma list (default: the 22)"
    )
    p.add_argument("--seeds", type=_seed_list, default=None, help="comma list (default: the profile's seeds)")
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="runs side by side (default: CPU cores, 4 on CUDA; capped at what the cores and memory hold)",
    )
    p.add_argument("--data-dir", default=None, help="folder with the MNIST IDX files (default: $MNIST_DIR)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="default: auto")
    p.add_argument(
        "--results-dir", default=None, help="default: paper_results/ (paper) or results/<profile>/"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads per run (default 1: the numbers of a run do not depend on --jobs)",
    )
    p.add_argument(
        "--precision",
        choices=list(precisions.PRECISIONS),
        default=precisions.DEFAULT,
        help="training precision (default fp32); bf16 = autocast with float32 weights, stored as the "
        "custom run <profile>+precision=bf16 in its own folder (results/custom/...)",
    )
    for fusion in fusions.FUSIONS:
        p.add_argument(
            fusion.flag,
            action="store_true",
            help=f"train with {fusion.what} (same function, other rounding; faster steps), stored as "
            f"the custom run <profile>+{fusion.name}=True",
        )
    p.add_argument("--force", action="store_true", help="re-run runs that are already stored as ok")
    p.add_argument("--skip-evaluation", action="store_true", help="do not run the evaluation notebook")
    p.add_argument(
        "--reevaluate",
        action="store_true",
        help="recompute the metrics of the stored runs from their weights (no training), then report",
    )
    p.add_argument("--debug-nan", default=None, help=argparse.SUPPRESS)  # test hook: this model's loss -> NaN
    from shared import slurm  # --executor, --dry-run and the Slurm options (#14)

    slurm.add_arguments(p)
    args = p.parse_args(argv)
    slurm.check_args(p, args)
    args.identity = batch_identity(args.profile, args.precision, fused_options(args))
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    if args.jobs is not None and args.jobs < 1:
        p.error(f"--jobs must be >= 1, got {args.jobs}")
    if args.jobs is not None:
        limit, why = max_jobs()
        if args.jobs > limit:
            print(f"run_all: --jobs {args.jobs} capped at {limit} ({why})", flush=True)
            args.jobs = limit
    missing = [m for m in args.models if not (NOTEBOOKS / f"{m}_training.ipynb").exists()]
    if missing:
        p.error(f"no notebook for {', '.join(missing)}: run python tools/make_notebooks.py --extra")
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        p.error(f"--data-dir {args.data_dir}: no such folder")
    # The notebooks run with notebooks/ as their cwd: paths relative to the caller's cwd must go
    # absolute before they are handed over (flags as parameters, MNIST_DIR through the environment).
    args.data_dir = str(Path(args.data_dir).resolve()) if args.data_dir else None
    args.results_dir = str(Path(args.results_dir).resolve()) if args.results_dir else None
    env_dir = os.environ.get("MNIST_DIR")
    if env_dir and args.data_dir is None:
        if not Path(env_dir).is_dir():
            p.error(f"MNIST_DIR={env_dir}: no such folder")
        os.environ["MNIST_DIR"] = str(Path(env_dir).resolve())
    _check_output_dirs(p, args)
    _check_data(p, args)
    if args.device == "cuda" and args.executor == "local":  # on Slurm the nodes have the GPUs
        import torch

        if not torch.cuda.is_available():
            p.error("--device cuda but CUDA is not available on this machine")
    return args


EVALUATION = "evaluation"  # the Outcome.model of the evaluation notebook's row


@dataclass
class Outcome:
    model: str
    seed: int
    status: str  # ok | failed | crashed | skipped
    seconds: float
    note: str = ""


def fused_options(args: argparse.Namespace) -> dict[str, bool]:
    """The batch's shared.fusions options, by name (the flags given)."""
    return {name: getattr(args, name) for name in fusions.NAMES}


def batch_identity(profile: str, precision: str, fused: dict[str, bool] | None = None) -> str:
    """Which run every notebook of the batch is (shared.experiment.run_identity): the profile's own,
    or the custom run at another precision or fused (model-independent: only those differ)."""
    model = registry.MODEL_NAMES[0]
    budget = experiment.run_budget(model, profile, precision=precision, **(fused or {}))
    return experiment.run_identity(model, profile, budget, None)


def output_dirs(profile: str, results_dir: str | None, identity: str | None = None) -> dict[str, Path]:
    identity = identity or profile
    res = Path(results_dir) if results_dir else experiment.results_dir_for(profile, identity, None)
    base = ROOT if identity in PUBLISHED_PROFILES and results_dir is None else res
    return {
        "results": res,
        # with --results-dir everything of the batch goes there (tests never touch the user's copies)
        "executed": res / "executed" if results_dir else NOTEBOOKS / "executed" / identity,
        "figures": base / "figures",
        "tables": base / "tables",
    }


def notebook_params(args: argparse.Namespace, dirs: dict, model: str, seed: int, threads: int | None) -> dict:
    """The training notebook's parameters for (model, seed) of this batch (either executor)."""
    return {
        "seed": seed,
        "profile": args.profile,
        "data_dir": args.data_dir,
        "device": args.device,
        "threads": threads,
        "precision": args.precision,
        **fused_options(args),
        "results_dir": str(dirs["results"]),
        "debug_nan_epoch": 1 if args.debug_nan == model else None,
    }


def papermill_command(notebook: Path, output: Path, params: dict) -> list[str]:
    """papermill's command line, through ``shared.notebook_run`` (no SIGINT at kernel shutdown)."""
    cmd = [sys.executable, "-m", "shared.notebook_run", str(notebook), str(output), "-k", "python3"]
    cmd += ["--cwd", str(NOTEBOOKS), "--no-progress-bar", "--log-level", "WARNING"]
    for key, value in params.items():
        if value is not None:
            cmd += ["-p", key, str(value)] if not isinstance(value, str) else ["-r", key, value]
    return cmd


def with_lifeline(cmd: list[str]) -> list[str]:
    """``cmd`` run so that it dies with this process, even a SIGKILLed one (shared.lifeline)."""
    return [sys.executable, "-m", "shared.lifeline", str(os.getpid()), *cmd]


def _stop_on_sigterm() -> None:
    """SIGTERM (kill, a scheduler, a closed session) stops the batch as Ctrl-C does: its running
    notebooks are stopped, finished runs stay stored, the same command resumes."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


class Runner:
    """Runs the jobs, keeps the child processes so Ctrl-C can stop them cleanly."""

    def __init__(self, args: argparse.Namespace, dirs: dict[str, Path]):
        self.args, self.dirs = args, dirs
        self.children: set[subprocess.Popen] = set()
        jobs = args.jobs or min(4 if _uses_cuda(args.device) else _cores(), max_jobs()[0])
        self.jobs = jobs
        # a fixed thread count, not cores // jobs: the count sets torch's float reduction order, so
        # with it a run's numbers do not depend on --jobs (#18 item 11; recorded in every run)
        self.threads = None if _uses_cuda(args.device) else args.threads

    def run_one(self, model: str, seed: int) -> Outcome:
        args = self.args
        if not args.force and results.is_done(self.dirs["results"], model, seed, args.profile, args.identity):
            return Outcome(model, seed, "skipped", 0.0, "already stored as ok")
        out = self.dirs["executed"] / f"{model}_seed{seed}.ipynb"
        params = notebook_params(args, self.dirs, model, seed, self.threads)
        log = out.with_suffix(".log")
        start = time.perf_counter()
        with open(log, "w") as fh:
            proc = subprocess.Popen(
                with_lifeline(papermill_command(NOTEBOOKS / f"{model}_training.ipynb", out, params)),
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.children.add(proc)
            code = proc.wait()
            self.children.discard(proc)
        seconds = time.perf_counter() - start
        if code != 0:
            return Outcome(model, seed, "crashed", seconds, f"see {out} and {log}")
        run = results.load_results(results.results_path(self.dirs["results"], model))["runs"][seed]
        note = (
            "" if run["status"] == "ok" else f"{run['failure']['reason']} (epoch {run['failure']['epoch']})"
        )
        return Outcome(model, seed, run["status"], seconds, note)

    def stop_children(self) -> None:
        for proc in list(self.children):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def _uses_cuda(device: str) -> bool:
    if device == "cuda":
        return True
    if device == "auto":
        import torch

        return torch.cuda.is_available()
    return False


def ordered_jobs(models: list[str], seeds: list[int]) -> list[tuple[str, int]]:
    """Slow models first, so parallel jobs finish close together."""
    return sorted(
        ((m, s) for s in seeds for m in models), key=lambda job: -registry.get_spec(job[0]).cost_hint
    )


def run_batch(runner: Runner, jobs: list[tuple[str, int]]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=runner.jobs) as pool:
        pending: dict[Future, tuple[str, int]] = {pool.submit(runner.run_one, m, s): (m, s) for m, s in jobs}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    model, seed = pending.pop(fut)
                    try:
                        outcome = fut.result()
                    except Exception as exc:  # the runner itself failed: report, go on
                        outcome = Outcome(model, seed, "crashed", 0.0, f"{type(exc).__name__}: {exc}")
                    outcomes.append(outcome)
                    print(
                        f"[{len(outcomes):>3}/{len(jobs)}] {model:<20} seed {seed:<4} {outcome.status:<8} "
                        f"{outcome.seconds:6.1f} s  (elapsed {time.perf_counter() - t0:6.1f} s) {outcome.note}",
                        flush=True,
                    )
        except KeyboardInterrupt:
            print(
                "\nInterrupted: stopping running notebooks. Finished runs are saved; "
                "re-run the same command to do the rest.",
                flush=True,
            )
            for fut in pending:
                fut.cancel()
            runner.stop_children()
            raise
    return outcomes


def render_html(executed: Path, skip: tuple[str, ...] = ()) -> None:
    """HTML copies of the executed notebooks (but those named in ``skip``), for browsing the
    appendix without Jupyter."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter()
    for nb_path in sorted(p for p in executed.glob("*.ipynb") if p.name not in skip):
        html = nb_path.with_suffix(".html")
        if html.exists() and html.stat().st_mtime >= nb_path.stat().st_mtime:
            continue
        try:  # one unreadable notebook (an interrupted run's) must not cost the batch its summary
            body, _ = exporter.from_notebook_node(nbformat.read(nb_path, as_version=4))
        except Exception as exc:
            print(f"no HTML for {nb_path}: {type(exc).__name__}: {exc}", flush=True)
            continue
        results.write_bytes_atomically(html, body.encode())


def run_evaluation(runner: Runner) -> Outcome:
    dirs, start = runner.dirs, time.perf_counter()
    out = dirs["executed"] / "evaluation.ipynb"
    params = {
        "results_dir": str(dirs["results"]),
        "figures_dir": str(dirs["figures"]),
        "tables_dir": str(dirs["tables"]),
    }
    with open(out.with_suffix(".log"), "w") as fh:
        code = subprocess.call(
            with_lifeline(papermill_command(NOTEBOOKS / "evaluation.ipynb", out, params)),
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    status = "ok" if code == 0 else "crashed"
    return Outcome(
        EVALUATION,
        0,
        status,
        time.perf_counter() - start,
        f"{out}" if code else f"figures in {dirs['figures']}",
    )


def reevaluate_batch(args: argparse.Namespace, results_dir: Path, seeds: list[int]) -> list[Outcome]:
    """--reevaluate: every stored run of the chosen models and seeds, from its weights (in this process)."""
    from shared import reevaluate

    device = "cuda" if _uses_cuda(args.device) else "cpu"
    outcomes = []
    for model in args.models:
        start = time.perf_counter()
        for m, seed, note in reevaluate.reevaluate(results_dir, [model], seeds, args.data_dir, device):
            status = "ok" if note.startswith("re-evaluated") else "skipped"
            outcomes.append(Outcome(m, seed, status, time.perf_counter() - start, note))
            start = time.perf_counter()
    return outcomes


def summary_table(outcomes: list[Outcome]) -> str:
    lines = [f"{'model':<20} {'seed':>5}  {'status':<8} {'seconds':>8}  note", "-" * 72]
    for o in sorted(outcomes, key=lambda o: (o.model, o.seed)):
        seed = "" if o.model == EVALUATION else o.seed  # the evaluation notebook has no seed
        lines.append(f"{o.model:<20} {seed:>5}  {o.status:<8} {o.seconds:>8.1f}  {o.note}")
    runs = [o for o in outcomes if o.model != EVALUATION]
    counts = {s: sum(o.status == s for o in runs) for s in ("ok", "skipped", "failed", "crashed")}
    lines.append("-" * 72)
    line = "runs: " + ", ".join(f"{n} {s}" for s, n in counts.items())
    evals = [o for o in outcomes if o.model == EVALUATION]
    lines.append(line + (f"; evaluation notebook: {evals[0].status}" if evals else ""))
    return "\n".join(lines)


def use_this_project_in_kernels() -> None:
    """Every notebook this batch starts (here or in a Slurm task, which carries it) imports
    ``shared`` from this project, not from wherever pip installed it: with a second clone or git
    worktree on the same venv, the kernels ran the installed copy's code while the batch ran this
    one's (the notebooks honour ``$VAE_BENCH_ROOT`` first)."""
    os.environ["VAE_BENCH_ROOT"] = str(ROOT)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use_this_project_in_kernels()
    try:  # after parse_args: a flag error needs no data read
        check_data_content(args.mnist_folder)
    except data.DataError as exc:
        _refuse(f"MNIST files unusable: {exc}")
    seeds = args.seeds or list(experiment.get_profile(args.profile).seeds)
    dirs = output_dirs(args.profile, args.results_dir, args.identity)
    if args.executor == "slurm" or args.dry_run:  # shared/slurm.py: an array of Slurm tasks, or the plan
        from shared import slurm

        return slurm.main(args, dirs, ordered_jobs(args.models, seeds))
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    _stop_on_sigterm()
    runner = Runner(args, dirs)
    jobs = ordered_jobs(args.models, seeds)
    print(
        f"run_all: profile {args.profile}, {len(args.models)} models x {len(seeds)} seeds = {len(jobs)} runs, "
        f"{runner.jobs} at a time ({runner.threads or 'default'} threads each); results in {dirs['results']}, "
        f"executed notebooks in {dirs['executed']}; python {sys.executable}",
        flush=True,
    )
    if not args.reevaluate and (note := precisions.advice(args.precision, args.device)):
        print(f"run_all: {note}", flush=True)
    start = time.perf_counter()
    try:
        outcomes = (
            reevaluate_batch(args, dirs["results"], seeds) if args.reevaluate else run_batch(runner, jobs)
        )
    except KeyboardInterrupt:
        return 130
    return finish(runner, outcomes, start)


def finish(runner: Runner, outcomes: list[Outcome], start: float) -> int:
    """After the runs (either executor): the evaluation notebook, HTML, the summary; exit status."""
    if not runner.args.skip_evaluation:
        # the training notebooks' HTML on the core the (single-thread) evaluation notebook leaves
        # idle; a daemon thread, so Ctrl-C does not wait for it (each file is written atomically)
        html = threading.Thread(
            target=render_html, args=(runner.dirs["executed"], ("evaluation.ipynb",)), daemon=True
        )
        html.start()
        try:
            outcomes.append(run_evaluation(runner))
            html.join()
        except KeyboardInterrupt:
            print("\ninterrupted during the evaluation notebook; every run is stored: re-run to evaluate")
            return 130
        print(
            f"evaluation notebook: {outcomes[-1].status} ({outcomes[-1].seconds:.1f} s) {outcomes[-1].note}",
            flush=True,
        )
    render_html(runner.dirs["executed"])  # the evaluation notebook's (and all of them with --skip-evaluation)
    print(f"\n{summary_table(outcomes)}\ntotal wall time {time.perf_counter() - start:.1f} s")
    return 1 if any(o.status == "crashed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
