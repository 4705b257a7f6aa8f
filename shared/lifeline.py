"""Run a command that dies with the process that started it, however that process dies.

    python -m shared.lifeline PARENT_PID COMMAND [ARG ...]

``run_all.sh`` starts every notebook (papermill) through this: on Linux the kernel is asked to
send the command SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``, kept across
``exec``), so a batch killed with SIGKILL leaves no notebook training on; the papermill kernel then
exits by itself when papermill goes (ipykernel's parent poller). Elsewhere it just runs the
command (no such signal exists; a SIGTERM or Ctrl-C of the batch still stops its children).
Done in a tiny exec wrapper rather than ``Popen(preexec_fn=...)``, which is unsafe in a process
with threads (the batch runs its jobs from a thread pool).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent_pid: int) -> None:
    """Ask for SIGTERM when the parent dies; exit now if it has died already (a race)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:
        sys.exit(f"lifeline: the batch (pid {parent_pid}) is gone; not starting {sys.argv[2:]}")


def main(argv: list[str]) -> None:
    if len(argv) < 2 or not argv[0].isdigit():
        sys.exit("usage: python -m shared.lifeline PARENT_PID COMMAND [ARG ...]")
    die_with_parent(int(argv[0]))
    os.execvp(argv[1], argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
