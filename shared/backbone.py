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

import torch
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

    def forward(self, z: torch.Tensor) -> ModelOutput:
        h = self.fc(z.reshape(len(z), -1)).reshape(-1, 128, 3, 3)
        return ModelOutput(reconstruction=self.deconv(h))


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters (BatchNorm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
