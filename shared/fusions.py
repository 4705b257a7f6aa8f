"""The fused training options: the same function (or update), other rounding (docs/PROTOCOL.md#3-training).

Each is off by default; a run with one on is a custom run of its own, and whether it is
equivalent to the default is measured (benchmarks/precision_equivalence.py), never assumed. One
entry names the TrainSettings field, the training notebook's parameter, the budget key and the
run_all.sh flag (``--fuse-output``) at once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fusion:
    name: str
    what: str  # what is trained fused, for the parameter's comment and run_all.sh --help
    deviation: str  # how a run with it departs from the protocol, in words

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


FUSIONS: tuple[Fusion, ...] = (
    Fusion(
        "fuse_output",
        "the decoder's last two layers (transposed conv, 1x1 conv) trained as one transposed conv",
        "trained with the decoder's last two layers fused into one (same function, other rounding)",
    ),
    Fusion(
        "fuse_input",
        "the decoder's Linear and first transposed conv trained as one linear map",
        "trained with the decoder's Linear and first transposed conv fused into one linear map "
        "(same function, other rounding)",
    ),
    Fusion(
        "fused_adam",
        "Adam's fused kernel (torch.optim.Adam with fused on) instead of its per-parameter loop",
        "trained with Adam's fused kernel (same update; other rounding on some CPUs)",
    ),
)
NAMES: tuple[str, ...] = tuple(f.name for f in FUSIONS)


def off() -> dict[str, bool]:
    """Every fusion off: the protocol's training."""
    return dict.fromkeys(NAMES, False)
