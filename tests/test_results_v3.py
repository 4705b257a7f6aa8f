"""Schema 3: compressed files, image samples packed to uint8, FactorVAE's discriminator not stored;
older files still load, and saving one seed leaves the others byte for byte as they were."""

from __future__ import annotations

import pickle
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from shared import experiment, reevaluate, results
from tests.stored_runs import store_smoke_run
from tests.test_results import make_run
from tools.compare_results import differences


def _stored(path: Path) -> dict:
    return pickle.loads(zlib.decompress(path.read_bytes()))


def test_files_are_compressed_and_images_packed_to_the_nearest_1_255(tmp_path: Path) -> None:
    run = make_run(42)
    off_grid = np.random.default_rng(1).random((3, 28, 28)).astype(np.float16)
    run["samples"]["originals"] = off_grid
    path = results.save_run(tmp_path, "VAE", 42, run)
    assert path.read_bytes()[:1] == results.ZLIB_MAGIC
    assert _stored(path)["runs"][42]["samples"]["originals"].dtype == np.uint8
    loaded = results.load_results(path)["runs"][42]["samples"]["originals"]
    assert loaded.dtype == np.float16
    assert np.abs(loaded.astype(np.float32) - off_grid.astype(np.float32)).max() <= 0.5 / 255 + 1e-3
    assert np.array_equal(
        np.rint(loaded.astype(np.float32) * 255), np.rint(off_grid.astype(np.float32) * 255)
    )


def test_a_plain_pickle_of_an_older_schema_loads_with_its_float16_images(tmp_path: Path) -> None:
    run = make_run(42)
    old = {"schema_version": 2, "model": "VAE", "dataset": "MNIST", "runs": {42: run}}
    path = tmp_path / "VAE_MNIST.pkl"
    path.write_bytes(pickle.dumps(old, protocol=5))
    loaded = results.load_results(path)["runs"][42]
    assert differences(loaded["samples"], run["samples"], "samples") == []


def test_saving_a_seed_leaves_the_other_seeds_as_stored_checksums_included(tmp_path: Path) -> None:
    path = results.save_run(tmp_path, "VAE", 42, make_run(42))
    before = _stored(path)["runs"][42]
    results.save_run(tmp_path, "VAE", 123, make_run(123))
    after = _stored(path)["runs"][42]
    assert "checksum" in after and after["checksum"] == before["checksum"]
    assert results.run_checksum(after) == before["checksum"]


@pytest.fixture(scope="module")
def factor_vae(mnist_dir, tmp_path_factory) -> tuple[Path, dict, dict]:
    folder = tmp_path_factory.mktemp("results")
    run, result = store_smoke_run("FactorVAE", mnist_dir, folder)
    return folder, run, result.model.state_dict()


def test_factor_vae_keeps_no_discriminator_weights_and_restores_the_rest(factor_vae) -> None:
    _, run, trained = factor_vae
    assert any(k.startswith("discriminator.") for k in trained)
    assert not any(k.startswith("discriminator.") for k in run["weights"])
    assert run["config"]["weights_dropped"] == ["discriminator."]
    restored = experiment.restore_model("FactorVAE", run).state_dict()
    for name, value in trained.items():
        if not name.startswith("discriminator."):
            assert torch.equal(restored[name], value), name


def test_factor_vae_re_evaluates_to_the_same_numbers_without_its_discriminator(factor_vae, mnist_dir) -> None:
    folder, before, _ = factor_vae
    reevaluate.reevaluate(folder, ["FactorVAE"], data_dir=str(mnist_dir))
    after = results.load_results(folder / "FactorVAE_MNIST.pkl")["runs"][42]
    for part in ("metrics", "samples", "weights"):
        assert differences(before[part], after[part], part) == [], part


def test_weights_that_do_not_fit_the_model_are_one_line_errors(factor_vae) -> None:
    _, run, _ = factor_vae
    broken = {**run, "weights": {k: v for k, v in run["weights"].items() if not k.startswith("decoder.")}}
    with pytest.raises(results.ResultsError, match="do not fit the model") as info:
        experiment.restore_model("FactorVAE", broken)
    assert len(str(info.value).splitlines()) == 1
