"""shared.notebook_run: papermill without the SIGINT at kernel shutdown (issue #17, item 5).

The race behind ``KeyboardInterrupt caught in kernel.`` is made certain here: the notebook makes
the kernel linger inside its ``kernel_info`` handler after replying, which is where papermill's
final ``kernel_info`` request leaves it when the shutdown's SIGINT arrives.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LOGGED = "KeyboardInterrupt caught in kernel"

LINGER = """import time
kernel = get_ipython().kernel
answer_kernel_info = kernel.shell_handlers["kernel_info_request"]

async def answer_then_linger(*args):
    await answer_kernel_info(*args)
    time.sleep(1.5)  # still inside the handler when papermill shuts the kernel down

kernel.shell_handlers["kernel_info_request"] = answer_then_linger
"""


def _notebook(folder: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "in.ipynb"
    nbformat.write(nb, path)
    return path


def _run(module: str, notebook: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", module, str(notebook), str(notebook.with_name("out.ipynb"))]
    cmd += ["-k", "python3", "--no-progress-bar", "--log-level", "WARNING"]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_papermill_logs_the_interrupt_and_notebook_run_does_not(tmp_path):
    notebook = _notebook(tmp_path, LINGER)
    stock = _run("papermill", notebook)
    ours = _run("shared.notebook_run", notebook)
    assert stock.returncode == 0 and LOGGED in stock.stderr  # the cause, shown
    assert ours.returncode == 0 and LOGGED not in ours.stderr, ours.stderr


@pytest.mark.slow
def test_notebook_run_still_fails_a_failing_notebook(tmp_path):
    result = _run("shared.notebook_run", _notebook(tmp_path, "x = 1", "raise ValueError('bad cell')"))
    assert result.returncode != 0
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert out.metadata["papermill"]["exception"] is True


def test_the_batch_runs_notebooks_through_notebook_run():
    from shared import batch

    cmd = batch.papermill_command(Path("a.ipynb"), Path("b.ipynb"), {"seed": 42})
    assert cmd[1:3] == ["-m", "shared.notebook_run"] and cmd[3:5] == ["a.ipynb", "b.ipynb"]


def test_notebook_run_skips_the_slow_iri_checkers_and_still_validates_notebooks(tmp_path):
    """rfc3987_syntax builds its Lark parsers at import (1.4 s a run); the notebook schema uses no
    iri format, so validation is unchanged without it."""
    path = _notebook(tmp_path, "x = 1")
    probe = (
        "import sys, shared.notebook_run, nbformat, jsonschema\n"
        "assert sys.modules['rfc3987_syntax'] is None, 'rfc3987_syntax was imported'\n"
        "assert 'iri' not in jsonschema.Draft7Validator.FORMAT_CHECKER.checkers\n"
        f"nbformat.validate(nbformat.read({str(path)!r}, as_version=4))\n"
        "bad = nbformat.v4.new_notebook(); bad.cells.append({'cell_type': 'code'})\n"
        "try:\n    nbformat.validate(bad)\nexcept nbformat.ValidationError:\n    print('invalid caught')\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "invalid caught"


ATEXIT = """import atexit, pathlib, sys
marker = pathlib.Path({path!r})
atexit.register(marker.write_text, "finalized")
pathlib.Path({path!r}).with_suffix(".cell").write_text(str(sys.path[:3]))
print("cell ran")
"""


@pytest.mark.slow
def test_notebook_run_kernels_exit_without_finalization_and_keep_their_outputs(tmp_path):
    """Stock papermill's kernel runs the atexit handler (Python's finalization); ours skips it,
    while the cell's output and the file it wrote are there, with the stock kernel's sys.path."""
    paths = []
    for module, finalized in (("papermill", True), ("shared.notebook_run", False)):
        marker = tmp_path / f"{module}.done"
        result = _run(module, _notebook(tmp_path, ATEXIT.format(path=str(marker))))
        assert result.returncode == 0, result.stderr[-2000:]
        assert marker.exists() is finalized, module
        paths.append(marker.with_suffix(".cell").read_text())
        out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
        assert out.cells[0].outputs[0]["text"] == "cell ran\n"
    assert paths[0] == paths[1]


def test_only_ipykernels_stock_launcher_is_replaced():
    from shared import notebook_run

    stock = ["/x/python", "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "c.json"]
    fast = notebook_run.fast_exit_command(stock)
    assert (
        fast[:2] == stock[:2]
        and fast[-2:] == ["-f", "c.json"]
        and fast[2:4] == notebook_run.FAST_EXIT_LAUNCHER
    )
    other = ["/x/julia", "-i", "kernel.jl", "c.json"]
    assert notebook_run.fast_exit_command(other) == other
