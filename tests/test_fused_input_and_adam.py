"""The other two fusions (shared/fusions.py, issue #15): the decoder's Linear and first transposed
conv trained as one linear map (``fuse_input``), and Adam's fused kernel (``fused_adam``). Each
must be the same function / update (float64 against a by-hand computation here, and against the
layers one by one in tests/test_fused_output.py), another rounding in float32 on some CPUs at
least (so a custom run of its own), and off for evaluation."""

from __future__ import annotations

import dataclasses
from unittest import mock

import pytest
import torch

from shared import backbone, batch, experiment, fusions, params, registry
from shared.training import TrainSettings, make_optimizers, train_model


def _transposed_conv_by_hand(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Stride 2, no padding: input pixel (i, j) adds ``h[c, i, j] * W[c, o, ky, kx]`` to output
    pixel (2i + ky, 2j + kx) -- the definition, one kernel tap at a time."""
    n, _, size, _ = h.shape
    k = weight.shape[-1]
    out = bias.view(1, -1, 1, 1).expand(n, -1, 2 * size + k - 2, 2 * size + k - 2).clone()
    for ky in range(k):
        for kx in range(k):
            tap = torch.einsum("ncij,co->noij", h, weight[:, :, ky, kx])
            out[:, :, ky : ky + 2 * size : 2, kx : kx + 2 * size : 2] += tap
    return out


def test_the_linear_map_is_the_linear_layer_then_the_transposed_conv_by_hand():
    torch.manual_seed(0)
    decoder = backbone.Decoder().double()
    fc, first = decoder.fc, decoder.deconv[0]
    z = torch.randn(3, backbone.LATENT_DIM, dtype=torch.float64)
    by_hand = _transposed_conv_by_hand(
        (z @ fc.weight.t() + fc.bias).view(3, 128, 3, 3), first.weight, first.bias
    )
    assert by_hand.shape == (3, 64, 7, 7)
    assert torch.allclose(backbone._as_one_linear_map(fc, first, z), by_hand, rtol=1e-12, atol=1e-12)
    assert torch.allclose(first(fc(z).view(3, 128, 3, 3)), by_hand, rtol=1e-12, atol=1e-12)


def test_fused_input_changes_the_float32_rounding_only_and_keeps_the_memory_format():
    torch.manual_seed(0)
    decoder = backbone.Decoder().eval().to(memory_format=torch.channels_last)
    z = torch.randn(64, backbone.LATENT_DIM)
    h_plain = decoder.deconv[0](decoder.fc(z).view(64, 128, 3, 3))
    h_fused = backbone._as_one_linear_map(decoder.fc, decoder.deconv[0], z)
    assert h_fused.is_contiguous(memory_format=torch.channels_last)
    assert not torch.equal(h_plain, h_fused)  # another order of the sums
    assert torch.allclose(h_plain, h_fused, atol=1e-5)
    with backbone.fused_layers(torch.nn.ModuleDict({"decoder": decoder}), fuse_input=True):
        assert decoder.fuse_input and not decoder.fuse_output
    assert decoder.fuse_input is False  # back to the layers one by one


def _adam_by_hand(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """Kingma & Ba's Algorithm 1 with torch's eps placement: p -= lr m_hat / (sqrt(v_hat) + eps)."""
    m, v = torch.zeros_like(p), torch.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        p = p - lr * (m / (1 - betas[0] ** t)) / ((v / (1 - betas[1] ** t)).sqrt() + eps)
    return p


def _adam_steps(dtype, fused: bool, grads):
    p = torch.nn.Parameter(torch.linspace(-1, 1, 1000, dtype=dtype))
    opt = torch.optim.Adam([p], lr=1e-3, fused=fused)
    for g in grads:
        p.grad = g.to(dtype)
        opt.step()
    return p.detach()


def test_fused_adam_runs_the_fused_kernel_and_is_adams_update_by_hand_in_float64():
    """Whether the fused kernel rounds differently in float32 depends on the CPU: it did on the
    AMD EPYCs (families 25 and 26), not on the AMX Xeon -- hence the option's own equivalence
    study. What holds everywhere: the fused kernel runs, and in float64 both are Adam's update."""
    torch.manual_seed(0)
    grads = [torch.randn(1000, dtype=torch.float64) for _ in range(5)]
    start = torch.linspace(-1, 1, 1000, dtype=torch.float64)
    by_hand = _adam_by_hand(start, grads)
    for fused in (False, True):
        with mock.patch.object(torch, "_fused_adam_", wraps=torch._fused_adam_) as kernel:
            assert torch.allclose(_adam_steps(torch.float64, fused, grads), by_hand, rtol=1e-12, atol=1e-15)
        assert kernel.call_count == (len(grads) if fused else 0)
    loop32, fused32 = (_adam_steps(torch.float32, f, grads) for f in (False, True))
    assert torch.allclose(loop32, fused32, atol=1e-6)


@pytest.mark.parametrize("name", ["VAE", "Adversarial_AE", "FactorVAE", "RAE_L2"])  # every training mode
def test_every_optimizer_of_a_run_is_fused_when_asked(name):
    spec, model = registry.get_spec(name), registry.build_model(name, 1)
    for fused in (False, True):
        optimizers = make_optimizers(model, spec, TrainSettings(fused_adam=fused))
        assert [o.defaults["fused"] for o in optimizers.values()] == [fused or None] * len(optimizers)


def test_a_run_with_every_fusion_is_deterministic_differs_and_evaluates_unfused(tiny_splits):
    def run(**fused):
        settings = TrainSettings(epochs=1, seed=0, device="cpu", threads=1, progress=False, **fused)
        return train_model("VAE", tiny_splits, settings)

    every = dict.fromkeys(fusions.NAMES, True)
    plain, fused, again = run(), run(**every), run(**every)
    weights = [r.model.state_dict() for r in (plain, fused, again)]
    assert all(torch.equal(weights[1][k], weights[2][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])  # another rounding
    assert (
        abs(fused.history["train_loss"][0] - plain.history["train_loss"][0])
        < 1e-3 * plain.history["train_loss"][0]
    )
    assert all(fused.settings[name] is True and plain.settings[name] is False for name in fusions.NAMES)
    assert not (fused.model.decoder.fuse_input or fused.model.decoder.fuse_output)


def test_each_fusion_is_a_setting_a_parameter_a_budget_key_and_a_flag():
    fields = {f.name: f for f in dataclasses.fields(TrainSettings)}
    cell = params.parameters_cell()
    for name in fusions.NAMES:
        assert fields[name].default is False, name
        assert f"{name}: bool = False" in cell, name
        assert experiment.run_budget("VAE", "quick")[name] is False, name
    args = batch.parse_args(["--fuse-input", "--fused-adam"])
    assert args.identity == "quick+fuse_input=True+fused_adam=True"
    notebook = batch.notebook_params(args, batch.output_dirs(args.profile, None, args.identity), "VAE", 42, 1)
    assert (notebook["fuse_input"], notebook["fused_adam"], notebook["fuse_output"]) == (True, True, False)
    budget = experiment.run_budget("VAE", "quick", fuse_input=True, fused_adam=True)
    assert experiment.settings_for(budget, 42, "cpu", 1).fused_adam is True


def test_the_deviations_name_each_fusion(embedded_splits):
    budget = experiment.run_budget("VAE", "quick", **dict.fromkeys(fusions.NAMES, True))
    text = experiment.deviations("quick", budget, embedded_splits)
    assert all(f.deviation in text for f in fusions.FUSIONS)


def test_an_unknown_option_is_refused_in_one_line():
    with pytest.raises(TypeError, match="unknown option \\['fuse_everything'\\]"):
        experiment.run_budget("VAE", "quick", fuse_everything=True)
