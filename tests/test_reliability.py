"""Reliability (issue #18): bad flags refused up front, results files checked on load, nothing a
crash or a failed save could lose."""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from shared import batch, data
from shared import results as R

ROOT = Path(__file__).resolve().parents[1]


def _refused(capsys, argv: list[str]) -> str:
    """``run_all.sh argv`` stops in parse_args with exit 2 and one line on stderr; returns it."""
    with pytest.raises(SystemExit) as info:
        batch.parse_args(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("run_all.sh: error:"), err
    return err


# ---------------------------------------------------------------- item 8: --models ""


@pytest.mark.parametrize("text", ["", " ", ",", " , "])
def test_empty_model_list_is_refused_like_an_empty_seed_list(capsys, text):
    assert "no seeds given" in _refused(capsys, ["--seeds", text])
    assert "no models given" in _refused(capsys, ["--models", text])


def test_all_still_means_the_22_models():
    from shared import registry

    assert batch.parse_args(["--models", "all"]).models == list(registry.MODEL_NAMES)


# ---------------------------------------------------------------- item 6: checked up front


def test_a_results_dir_that_is_a_file_is_refused(capsys, tmp_path):
    target = tmp_path / "results.txt"
    target.write_text("not a folder")
    assert "is a file" in _refused(capsys, ["--results-dir", str(target)])
    assert "is a file" in _refused(capsys, ["--results-dir", str(target / "below")])


_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 24, 1, 2  # linux/prctl.h, capability.h


def _drop_root_override() -> None:
    """In the child, before exec: without CAP_DAC_OVERRIDE root obeys permission bits too."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _run_without_write_override(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    """Run ``cmd`` so that a read-only folder is read-only to it, even when the tests run as root."""
    if os.geteuid() != 0:
        return subprocess.run(cmd, **kw)
    try:
        return subprocess.run(cmd, preexec_fn=_drop_root_override, **kw)
    except subprocess.SubprocessError as exc:  # no CAP_SETPCAP: cannot take root's override away
        pytest.skip(f"cannot drop root's permission override here ({exc})")


@pytest.mark.parametrize("below", [False, True])
def test_a_read_only_results_dir_is_refused(below):
    folder = Path(tempfile.mkdtemp(prefix="readonly-results-"))  # /tmp: reachable by 'nobody'
    try:
        folder.chmod(0o555)
        target = folder / "new" if below else folder
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        proc = _run_without_write_override(
            [sys.executable, "-m", "shared.batch", "--models", "VAE", "--results-dir", str(target)],
            capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert len(proc.stderr.strip().splitlines()) == 1 and "not writable" in proc.stderr, proc.stderr
        assert proc.stdout == "" and list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


@pytest.fixture()
def mnist_copy(mnist_dir, tmp_path) -> Path:
    """A folder of links to the four real MNIST files: a test replaces the one it damages."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in (*data.IMAGE_FILES.values(), *data.LABEL_FILES.values()):
        (folder / name).symlink_to(mnist_dir / name)
    return folder


def _damage_truncated(folder: Path) -> None:
    name = data.IMAGE_FILES["train"]
    raw = (folder / name).read_bytes()
    (folder / name).unlink()
    (folder / name).write_bytes(raw[: len(raw) // 2])


def _damage_test_images_as_train(folder: Path) -> None:
    (folder / data.IMAGE_FILES["train"]).unlink()
    (folder / data.IMAGE_FILES["train"]).symlink_to((folder / data.IMAGE_FILES["test"]).resolve())


def _damage_labels_for_images(folder: Path) -> None:
    images, labels = folder / data.IMAGE_FILES["test"], folder / data.LABEL_FILES["test"]
    a, b = images.resolve(), labels.resolve()
    images.unlink(), labels.unlink()
    images.symlink_to(b), labels.symlink_to(a)


@pytest.mark.parametrize(
    "damage, message",
    [
        (_damage_truncated, "not a readable gzip file"),
        (_damage_test_images_as_train, "expected 60000"),
        (_damage_labels_for_images, "magic number"),
    ],
)
def test_damaged_mnist_files_stop_the_batch_before_any_notebook(
    capsys, monkeypatch, tmp_path, mnist_copy, damage, message
):
    damage(mnist_copy)
    started = []
    monkeypatch.setattr(batch, "run_batch", lambda runner, jobs: started.append(jobs) or [])
    argv = ["--data-dir", str(mnist_copy), "--models", "VAE", "--results-dir", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as info:
        batch.main([*argv, "--skip-evaluation"])
    assert info.value.code == 2 and started == []
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err and "MNIST" in err, err
    assert not (tmp_path / "out").exists()


def test_intact_mnist_files_pass_the_content_check(mnist_copy):
    batch.check_data_content(mnist_copy)  # no DataError


@pytest.mark.parametrize("text", ["99999999999999999999999", "4294967296", "-1", "42,-3"])
def test_seeds_outside_the_generators_range_are_refused(capsys, text):
    assert "[0, 4294967295]" in _refused(capsys, ["--seeds", text])


def test_seeds_at_the_ends_of_the_range_are_accepted():
    assert batch.parse_args(["--seeds", "0,4294967295"]).seeds == [0, 2**32 - 1]


# ---------------------------------------------------------------- item 9: --jobs within the machine


def test_too_many_jobs_are_capped_at_the_cores_with_a_note(capsys):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    args = batch.parse_args(["--jobs", "1000"])
    assert 1 <= args.jobs <= cores
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1 and f"--jobs 1000 capped at {args.jobs}" in out, out


def test_jobs_are_capped_by_memory_too(capsys, monkeypatch):
    monkeypatch.setattr(batch, "_available_memory", lambda: int(2.5 * batch.KERNEL_MEMORY))
    monkeypatch.setattr(batch, "_cores", lambda: 16)
    assert batch.parse_args(["--jobs", "8"]).jobs == 2
    assert "memory" in capsys.readouterr().out
    monkeypatch.setattr(batch, "_available_memory", lambda: batch.KERNEL_MEMORY // 2)
    assert batch.parse_args(["--jobs", "8"]).jobs == 1  # never below one
    dirs = batch.output_dirs("smoke", None)
    assert batch.Runner(batch.parse_args(["--device", "cpu"]), dirs).jobs == 1  # the default too


def test_jobs_the_machine_holds_are_kept_without_a_note(capsys):
    assert batch.parse_args(["--jobs", "1"]).jobs == 1
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------- item 10: leftovers of dead writers

V1_FIXTURE = ROOT / "tests" / "fixtures" / "schema_v1_VAE_MNIST.pkl"


def _fixture_run(seed: int) -> dict:
    """The real VAE run of the version-1 fixture, stored under ``seed``."""
    return {**R.load_results(V1_FIXTURE)["runs"][42], "seed": seed}


_KILLED_WRITER = """
import os, signal, sys
from shared import results as R
run = R.load_results(sys.argv[2])["runs"][42]
os.replace = lambda src, dst: os.kill(os.getpid(), signal.SIGKILL)  # killed before the rename
R.save_run(sys.argv[1], "VAE", 7, {**run, "seed": 7})
"""


def test_the_next_write_removes_a_dead_writers_temp_file_and_lock(tmp_path):
    path = R.save_run(tmp_path, "VAE", 42, _fixture_run(42))
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(tmp_path), str(V1_FIXTURE)], cwd=ROOT, timeout=300
    )
    assert proc.returncode == -signal.SIGKILL
    (left,) = tmp_path.glob("VAE_MNIST.pkl.tmp*")  # what the killed writer leaves: a full-size copy
    assert left.stat().st_size > path.stat().st_size / 2
    assert (tmp_path / "VAE_MNIST.pkl.lock").exists()
    others = ["AE_MNIST.pkl.tmpabcd1234", "VAE_MNIST.pkl.tmp.notes", "VAE_MNIST.pkl.bak", "x.tmpabcd1234"]
    for name in others:  # other models' temp files (their writers hold another lock) and anything else
        (tmp_path / name).write_text("keep")
    R.save_run(tmp_path, "VAE", 8, _fixture_run(8))
    assert sorted(R.load_results(path)["runs"]) == [8, 42]
    assert not left.exists() and not (tmp_path / "VAE_MNIST.pkl.lock").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, *others])


def test_removing_the_lock_file_keeps_concurrent_writers_apart(tmp_path):
    """Each write unlinks its lock file while holding it; a waiter on the old file retries."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(3)
    procs = [ctx.Process(target=_save_seeds, args=(str(tmp_path), k, barrier)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    runs = R.load_results(R.results_path(tmp_path, "VAE"))["runs"]
    assert sorted(runs) == [100 * k + i for k in range(3) for i in range(8)]  # no write lost
    assert [p.name for p in tmp_path.iterdir()] == ["VAE_MNIST.pkl"]


def _save_seeds(directory: str, k: int, barrier) -> None:
    run = _fixture_run(0)
    barrier.wait(timeout=120)
    for i in range(8):
        R.save_run(directory, "VAE", 100 * k + i, {**run, "seed": 100 * k + i})


# ---------------------------------------------------------------- item 4: integrity checked on load


def _one_line_error(path: Path) -> str:
    with pytest.raises(R.ResultsError) as info:
        R.load_results(path)
    message = str(info.value)
    assert str(path) in message and len(message.splitlines()) == 1, message
    return message


def test_64_flipped_bytes_in_the_middle_of_a_file_are_refused(tmp_path):
    weights = {"encoder.weight": np.random.default_rng(0).standard_normal(50_000).astype(np.float32)}
    path = R.save_run(tmp_path, "VAE", 42, {**_fixture_run(42), "weights": weights})
    compressed = path.read_bytes()
    raw = bytearray(zlib.decompress(compressed))
    middle = len(raw) // 2  # inside the weights, as in a real file (most of its bytes)
    raw[middle : middle + 64] = bytes(b ^ 0xFF for b in raw[middle : middle + 64])
    path.write_bytes(zlib.compress(bytes(raw)))  # damage the stream's own check would not see
    message = _one_line_error(path)
    assert "seed 42" in message and "checksum" in message
    damaged = bytearray(compressed)  # damage to the compressed bytes: zlib's check refuses them
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    assert "corrupt" in _one_line_error(path)


def _rewrite_payload(path: Path, edit) -> None:
    """Apply ``edit`` to the file's pickle bytes, keeping the file's compression (or none)."""
    stored = path.read_bytes()
    compressed = stored[:1] == R.ZLIB_MAGIC
    raw = bytearray(zlib.decompress(stored) if compressed else stored)
    edit(raw)
    path.write_bytes(zlib.compress(bytes(raw)) if compressed else bytes(raw))


def _flip_bit_of_one_mse(path: Path, byte: int, bit: int) -> None:
    """Flip one bit of the 4th per-image MSE of protocol_sampled in the file's bytes."""
    run = R.load_results(path)["runs"][42]
    mse = run["metrics"]["reconstruction"]["protocol_sampled"]["per_image"]["mse"]

    def flip(raw: bytearray) -> None:
        at = raw.find(mse.tobytes())  # the first of the sets that hold these values (smoke: two)
        assert at > 0
        raw[at + 4 * 3 + byte] ^= 1 << bit  # float32, little-endian: byte 0 holds the lowest bits

    _rewrite_payload(path, flip)


def test_one_flipped_bit_in_a_per_image_mse_is_refused_naming_the_run(tmp_path):
    path = R.save_run(tmp_path, "VAE", 42, _fixture_run(42))
    _flip_bit_of_one_mse(path, byte=0, bit=0)  # the last bit: no aggregate notices, the checksum does
    message = _one_line_error(path)
    assert "seed 42" in message and "checksum" in message


def test_a_file_without_checksums_still_has_its_aggregates_checked(tmp_path):
    path = tmp_path / "VAE_MNIST.pkl"
    shutil.copy(V1_FIXTURE, path)  # written before checksums: it loads
    R.load_results(path)
    _flip_bit_of_one_mse(path, byte=2, bit=7)  # the lowest exponent bit: that MSE doubles or halves
    message = _one_line_error(path)
    assert "seed 42" in message and re.search(r"reconstruction\.\w+\.mean\.mse", message), message


def test_the_checksum_is_in_the_file_not_in_the_loaded_run(tmp_path):
    import pickle

    run = _fixture_run(42)
    path = R.save_run(tmp_path, "VAE", 42, {**run, "checksum": "0" * 64})  # a stale one is replaced
    stored = pickle.loads(zlib.decompress(path.read_bytes()))["runs"][42]["checksum"]
    assert stored == R.run_checksum(run) and len(stored) == 64 and int(stored, 16) >= 0
    loaded = R.load_results(path)["runs"][42]
    assert "checksum" not in loaded and R.run_checksum(loaded) == stored


def test_the_checksum_sees_every_kind_of_value():
    base = {"a": [1, 2.5, None, True, "x", b"y", (3,)], "b": {"c": np.arange(4, dtype=np.float32)}}
    same = {"b": {"c": np.arange(4, dtype=np.float32)}, "a": [1, 2.5, None, True, "x", b"y", (3,)]}
    assert R.run_checksum(base) == R.run_checksum(same)  # key order does not matter
    changes = [
        {"a": [1, 2.5, None, True, "x", b"y", [3]]},  # tuple -> list
        {"a": [1.0, 2.5, None, True, "x", b"y", (3,)]},  # int -> float
        {"a": [1, 2.5, None, 1, "x", b"y", (3,)]},  # bool -> int
        {"a": [1, 2.5, None, True, "x", "y", (3,)]},  # bytes -> str
        {"b": {"c": np.arange(4, dtype=np.float64)}},  # dtype
        {"b": {"c": np.arange(4, dtype=np.float32).reshape(2, 2)}},  # shape
        {"b": {"c": np.array([0, 1, 2, 3.0000002], dtype=np.float32)}},  # one value
    ]
    for change in changes:
        assert R.run_checksum({**base, **change}) != R.run_checksum(base), change


def test_a_mean_that_does_not_match_its_per_image_values_is_refused():
    run = _fixture_run(42)
    block = run["metrics"]["reconstruction"]["protocol_sampled"]
    R.validate_run(run)
    block["mean"]["ssim"] += 1e-3
    with pytest.raises(R.ResultsError, match=r"protocol_sampled\.mean\.ssim .* mean of its 100"):
        R.validate_run(run)
    block["mean"]["ssim"] = float(block["per_image"]["ssim"].mean())  # float32 rounding is fine
    R.validate_run(run)


def _with_path_excess(run: dict, per_sequence: np.ndarray, mean: float) -> dict:
    interp = run["metrics"]["interpolation"]
    interp["per_sequence"]["path_excess"] = per_sequence.astype(np.float32)
    interp["mean"]["path_excess"], interp["std"]["path_excess"] = mean, float("nan")
    return run


def test_path_excess_means_skip_its_nan_sequences():
    nan = float("nan")
    some = np.array([1.0, nan, 3.0] + [2.0] * 22)
    R.validate_run(_with_path_excess(_fixture_run(42), some, float(np.nanmean(some))))
    R.validate_run(_with_path_excess(_fixture_run(42), np.full(25, nan), nan))  # collapsed: all NaN
    with pytest.raises(R.ResultsError, match="path_excess"):
        R.validate_run(_with_path_excess(_fixture_run(42), some, nan))
    with pytest.raises(R.ResultsError, match="path_excess"):
        R.validate_run(_with_path_excess(_fixture_run(42), some, 5.0))


def test_kmeans_mean_must_match_its_restarts():
    run = _fixture_run(42)
    codes = {"probe_accuracy": 0.75, "kmeans_accuracy": np.array([0.5, 0.7], np.float32)}
    run["metrics"]["codes"] = {**codes, "kmeans_mean": 0.6, "kmeans_std": 0.1414}
    R.validate_run(run)
    run["metrics"]["codes"]["kmeans_mean"] = 0.9
    with pytest.raises(R.ResultsError, match="kmeans_mean"):
        R.validate_run(run)


# ---------------------------------------------------------------- item 12: study metrics are finite


def _with_nan(run: dict, where: str, metric: str, count: int | None = None) -> dict:
    """``count`` (default: all) per-item values of one metric NaN, its mean / std as stored."""
    block = run["metrics"]["reconstruction"][where] if where != "interpolation" else run["metrics"][where]
    per = "per_image" if "per_image" in block else "per_sequence"
    values = block[per][metric].copy()
    values[: len(values) if count is None else count] = np.nan
    block[per][metric] = values
    finite = values[np.isfinite(values)].astype(np.float64)
    block["mean"][metric] = float(finite.mean()) if len(finite) else float("nan")
    block["std"][metric] = float(finite.std(ddof=1)) if len(finite) > 1 else float("nan")
    return run


@pytest.mark.parametrize(
    "where, metric, count",
    [
        ("protocol_sampled", "ssim", None),
        ("protocol_sampled", "mse", 1),
        ("protocol_mean", "psnr", None),
        ("interpolation", "piq", None),
        ("interpolation", "issim", 3),
    ],
)
def test_a_study_metric_with_nan_values_is_refused(where, metric, count):
    run = _with_nan(_fixture_run(42), where, metric, count)
    with pytest.raises(R.ResultsError, match=rf"\.{where}\.per_\w+\.{metric}: .* not finite") as info:
        R.validate_run(run, source="VAE_MNIST.pkl [seed 42]")
    assert "seed 42" in str(info.value) and len(str(info.value).splitlines()) == 1


def test_an_all_nan_path_excess_is_still_a_valid_run():
    """A collapsed model's end frames coincide: its path excess is NaN for every pair, by definition."""
    run = _fixture_run(42)
    R.validate_run(_with_path_excess(run, np.full(25, np.nan), float("nan")))


def test_a_file_with_an_all_nan_metric_is_skipped_with_one_line(tmp_path):
    """What the report reads (load_results_dir(errors="warn")): the other models still come."""
    import pickle

    R.save_run(
        tmp_path, "AE", 42, {**_fixture_run(42), "config": {**_fixture_run(42)["config"], "model": "AE"}}
    )
    bad = {"schema_version": 2, "model": "VAE", "dataset": "MNIST"}
    bad["runs"] = {42: _with_nan(_fixture_run(42), "protocol_sampled", "ssim")}  # as a damaged file holds it
    (tmp_path / "VAE_MNIST.pkl").write_bytes(pickle.dumps(bad))
    with pytest.warns(UserWarning) as caught:
        loaded = R.load_results_dir(tmp_path, errors="warn")
    assert sorted(loaded) == ["AE"]
    (warning,) = [str(w.message) for w in caught]
    assert warning.startswith("skipped:") and "VAE_MNIST.pkl" in warning and "ssim" in warning
    assert len(warning.splitlines()) == 1


# ---------------------------------------------------------------- item 2: a failed save loses nothing


def _train(tiny_splits, checkpoint: Path):
    from shared.training import TrainSettings, train_model

    settings = TrainSettings(epochs=3, seed=7, progress=False, batch_size=32, checkpoint=str(checkpoint))
    return train_model("VAE", tiny_splits, settings)


def _record(result, metrics: bool) -> dict:
    """A schema-valid run of ``result``: trained only (as first saved), or with the fixture's metrics."""
    run = _fixture_run(7)
    run["history"] = {k: list(v) for k, v in result.history.items()}
    if not metrics:
        run.update(metrics=None, eval_indices=None, samples=None)
    return run


def test_a_failed_first_save_keeps_the_trained_run_and_says_how_to_resume(tiny_splits, tmp_path, monkeypatch):
    """#18: with a damaged VAE_MNIST.pkl (and --force) the run trained, crashed on save, left nothing."""
    from shared import training

    results_dir = tmp_path / "results"
    checkpoint = results_dir / "checkpoints" / "VAE_seed7.pt"  # where the training notebooks put it
    results_dir.mkdir()
    damaged = R.results_path(results_dir, "VAE")
    damaged.write_bytes(b"\x80\x05 half a pickle")
    result = _train(tiny_splits, checkpoint)
    with pytest.raises(R.ResultsError) as info:
        R.save_run(results_dir, "VAE", 7, _record(result, metrics=False))
    kept = [p for p in checkpoint.parent.glob("VAE_seed7*") if p.is_file()]
    assert kept, "the finished training is gone: its checkpoint was deleted before the save"
    message = str(info.value)
    assert len(message.splitlines()) == 1 and str(damaged) in message and "truncated or corrupt" in message
    assert str(kept[0]) in message and "re-run" in message

    damaged.rename(tmp_path / "VAE_MNIST.pkl.damaged")  # what the message asks for, then the same command
    epochs = []
    real_epoch = training.train_epoch
    monkeypatch.setattr(training, "train_epoch", lambda *a, **k: epochs.append(1) or real_epoch(*a, **k))
    again = _train(tiny_splits, checkpoint)
    assert epochs == []  # resumed after its last epoch: nothing trained again
    assert again.history == result.history and again.best_epoch == result.best_epoch
    for key, value in result.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[key]), key

    R.save_run(results_dir, "VAE", 7, _record(again, metrics=False))  # trained, not evaluated yet
    assert [p for p in checkpoint.parent.iterdir()], "deleted before the run was evaluated and stored"
    R.save_run(results_dir, "VAE", 7, _record(again, metrics=True))  # the final save
    assert list(checkpoint.parent.iterdir()) == []
    assert sorted(R.load_results(R.results_path(results_dir, "VAE"))["runs"]) == [7]


