"""The training loop: early stopping, determinism, failure handling, pythae equivalence."""

from __future__ import annotations

import copy

import pytest
import torch
from pythae.data.datasets import BaseDataset
from pythae.trainers import (
    AdversarialTrainer,
    AdversarialTrainerConfig,
    BaseTrainer,
    BaseTrainerConfig,
    CoupledOptimizerAdversarialTrainer,
    CoupledOptimizerAdversarialTrainerConfig,
    CoupledOptimizerTrainer,
    CoupledOptimizerTrainerConfig,
)

from shared import training
from shared.registry import build_model, get_spec
from shared.training import TrainSettings, train_model


def _settings(**kw) -> TrainSettings:
    base = dict(epochs=3, patience=10, batch_size=32, seed=7, progress=False)
    base.update(kw)
    return TrainSettings(**base)


def _without_timing(history: dict) -> dict:
    return {k: v for k, v in history.items() if k != "seconds"}


def test_same_seed_same_history_and_weights(tiny_splits):
    a = train_model("VAE", tiny_splits, _settings())
    b = train_model("VAE", tiny_splits, _settings())
    assert _without_timing(a.history) == _without_timing(b.history)
    for (ka, va), (kb, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    c = train_model("VAE", tiny_splits, _settings(seed=8))
    assert c.history["train_loss"] != a.history["train_loss"]


def test_early_stopping_restores_best_weights(tiny_splits, monkeypatch):
    scripted = iter([5.0, 4.0, 3.0, 3.5, 4.0, 4.5, 9.0, 9.0])
    snapshots = {}
    real_train_epoch = training.train_epoch

    def fake_eval(model, x, epoch, batch_size, precision="fp32"):
        return {"loss": next(scripted)}

    def recording_train_epoch(model, spec, optimizers, x, epoch, settings, generator):
        out = real_train_epoch(model, spec, optimizers, x, epoch, settings, generator)
        snapshots[epoch] = copy.deepcopy(model.state_dict())
        return out

    monkeypatch.setattr(training, "evaluate_loss", fake_eval)
    monkeypatch.setattr(training, "train_epoch", recording_train_epoch)
    result = train_model("AE", tiny_splits, _settings(epochs=8, patience=3))
    assert result.early_stopped and result.epochs_run == 6 and result.best_epoch == 3
    assert result.history["val_loss"] == [5.0, 4.0, 3.0, 3.5, 4.0, 4.5]
    for k, v in result.model.state_dict().items():
        assert torch.equal(v, snapshots[3][k]), k
    assert not torch.equal(snapshots[6]["decoder.fc.weight"], snapshots[3]["decoder.fc.weight"])


def test_forced_nan_is_recorded_as_failed(tiny_splits):
    result = train_model("VAE", tiny_splits, _settings(epochs=4, debug_nan_epoch=2))
    assert result.status == "failed"
    assert result.failure["epoch"] == 2 and "non-finite" in result.failure["reason"]
    assert result.epochs_run == 1 and result.best_epoch == 1


def test_history_has_components_and_timing(tiny_splits):
    result = train_model("VAE", tiny_splits, _settings(epochs=2))
    h = result.history
    assert h["epoch"] == [1, 2]
    for key in ("train_loss", "val_loss", "train_recon_loss", "val_reg_loss", "seconds"):
        assert len(h[key]) == 2, key
    assert result.status == "ok" and result.failure is None


def test_bad_settings_are_rejected():
    for bad in (dict(epochs=0), dict(batch_size=-1), dict(patience=0), dict(lr=0), dict(device="tpu")):
        with pytest.raises(ValueError):
            TrainSettings(**bad)


# --- equivalence with pythae's own trainers --------------------------------------------------

TRAINERS = {
    "single": (BaseTrainer, BaseTrainerConfig, {"learning_rate": 1e-4}),
    "coupled": (
        CoupledOptimizerTrainer,
        CoupledOptimizerTrainerConfig,
        {"encoder_learning_rate": 1e-4, "decoder_learning_rate": 1e-4},
    ),
    "adversarial": (
        AdversarialTrainer,
        AdversarialTrainerConfig,
        {"autoencoder_learning_rate": 1e-4, "discriminator_learning_rate": 1e-4},
    ),
    "coupled_adversarial": (
        CoupledOptimizerAdversarialTrainer,
        CoupledOptimizerAdversarialTrainerConfig,
        {"encoder_learning_rate": 1e-4, "decoder_learning_rate": 1e-4, "discriminator_learning_rate": 1e-4},
    ),
}


class _FixedLoader(list):
    """Batches in a fixed order, with the `.dataset` pythae's train_step reads the size of."""

    def __init__(self, batches, dataset):
        super().__init__(batches)
        self.dataset = dataset


def _recorded_losses(model, store):
    original = model.forward

    def forward(inputs, **kwargs):
        out = original(inputs, **kwargs)
        store.append(training.loss_components(out))
        return out

    model.forward = forward


@pytest.mark.slow
@pytest.mark.parametrize("name", ["VAE", "RAE_L2", "PIWAE", "Adversarial_AE", "VAEGAN"])
def test_same_losses_as_pythae_trainer(name, tiny_splits, tmp_path):
    spec = get_spec(name)
    trainer_cls, config_cls, lrs = TRAINERS[spec.training_mode]
    extra = {}
    if spec.decoder_weight_decay_param:
        extra["decoder_optimizer_params"] = {"weight_decay": 1e-7}
    torch.manual_seed(0)
    theirs = build_model(name, epochs=3)
    dataset = BaseDataset(tiny_splits.train_x, tiny_splits.train_y)
    config = config_cls(
        output_dir=str(tmp_path), per_device_train_batch_size=32, num_epochs=1, **lrs, **extra
    )
    trainer = trainer_cls(model=theirs, train_dataset=dataset, training_config=config)
    ours = copy.deepcopy(trainer.model)  # after pythae's sanity-check forward pass
    batches = [tiny_splits.train_x[i : i + 32] for i in range(0, 96, 32)]

    trainer.prepare_training()  # pythae's own optimisers, callbacks, output dir
    trainer.train_loader = _FixedLoader([{"data": b} for b in batches], dataset)
    their_losses: list[dict] = []
    _recorded_losses(trainer.model, their_losses)
    torch.manual_seed(123)
    trainer.train_step(epoch=1)

    our_losses: list[dict] = []
    optimizers = training.make_optimizers(ours, spec, TrainSettings(channels_last=False))
    ours.train()
    torch.manual_seed(123)
    for b in batches:
        out = ours({"data": b}, epoch=1, dataset_size=len(dataset), uses_ddp=False)
        our_losses.append(training.loss_components(out))
        training.optimizer_step(spec.training_mode, optimizers, out)
    ours.update()

    assert len(our_losses) == len(their_losses) == 3
    for step, (a, b) in enumerate(zip(our_losses, their_losses)):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6), (step, k)
    for (ka, va), (kb, vb) in zip(ours.named_parameters(), trainer.model.named_parameters()):
        assert ka == kb and torch.allclose(va, vb, rtol=1e-5, atol=1e-7), ka


def test_progress_is_one_line_per_epoch(tiny_splits, capsys):
    """Executed notebooks keep stdout/stderr: one line per finished epoch, nothing per batch."""
    train_model("VAE", tiny_splits, TrainSettings(epochs=3, seed=0, progress=True, batch_size=16))
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) == 3 and all(
        line.startswith(f"epoch {i}/3: train loss ") for i, line in enumerate(lines, 1)
    )
    assert err == ""
