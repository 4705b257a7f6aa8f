"""papermill's command line, with its kernels shut down without a SIGINT.

    python -m shared.notebook_run NOTEBOOK OUTPUT [papermill options]

Why: papermill ends every run with a ``kernel_info`` request and shuts the kernel down as soon as
the reply arrives (papermill/clientwrap.py, ``PapermillNotebookClient.execute``), and
jupyter_client's ``KernelManager._async_shutdown_kernel`` (jupyter_client/manager.py, 8.x)
interrupts the kernel with SIGINT before it asks it to shut down. ipykernel answers SIGINT with a
KeyboardInterrupt only while a message handler runs (ipykernel/kernelbase.py, ``pre_handler_hook``;
ignored otherwise). Under load the kernel is often still inside the ``kernel_info`` handler, just
after sending its reply, when the signal lands, and logs ``[IPKernelApp] ERROR | KeyboardInterrupt
caught in kernel.`` into the log of a run that finished fine (3 of 22 quick runs).

The interrupt has nothing to stop at that point: papermill shuts down only after the last cell
has finished or failed. So this engine's kernel manager skips it while shutting down; the
shutdown request and, if the kernel does not exit, jupyter_client's kill still end the kernel.
Every other interrupt (a user's, a restart's) goes through unchanged.

It also starts faster: papermill imports nbformat, which imports jsonschema, whose format checkers
(jsonschema/_format.py, 4.26) build about 35 Lark parsers for the "iri" formats at import when
rfc3987-syntax is installed (jupyter-events pulls it in through ``jsonschema[format-nongpl]``;
python-jsonschema/jsonschema#1428): 1.4 s of every notebook run, for a format the notebook
schema never uses. This process marks that module as absent, so jsonschema skips those two
checkers (its import of it is guarded); nothing else changes.

And its kernels end without Python's finalization: once ipykernel has shut down (its replies
sent, its output flushed), the kernel process calls ``os._exit(0)`` instead of tearing down the
interpreter, which with torch, pythae, scikit-learn and matplotlib loaded takes 1-3 s that the
run waits for (jupyter_client waits for the kernel process to end). The notebook's files are
closed by then and the run lock is an OS lock (shared/runlock.py); what is skipped is ``atexit``
handlers, which no code of ours registers. Only notebooks run through this module; a kernel
started from Jupyter is the stock one.
"""

from __future__ import annotations

import sys

sys.modules.setdefault("rfc3987_syntax", None)  # see the module doc: before anything imports jsonschema

from jupyter_client import AsyncKernelManager  # noqa: E402
from papermill.cli import papermill as papermill_cli  # noqa: E402
from papermill.engines import NBClientEngine, papermill_engines  # noqa: E402

ENGINE = "quiet_shutdown"
STOCK_LAUNCHER = ["-m", "ipykernel_launcher"]
#: ipykernel_launcher's own two steps (cwd off sys.path, launch), then an exit without finalization
FAST_EXIT_LAUNCHER = [
    "-c",
    "import os, sys\n"
    "if sys.path and sys.path[0] == '':\n    del sys.path[0]\n"
    "from ipykernel import kernelapp\n"
    "kernelapp.launch_new_instance()\n"
    "sys.stdout.flush(); sys.stderr.flush()\n"
    "os._exit(0)",
]


class QuietShutdownKernelManager(AsyncKernelManager):
    """A kernel manager that does not SIGINT the kernel it is shutting down, and whose kernel
    exits without Python's finalization (see module doc)."""

    async def _async_interrupt_kernel(self) -> None:
        if self.shutting_down:
            return
        await super()._async_interrupt_kernel()

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        return fast_exit_command(cmd)


def fast_exit_command(cmd: list[str]) -> list[str]:
    """``cmd`` with ipykernel's stock launcher replaced by ``FAST_EXIT_LAUNCHER``; another
    kernel's command (no ``-m ipykernel_launcher``) unchanged."""
    for i in range(len(cmd) - 1):
        if cmd[i : i + 2] == STOCK_LAUNCHER:
            return [*cmd[:i], *FAST_EXIT_LAUNCHER, *cmd[i + 2 :]]
    return cmd


class QuietShutdownEngine(NBClientEngine):
    """papermill's default nbclient engine with ``QuietShutdownKernelManager``."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
        kwargs.setdefault("kernel_manager_class", QuietShutdownKernelManager)
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)


def main() -> None:
    papermill_engines.register(ENGINE, QuietShutdownEngine)
    papermill_cli.main(prog_name="papermill", default_map={"engine": ENGINE})


if __name__ == "__main__":
    main()
