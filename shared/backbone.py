"""The study's encoder/decoder, shared by every model (docs/PROTOCOL.md#2-backbone).

Encoder: 3 x [Conv2d(k=3, s=2) -> BatchNorm2d -> LeakyReLU(0.2)] with 32/64/128 channels
(28 -> 14 -> 7 -> 3), flatten to 1152, then linear heads to the 16-d latent space.
Decoder: Linear(16, 1152) -> 128x3x3 -> 3 transposed convs (k=3, s=2; 3 -> 7 -> 14 -> 28;
128 -> 64 -> 32 -> 32), BatchNorm + LeakyReLU(0.2) on all but the last -> 1x1 conv -> Sigmoid.

Heads, per what each pythae model reads from the encoder output:
``"embedding"`` (AE, WAE, RAE, VQ-VAE), ``"gaussian"`` (embedding + log_covariance: the VAE
family), ``"concentration"`` (embedding + log_concentration: SVAE's vMF, PoincareVAE).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from pythae.models.base.base_utils import ModelOutput
from pythae.models.nn import BaseDecoder, BaseEncoder
from torch import nn

LATENT_DIM = 16
FEATURES = 128 * 3 * 3
HEADS = ("embedding", "gaussian", "concentration")


def _conv_block(c_in: int, c_out: int, padding: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, kernel_size=3, stride=2, padding=padding),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2),
    ]


class Encoder(BaseEncoder):
    """Conv trunk + heads; ``head`` picks the outputs the model needs (see module doc)."""

    def __init__(self, head: str = "gaussian", latent_dim: int = LATENT_DIM, concentration_dim: int = 1):
        BaseEncoder.__init__(self)
        if head not in HEADS:
            raise ValueError(f"unknown encoder head {head!r}; choose one of {HEADS}")
        self.head = head
        self.latent_dim = latent_dim
        self.conv = nn.Sequential(
            *_conv_block(1, 32, padding=1),  # 28 -> 14
            *_conv_block(32, 64, padding=1),  # 14 -> 7
            *_conv_block(64, 128, padding=0),  # 7 -> 3
            nn.Flatten(),
        )
        self.embedding = nn.Linear(FEATURES, latent_dim)
        if head == "gaussian":
            self.log_var = nn.Linear(FEATURES, latent_dim)
        elif head == "concentration":
            self.log_concentration = nn.Linear(FEATURES, concentration_dim)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        h = self.conv(x.reshape(-1, 1, 28, 28))
        out = ModelOutput(embedding=self.embedding(h))
        if self.head == "gaussian":
            out["log_covariance"] = self.log_var(h)
        elif self.head == "concentration":
            out["log_concentration"] = self.log_concentration(h)
        return out


class Decoder(BaseDecoder):
    """Linear -> 3 transposed convs -> 1x1 conv -> Sigmoid, images [B, 1, 28, 28]."""

    def __init__(self, latent_dim: int = LATENT_DIM):
        BaseDecoder.__init__(self)
        self.fc = nn.Linear(latent_dim, FEATURES)
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(128, 64, kernel_size=3, stride=2),  # 3 -> 7
            nn.BatchNorm2d(64),
            nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(64, 32, kernel_size=3, stride=2, padding=1, output_padding=1),  # 7 -> 14
            nn.BatchNorm2d(32),
            nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(32, 32, kernel_size=3, stride=2, padding=1, output_padding=1),  # 14 -> 28
            nn.Conv2d(32, 1, kernel_size=1),
            nn.Sigmoid(),
        )
        # training's options (TrainSettings.fuse_input / fuse_output): see fused_layers
        self.fuse_input = self.fuse_output = False

    def forward(self, z: torch.Tensor) -> ModelOutput:
        first, *body, last_deconv, pointwise, sigmoid = self.deconv
        z = z.reshape(len(z), -1)
        h = (
            _as_one_linear_map(self.fc, first, z)
            if self.fuse_input
            else first(self.fc(z).reshape(-1, 128, 3, 3))
        )
        for layer in body:
            h = layer(h)
        h = _as_one_deconv(last_deconv, pointwise, h) if self.fuse_output else pointwise(last_deconv(h))
        return ModelOutput(reconstruction=sigmoid(h))


def _as_one_linear_map(fc: nn.Linear, deconv: nn.ConvTranspose2d, z: torch.Tensor) -> torch.Tensor:
    """``deconv(fc(z))`` as one linear map 16 -> 64 x 7 x 7. Both are linear with only a reshape
    between them, so ``deconv(W z + b) = sum_i z_i deconv'(W[:, i]) + deconv'(b) + b_deconv``
    (deconv' without its bias): the transposed conv runs on fc's 16 weight columns and its bias --
    17 small images, not the batch of 64 -- and one matrix product does the rest. The same function
    of z and of all four parameters; the sums run in another order (another rounding), as in
    ``_as_one_deconv``."""
    columns = torch.cat([fc.weight.t(), fc.bias[None]]).reshape(-1, 128, 3, 3)
    mapped = F.conv_transpose2d(
        columns,
        deconv.weight,
        None,
        deconv.stride,
        deconv.padding,
        deconv.output_padding,
        deconv.groups,
        deconv.dilation,
    )
    weight = mapped[:-1].flatten(1)
    bias = mapped[-1].flatten() + deconv.bias.repeat_interleave(mapped[0, 0].numel())
    out = torch.addmm(bias, z, weight).reshape(len(z), *mapped.shape[1:])
    channels_last = deconv.weight.is_contiguous(memory_format=torch.channels_last)
    return out.contiguous(memory_format=torch.channels_last) if channels_last else out  # as deconv's output


def _as_one_deconv(deconv: nn.ConvTranspose2d, pointwise: nn.Conv2d, h: torch.Tensor) -> torch.Tensor:
    """``pointwise(deconv(h))`` as one transposed conv. Both are linear with nothing between them,
    so their composition is the transposed conv with weight ``P @ W`` and bias ``P @ b_W + b_P``:
    the same function of h and of all four parameters (autograd gives them the same gradients),
    without the 32-channel 28x28 map in between -- 1/32 of the last layer's multiply-adds, which
    were about 40% of a training step. The sums run in another order, so the rounding differs:
    an option shown equivalent (benchmarks/precision_equivalence.py), never the default."""
    mix = pointwise.weight.flatten(1)  # [out, 32]
    weight = torch.einsum("icjk,oc->iojk", deconv.weight, mix)  # ConvTranspose2d weight: [in, out, kh, kw]
    bias = pointwise.bias + mix @ deconv.bias
    return F.conv_transpose2d(
        h, weight, bias, deconv.stride, deconv.padding, deconv.output_padding, deconv.groups, deconv.dilation
    )


@contextlib.contextmanager
def fused_layers(model: nn.Module, fuse_output: bool = False, fuse_input: bool = False) -> Iterator[None]:
    """Train ``model`` with its decoder's last two layers as one (``_as_one_deconv``) and/or its
    first two as one linear map (``_as_one_linear_map``); afterwards the decoder computes them one
    by one again, so evaluation is the same for every run."""
    if not (fuse_output or fuse_input):
        yield
        return
    decoder = getattr(model, "decoder", None)
    if not isinstance(decoder, Decoder):
        names = " and ".join(n for n, on in (("fuse_output", fuse_output), ("fuse_input", fuse_input)) if on)
        raise ValueError(
            f"{names} needs the study's decoder (shared.backbone.Decoder), not {type(decoder).__name__}"
        )
    decoder.fuse_output, decoder.fuse_input = fuse_output, fuse_input
    try:
        yield
    finally:
        decoder.fuse_output = decoder.fuse_input = False


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters (BatchNorm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
