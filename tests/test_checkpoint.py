"""Per-epoch checkpoints: an interrupted run resumes and ends with the numbers of an uninterrupted one."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from shared import registry
from shared.training import TrainSettings, train_model

EPOCHS = 3


def _settings(**kw) -> TrainSettings:
    return TrainSettings(epochs=EPOCHS, seed=7, progress=False, batch_size=32, **kw)


def _interrupt_in_epoch(monkeypatch, name: str, epoch: int) -> None:
    """Ctrl-C after ``epoch``'s training, before its checkpoint: the file then holds ``epoch - 1``."""
    spec = registry.get_spec(name)
    counter = {"epoch": 0}

    def hook(model, val_x):
        counter["epoch"] += 1
        if counter["epoch"] == epoch:
            raise KeyboardInterrupt
        return spec.epoch_metrics(model, val_x) if spec.epoch_metrics else {}

    monkeypatch.setitem(registry.REGISTRY, name, dataclasses.replace(spec, epoch_metrics=hook))


def _without_times(history: dict) -> dict:
    return {k: v for k, v in history.items() if k != "seconds"}


# VAE: the global RNG (reparametrisation); Adversarial_AE: two optimisers; RHVAE: a metric kept
# outside state_dict (pythae rhvae_model.py), rebuilt by model.update() every epoch
@pytest.mark.slow
@pytest.mark.parametrize("name", ["VAE", "Adversarial_AE", "RHVAE"])
def test_resumed_run_equals_uninterrupted_run(name, tiny_splits, tmp_path, monkeypatch):
    straight = train_model(name, tiny_splits, _settings())
    ckpt = tmp_path / "run.pt"
    with monkeypatch.context() as mp:
        _interrupt_in_epoch(mp, name, 3)
        with pytest.raises(KeyboardInterrupt):
            train_model(name, tiny_splits, _settings(checkpoint=str(ckpt)))
    assert ckpt.exists()
    resumed = train_model(name, tiny_splits, _settings(checkpoint=str(ckpt)))
    assert not ckpt.exists()  # the run ended: its results go to the results file
    assert _without_times(resumed.history) == _without_times(straight.history)
    assert resumed.best_epoch == straight.best_epoch
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_checkpoint_of_other_settings_or_a_damaged_one_is_not_used(tiny_splits, tmp_path, monkeypatch):
    ckpt = tmp_path / "run.pt"
    with monkeypatch.context() as mp:
        _interrupt_in_epoch(mp, "VAE", 2)
        with pytest.raises(KeyboardInterrupt):
            train_model("VAE", tiny_splits, _settings(checkpoint=str(ckpt)))
    with pytest.warns(UserWarning, match="other settings"):
        other = train_model("VAE", tiny_splits, _settings(checkpoint=str(ckpt), lr=2e-4))
    assert other.history["epoch"] == [1, 2, 3]
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="unreadable"):
        fresh = train_model("VAE", tiny_splits, _settings(checkpoint=str(ckpt)))
    assert fresh.history["epoch"] == [1, 2, 3]