def test_a_failed_run_deletes_its_checkpoint_once_stored(tiny_splits, tmp_path):
    checkpoint = tmp_path / "checkpoints" / "VAE_seed7.pt"
    result = _train(tiny_splits, checkpoint)
    run = _record(result, metrics=False)
    run.update(status="failed", failure={"epoch": 3, "reason": "NaN loss"})
    R.save_run(tmp_path, "VAE", 7, run)
    assert list(checkpoint.parent.iterdir()) == []


def test_the_checkpoints_of_other_runs_are_left_alone(tiny_splits, tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    others = ["VAE_seed8.pt", "VAE_seed70.pt", "BetaVAE_seed7.pt", "VAE_seed7.pt.tmpabcd1234"]
    for name in others:
        (folder / name).write_bytes(b"x")
    R.save_run(tmp_path, "VAE", 7, _fixture_run(7))
    assert sorted(p.name for p in folder.iterdir()) == sorted(others)


def test_the_batch_summary_gives_the_evaluation_notebook_no_seed() -> None:
    """The issue: "evaluation 0 ok" read as a run of seed 0."""
    table = batch.summary_table(
        [batch.Outcome("VAE", 42, "ok", 3.0), batch.Outcome(batch.EVALUATION, 0, "ok", 5.0, "figures in x")]
    )
    rows = {line.split()[0]: line.split() for line in table.splitlines()[2:4]}
    assert rows["VAE"][:3] == ["VAE", "42", "ok"]
    assert rows["evaluation"][:3] == ["evaluation", "ok", "5.0"]
    assert table.splitlines()[-1] == "runs: 1 ok, 0 skipped, 0 failed, 0 crashed; evaluation notebook: ok"
