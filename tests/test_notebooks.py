"""The notebooks and run_all.sh, end to end through papermill (smoke profile)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import papermill
import pytest

from shared import registry, results
from tools import make_notebooks

ROOT = Path(__file__).resolve().parents[1]
RUN_ALL = str(ROOT / "run_all.sh")


def _run_all(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run([RUN_ALL, *args], capture_output=True, text=True, env=env, timeout=900, **kw)


def test_notebooks_in_sync_with_template_and_registry():
    assert make_notebooks.out_of_sync() == [], "run: python tools/make_notebooks.py"


def test_sync_check_notices_a_registry_change(monkeypatch):
    spec = registry.get_spec("VAE")
    changed = dataclasses.replace(
        spec, variants={"new": {"latent_dim": 16}}, variant_setting_differs={"new": ""}
    )
    monkeypatch.setitem(registry.REGISTRY, "VAE", changed)
    assert make_notebooks.out_of_sync() == [make_notebooks.NOTEBOOK_DIR / "VAE_training.ipynb"]


def test_sync_check_notices_a_model_page_change(monkeypatch, tmp_path):
    """The header prose comes from docs/models/<NAME>.md: an edited page makes its notebook stale."""
    from tools import model_pages

    for name in registry.MODEL_NAMES:
        (tmp_path / f"{name}.md").write_text(model_pages.page_path(name).read_text(encoding="utf-8"))
    page = tmp_path / "VAE.md"
    page.write_text(page.read_text().replace("## Caveats\n", "## Caveats\n\n- a new caveat\n"))
    monkeypatch.setattr(model_pages, "PAGES_DIR", tmp_path)
    assert make_notebooks.out_of_sync() == [make_notebooks.NOTEBOOK_DIR / "VAE_training.ipynb"]


def test_header_rendered_from_registry():
    text = (ROOT / "notebooks" / "HVAE_training.ipynb").read_text()
    spec = registry.get_spec("HVAE")
    assert "Hamiltonian" in text and spec.display_name in text
    assert '"parameters"' in text  # papermill's tag


@pytest.fixture(scope="module")
def smoke_batch(tmp_path_factory):
    """All 22 notebooks (+ the evaluation notebook) through run_all.sh, smoke profile."""
    out = tmp_path_factory.mktemp("smoke")
    proc = _run_all("--profile", "smoke", "--jobs", "2", "--results-dir", str(out))
    return out, proc


@pytest.mark.slow
def test_all_22_notebooks_run_and_write_valid_results(smoke_batch):
    out, proc = smoke_batch
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in registry.MODEL_NAMES:
        data = results.load_results(results.results_path(out, name))  # validates the schema
        run = data["runs"][42]
        assert run["status"] == "ok" and run["profile"] == "smoke", (name, run["failure"])
        assert run["metrics"]["reconstruction"]["protocol_sampled"]["per_image"]["ssim"].shape == (100,)
        executed = out / "executed" / f"{name}_seed42.ipynb"
        assert executed.exists() and executed.with_suffix(".html").exists()
    assert "evaluation notebook: ok" in proc.stdout
    assert "runs: 22 ok, 0 skipped, 0 failed, 0 crashed; evaluation notebook: ok" in proc.stdout


@pytest.mark.slow
def test_rerun_skips_finished_runs(smoke_batch):
    out, _ = smoke_batch
    before = results.results_path(out, "VAE").stat().st_mtime_ns
    proc = _run_all(
        "--profile", "smoke", "--models", "VAE,AE", "--results-dir", str(out), "--skip-evaluation"
    )
    assert proc.returncode == 0 and "0 ok, 2 skipped" in proc.stdout
    assert results.results_path(out, "VAE").stat().st_mtime_ns == before


@pytest.mark.slow
def test_interrupted_batch_resumes_without_losing_work(tmp_path):
    args = [
        "--profile",
        "smoke",
        "--models",
        "AE,VAE,BetaVAE",
        "--jobs",
        "1",
        "--results-dir",
        str(tmp_path),
        "--skip-evaluation",
    ]
    env = {**os.environ, "PYTHON": sys.executable}
    models = ("AE", "VAE", "BetaVAE")

    def finished() -> list[str]:  # trained *and* evaluated (a run is saved once before evaluating)
        return [m for m in models if results.is_done(tmp_path, m, 42, "smoke")]

    proc = subprocess.Popen(
        [RUN_ALL, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
        # Ctrl-C must work even when pytest itself runs as a background job (SIGINT ignored there)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 300
    while not finished() and time.time() < deadline:
        time.sleep(0.5)
    assert finished(), "no run finished in time"
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "Interrupted" in output, output
    done = {f"{m}_MNIST.pkl": results.results_path(tmp_path, m).stat().st_mtime_ns for m in finished()}
    assert 1 <= len(done) < 3
    again = _run_all(*args)
    assert again.returncode == 0, again.stdout
    assert f"{len(done)} skipped" in again.stdout
    for name, mtime in done.items():  # finished runs untouched
        assert (tmp_path / name).stat().st_mtime_ns == mtime
    assert finished() == list(models)


@pytest.mark.slow
def test_forced_nan_is_recorded_failed_and_batch_goes_on(tmp_path):
    proc = _run_all(
        "--profile",
        "smoke",
        "--models",
        "VAE,AE",
        "--jobs",
        "1",
        "--results-dir",
        str(tmp_path),
        "--skip-evaluation",
        "--debug-nan",
        "VAE",
    )
    assert proc.returncode == 0, proc.stdout
    vae = results.load_results(results.results_path(tmp_path, "VAE"))["runs"][42]
    assert vae["status"] == "failed" and vae["failure"]["epoch"] == 1 and vae["metrics"] is None
    assert results.load_results(results.results_path(tmp_path, "AE"))["runs"][42]["status"] == "ok"
    assert "1 ok, 0 skipped, 1 failed, 0 crashed" in proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [["--bogus"], ["--models", "VAE,NotAModel"], ["--jobs", "0"], ["--seeds", "4x"], ["--profile", "huge"]],
)
def test_bad_flags_exit_2_with_one_line(args):
    proc = _run_all(*args)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("run_all.sh: error:")
    assert proc.stdout == ""


@pytest.mark.slow
def test_data_problems_stop_the_batch_once_before_any_notebook(tmp_path, monkeypatch):
    """A folder without MNIST, or the paper profile on the embedded digits: one line, exit 2."""
    from shared import data

    monkeypatch.delenv("MNIST_DIR", raising=False)  # CI sets it; this test is about its absence
    if data.find_mnist_folder(None, ROOT / "data") is not None:
        pytest.skip("full MNIST under <root>/data: the paper profile would find it")
    env = {k: v for k, v in os.environ.items() if k != "MNIST_DIR"}
    for args in (["--data-dir", str(tmp_path)], ["--profile", "paper", "--models", "VAE"]):
        proc = subprocess.run(
            [RUN_ALL, *args],
            capture_output=True,
            text=True,
            env={**env, "PYTHON": sys.executable},
            timeout=120,
        )
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "MNIST" in proc.stderr


def test_repeated_models_and_seeds_run_once():
    from shared import batch

    args = batch.parse_args(["--models", "VAE,AE,VAE", "--seeds", "1,2,1"])
    assert args.models == ["VAE", "AE"] and args.seeds == [1, 2]


def test_relative_paths_are_made_absolute_for_the_notebooks(tmp_path, monkeypatch):
    """The notebooks run in notebooks/: a relative --data-dir, --results-dir or MNIST_DIR must not
    be read from there."""
    from shared import batch

    tmp_path = tmp_path.resolve()
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").touch()  # what the folder check looks for
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MNIST_DIR", "mnist")
    args = batch.parse_args(["--data-dir", "mnist", "--results-dir", "out"])
    assert args.data_dir == str(tmp_path / "mnist") and args.results_dir == str(tmp_path / "out")
    batch.parse_args([])
    assert os.environ["MNIST_DIR"] == str(tmp_path / "mnist")
    monkeypatch.setenv("MNIST_DIR", "nowhere")
    with pytest.raises(SystemExit):
        batch.parse_args([])


@pytest.mark.slow
def test_papermill_from_any_cwd(tmp_path):
    out = tmp_path / "VAE.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "VAE_training.ipynb"),
        str(out),
        parameters={"profile": "smoke", "results_dir": str(tmp_path / "res"), "seed": 7},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    run = results.load_results(results.results_path(tmp_path / "res", "VAE"))["runs"][7]
    assert run["status"] == "ok" and run["config"]["training"]["seed"] == 7
    assert "saved seed 7 (ok)" in out.read_text()


@pytest.mark.parametrize("name", ["VAE_training", "evaluation"])
def test_papermill_lists_every_parameter_with_its_help(name, caplog):
    """`papermill --help-notebook` must show every parameter (papermill cannot parse a comment
    holding "=", and drops annotations like `int | None`: the lr line once vanished)."""
    import ast
    import logging

    import nbformat
    import papermill

    path = ROOT / "notebooks" / f"{name}.ipynb"
    cell = next(
        c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", [])
    )
    assigned = [t.id for node in ast.parse(cell.source).body for t in getattr(node, "targets", [getattr(node, "target", None)]) if t is not None]  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="papermill"):
        inferred = papermill.inspect_notebook(str(path))
    assert list(inferred) == assigned
    assert all(p["help"] for p in inferred.values()), [n for n, p in inferred.items() if not p["help"]]
    assert all(p["inferred_type_name"] != "None" for p in inferred.values())
    assert "Unable to parse" not in caplog.text
