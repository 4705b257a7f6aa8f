"""Training-notebook parameters: unknown names and bad values stop the notebook with one line (#18 items 6, 7)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from shared import params

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = {p.name: p.default for p in params.TRAINING_PARAMETERS}


def _check(**changes) -> None:
    params.check_training_parameters({**DEFAULTS, **changes}, "RAE_GP")


def test_the_defaults_and_good_values_pass() -> None:
    _check()
    _check(seed=0, lr=1, epochs=3, threads=2, variant="study_literal", profile="smoke", device="cpu")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"epoch": 3}, "unknown parameter(s) epoch"),
        ({"seed": "abc"}, "seed = 'abc': expected int"),
        ({"seed": 1.5}, "seed = 1.5: expected int"),
        ({"seed": True}, "seed = True: expected int"),
        ({"seed": None}, "seed = None: expected int"),
        ({"seed": 2**32}, "seed = 4294967296: expected an integer in [0, 4294967295]"),
        ({"lr": "fast"}, "lr = 'fast': expected float or None"),
        ({"lr": 0.0}, "lr = 0.0: expected a positive number"),
        ({"threads": -1}, "threads = -1: expected a positive integer"),
        ({"profile": "full"}, "profile = 'full': expected smoke | quick | reference | paper"),
        ({"device": "gpu"}, "device = 'gpu': expected auto | cpu | cuda"),
        ({"variant": "nope"}, "variant = 'nope': RAE_GP has study_literal"),
    ],
)
def test_bad_parameters_are_named_in_one_line(changes, message) -> None:
    with pytest.raises(params.ParameterError) as info:
        _check(**changes)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_ipython_shows_the_error_as_one_line() -> None:
    assert params.ParameterError("x = 1: bad")._render_traceback_() == ["ParameterError: x = 1: bad"]


def test_the_notebook_parameters_cell_is_rendered_from_the_declarations() -> None:
    notebook = nbformat.read(ROOT / "notebooks" / "VAE_training.ipynb", as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    assert cell.source.strip() == params.parameters_cell().strip()


@pytest.mark.parametrize("flags, message", [(["-p", "epoch", "3"], "unknown parameter(s) epoch"),
                                            (["-p", "seed", "abc"], "seed = 'abc': expected int")])  # fmt: skip
def test_papermill_stops_before_training_with_one_line(tmp_path, flags, message) -> None:
    out = tmp_path / "out.ipynb"
    cmd = [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "VAE_training.ipynb"), str(out),
           "-p", "profile", "smoke", "-p", "results_dir", str(tmp_path), *flags, "--no-progress-bar"]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode != 0 and message in run.stderr
    errors = [o for c in nbformat.read(out, as_version=4).cells for o in c.get("outputs", [])
              if o.get("output_type") == "error"]  # fmt: skip
    assert len(errors) == 1 and len(errors[0]["traceback"]) == 1  # one line, no traceback
    assert errors[0]["traceback"][0].startswith(f"ParameterError: {message}")
    assert not list(tmp_path.glob("*.pkl"))  # nothing trained or saved
