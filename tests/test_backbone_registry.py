"""Backbone shapes and hand-counted parameters; every registry model builds and takes a step."""

from __future__ import annotations

import math

import pytest
import torch

from shared import registry
from shared.backbone import Decoder, Encoder, count_parameters
from shared.training import TrainSettings, loss_components, make_optimizers, optimizer_step

# Hand count (weights + biases; BatchNorm: 2 per channel):
CONV_TRUNK = (1 * 32 * 9 + 32) + 64 + (32 * 64 * 9 + 64) + 128 + (64 * 128 * 9 + 128) + 256
HEAD = 1152 * 16 + 16
DECODER = (
    (16 * 1152 + 1152)  # Linear(16, 1152)
    + (128 * 64 * 9 + 64)
    + 128  # ConvT 128->64 + BN
    + (64 * 32 * 9 + 32)
    + 64  # ConvT 64->32 + BN
    + (32 * 32 * 9 + 32)  # ConvT 32->32 (last: no BN / activation)
    + (32 * 1 + 1)  # 1x1 conv
)


def test_parameter_counts_match_hand_count():
    counts = {
        "embedding": count_parameters(Encoder("embedding")),
        "gaussian": count_parameters(Encoder("gaussian")),
        "concentration": count_parameters(Encoder("concentration")),
        "decoder": count_parameters(Decoder()),
    }
    print("parameter counts:", counts)
    assert CONV_TRUNK == 93_120 and DECODER == 121_313
    assert counts == {
        "embedding": CONV_TRUNK + HEAD,
        "gaussian": CONV_TRUNK + 2 * HEAD,
        "concentration": CONV_TRUNK + HEAD + (1152 + 1),
        "decoder": DECODER,
    }


def test_shapes():
    x = torch.rand(5, 1, 28, 28)
    enc = Encoder("gaussian")
    trunk_shapes = []
    h = x
    for layer in enc.conv:
        h = layer(h)
        if isinstance(layer, torch.nn.LeakyReLU):
            trunk_shapes.append(tuple(h.shape[1:]))
    assert trunk_shapes == [(32, 14, 14), (64, 7, 7), (128, 3, 3)]
    out = enc(x)
    assert out.embedding.shape == (5, 16) and out.log_covariance.shape == (5, 16)
    assert "log_covariance" not in Encoder("embedding")(x).keys()
    assert Encoder("concentration")(x).log_concentration.shape == (5, 1)
    rec = Decoder()(out.embedding).reconstruction
    assert rec.shape == (5, 1, 28, 28) and float(rec.min()) >= 0 and float(rec.max()) <= 1


def test_registry_contents():
    assert len(registry.MODEL_NAMES) == 22
    assert set(registry.EXTRA_MODEL_NAMES) == {"VAEGAN", "RHVAE", "PoincareVAE"}
    for name in registry.ALL_MODEL_NAMES:
        spec = registry.get_spec(name)
        assert spec.family in registry.FAMILIES
        assert spec.training_mode in registry.TRAINING_MODES
        assert spec.display_name and spec.pythae_name
    modes = {n: registry.get_spec(n).training_mode for n in registry.ALL_MODEL_NAMES}
    assert modes["RAE_L2"] == modes["PIWAE"] == registry.COUPLED
    assert modes["Adversarial_AE"] == modes["FactorVAE"] == registry.ADVERSARIAL
    assert modes["VAEGAN"] == registry.COUPLED_ADVERSARIAL


def test_unknown_model_lists_valid_names():
    with pytest.raises(registry.UnknownModelError) as info:
        registry.get_spec("VAE2")
    msg = str(info.value)
    assert "VAE2" in msg and "BetaTCVAE" in msg and "HRQVAE" in msg
    with pytest.raises(registry.UnknownModelError):
        registry.parse_model_list("VAE,nope")
    assert registry.parse_model_list("all") == list(registry.MODEL_NAMES)


# MIWAE / PIWAE decode 50 samples per image: seconds per step, so they are in the slow tier
_ONE_STEP = [
    pytest.param(n, marks=pytest.mark.slow) if n in ("MIWAE", "PIWAE") else n
    for n in registry.ALL_MODEL_NAMES
]


@pytest.mark.parametrize("name", _ONE_STEP)
def test_model_builds_and_takes_one_step(name, tiny_splits):
    torch.manual_seed(0)
    model = registry.build_model(name, epochs=3)
    spec = registry.get_spec(name)
    optimizers = make_optimizers(model, spec, TrainSettings(epochs=3))
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    model.train()
    out = model({"data": tiny_splits.train_x}, epoch=1, dataset_size=128, uses_ddp=False)
    comps = loss_components(out)
    assert "loss" in comps and all(math.isfinite(v) for v in comps.values()), comps
    assert out.recon_x.shape[-2:] == (28, 28)
    optimizer_step(spec.training_mode, optimizers, out)
    changed = [k for k, v in model.named_parameters() if not torch.equal(v, before[k])]
    assert any(k.startswith("encoder.") for k in changed)
    assert any(k.startswith("decoder.") for k in changed)
