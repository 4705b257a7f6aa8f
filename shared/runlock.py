"""One (model, seed) of a results folder trains in one process at a time.

A training notebook takes ``<results_dir>/checkpoints/<model>_seed<seed>.run.lock`` before it
trains and keeps it until its results are stored (or its kernel ends). The lock is an OS file
lock (``filelock.FileLock``: ``flock`` on POSIX), so the operating system releases it when its
holder dies, however it dies: a killed run never blocks the next one, and no pid has to be
trusted. Beside it, ``.owner`` says who holds it (pid, host, start time) for the one-line refusal.
A custom run has its own folder or identity (shared.experiment.run_identity), so folder, model and
seed name the run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from pathlib import Path

import filelock

from shared.results import ResultsError, checkpoint_path

_HELD: dict[Path, filelock.BaseFileLock] = {}  # this process's locks: a notebook re-run in one kernel


def lock_path(results_dir: str | os.PathLike, model: str, seed: int) -> Path:
    return checkpoint_path(results_dir, model, seed).with_suffix(".run.lock")


def hold(results_dir: str | os.PathLike, model: str, seed: int) -> Path:
    """Take the run's lock or raise a one-line :class:`ResultsError` naming its holder."""
    path = lock_path(results_dir, model, seed).resolve()
    if path in _HELD:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(path, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise ResultsError(
            path, f"{model} seed {seed} is already being trained ({_owner(path)}): wait for it, or stop it"
        ) from None
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": dt.datetime.now(dt.UTC).isoformat()}
    _owner_file(path).write_text(json.dumps(owner))
    _HELD[path] = lock
    return path


def release(results_dir: str | os.PathLike, model: str, seed: int) -> None:
    """Give the lock back (the run is stored); its files go with it."""
    path = lock_path(results_dir, model, seed).resolve()
    lock = _HELD.pop(path, None)
    if lock is None:
        return
    _owner_file(path).unlink(missing_ok=True)
    path.unlink(missing_ok=True)  # still held: a waiting taker starts over on a new file
    lock.release()


def _owner_file(path: Path) -> Path:
    return path.with_name(path.name + ".owner")


def _owner(path: Path) -> str:
    try:
        owner = json.loads(_owner_file(path).read_text())
        return f"pid {owner['pid']} on {owner['host']} since {owner['since'][:19]}"
    except (OSError, ValueError, KeyError):
        return "by another process"
