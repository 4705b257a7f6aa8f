"""The fused decoder output (issue #15 item 5): the decoder's last transposed conv and 1x1 conv
trained as one transposed conv. It must be the same function with the same gradients (checked in
float64 against the layers one by one, and against the composed weight computed here by hand), a
different rounding in float32 (so a custom run of its own), and off again for evaluation."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from shared import backbone, batch, experiment, params, registry
from shared.training import TrainSettings, train_model


def loss_and_grads(model, x, **fused: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss and every parameter's gradient, with the decoder layers ``fused`` (fused_layers')."""
    model.zero_grad()
    torch.manual_seed(1)  # the same reparametrisation noise for every way
    with backbone.fused_layers(model, **fused):
        out = model({"data": x}, epoch=1, dataset_size=len(x), uses_ddp=False)
    out.loss.backward()
    return out.loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize(
    "fused",
    [{"fuse_output": True}, {"fuse_input": True}, {"fuse_input": True, "fuse_output": True}],
    ids=["output", "input", "both"],
)
@pytest.mark.parametrize("name", ["VAE", "IWAE", "AE"])
def test_fused_is_the_same_loss_and_gradients_in_float64(name, fused):
    torch.manual_seed(0)
    model = registry.build_model(name, 1).double().train()
    x = torch.rand(6, 1, 28, 28, dtype=torch.float64)
    plain_loss, plain = loss_and_grads(model, x)
    fused_loss, grads = loss_and_grads(model, x, **fused)
    assert torch.allclose(plain_loss, fused_loss, rtol=1e-12, atol=0)
    assert plain.keys() == grads.keys()
    # biases before a BatchNorm have a zero gradient in exact arithmetic: compare on the whole scale
    scale = max(g.abs().max() for g in plain.values())
    for key in plain:
        assert torch.allclose(plain[key], grads[key], rtol=1e-9, atol=1e-12 * scale), key


def test_the_composed_weight_is_the_product_of_the_two_layers():
    """By hand, per output pixel: sum over c of P[c] * convT_c(h) + b, against the fused conv."""
    torch.manual_seed(0)
    decoder = backbone.Decoder().double()
    deconv, pointwise = decoder.deconv[6], decoder.deconv[7]
    h = torch.randn(2, 32, 14, 14, dtype=torch.float64)
    per_channel = F.conv_transpose2d(h, deconv.weight, None, stride=2, padding=1, output_padding=1)
    by_hand = (pointwise.weight[0, :, 0, 0].view(1, -1, 1, 1) * per_channel).sum(1, keepdim=True)
    by_hand = by_hand + (pointwise.weight[0, :, 0, 0] * deconv.bias).sum() + pointwise.bias
    assert torch.allclose(backbone._as_one_deconv(deconv, pointwise, h), by_hand, rtol=1e-12, atol=1e-12)


def test_fused_changes_the_float32_rounding_only():
    torch.manual_seed(0)
    decoder = backbone.Decoder().eval()
    z = torch.randn(64, backbone.LATENT_DIM)
    plain = decoder(z)["reconstruction"]
    with backbone.fused_layers(torch.nn.ModuleDict({"decoder": decoder}), True):
        fused = decoder(z)["reconstruction"]
    assert not torch.equal(plain, fused)  # another order of the sums
    assert torch.allclose(plain, fused, atol=1e-6)
    assert decoder.fuse_output is False  # back to the layers one by one


def _train(splits, fuse: bool, name: str = "VAE"):
    settings = TrainSettings(epochs=1, seed=0, device="cpu", threads=1, progress=False, fuse_output=fuse)
    return train_model(name, splits, settings)


def test_a_fused_run_is_deterministic_differs_and_evaluates_unfused(tiny_splits):
    plain, fused, again = _train(tiny_splits, False), _train(tiny_splits, True), _train(tiny_splits, True)
    weights = [r.model.state_dict() for r in (plain, fused, again)]
    assert fused.history["train_loss"] == again.history["train_loss"]
    assert all(torch.equal(weights[1][k], weights[2][k]) for k in weights[0])
    # the trained weights, not the epoch's mean loss: two steps' float32 losses can round alike
    # (they did on the AMX Xeon), the parameters after them do not
    assert not all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert (
        abs(fused.history["train_loss"][0] - plain.history["train_loss"][0])
        < 1e-3 * plain.history["train_loss"][0]
    )
    assert fused.settings["fuse_output"] is True and plain.settings["fuse_output"] is False
    assert fused.model.decoder.fuse_output is False  # evaluation runs the layers one by one


def test_every_registry_model_has_the_decoder_it_fuses():
    for name in registry.MODEL_NAMES:
        model = registry.build_model(name, 1)
        with backbone.fused_layers(model, True):
            assert model.decoder.fuse_output is True, name


def test_a_model_without_the_study_decoder_is_refused_in_one_line():
    other = torch.nn.Module()
    other.decoder = torch.nn.Linear(2, 2)
    with (
        pytest.raises(ValueError, match="fuse_output needs the study's decoder"),
        backbone.fused_layers(other, True),
    ):
        pass


def test_a_fused_run_is_a_custom_run_with_its_own_identity_and_deviation(embedded_splits):
    budget = experiment.run_budget("VAE", "quick", fuse_output=True)
    assert experiment.run_identity("VAE", "quick", budget, None) == "quick+fuse_output=True"
    assert any("fused into one" in d for d in experiment.deviations("quick", budget, embedded_splits))
    assert experiment.settings_for(budget, 42, "cpu", 1).fuse_output is True
    assert experiment.settings_for(experiment.run_budget("VAE", "quick"), 42, "cpu", 1).fuse_output is False


def test_run_all_fuse_output_goes_to_its_own_folder_and_notebook_parameter():
    args = batch.parse_args(["--profile", "quick", "--fuse-output"])
    dirs = batch.output_dirs(args.profile, args.results_dir, args.identity)
    assert args.identity == "quick+fuse_output=True"
    assert dirs["results"].name == "quick+fuse_output=True"
    assert batch.notebook_params(args, dirs, "VAE", 42, 1)["fuse_output"] is True
    both = batch.parse_args(["--precision", "bf16", "--fuse-output"]).identity
    assert both == "quick+fuse_output=True+precision=bf16"


def test_the_notebook_parameter_is_a_bool():
    assert "fuse_output: bool = False" in params.parameters_cell()
    params.check_training_parameters({"fuse_output": True}, "VAE")
    with pytest.raises(params.ParameterError, match=re.escape("fuse_output = 'yes': expected bool")):
        params.check_training_parameters({"fuse_output": "yes"}, "VAE")
    with pytest.raises(params.ParameterError, match=re.escape("seed = True: expected int")):
        params.check_training_parameters({"seed": True}, "VAE")
