"""Per-epoch training checkpoints: an interrupted run resumes after its last finished epoch.

Why: a paper-profile run is up to 100 epochs; Ctrl-C, a closed laptop or a killed job must not
cost more than the epoch in progress. The checkpoint holds everything the next epoch depends on
(weights, optimiser moments, the shuffling generator, the global RNGs, history, best weights), so
a resumed run gives the same numbers as an uninterrupted one (tests check this; RHVAE's metric,
kept outside ``state_dict``, is rebuilt by ``model.update()`` from each epoch's own passes and needs
no saving). It is read with ``torch.load(weights_only=True)``: a checkpoint cannot run code.

When the training ends (done, early-stopped or failed) the file is not deleted but renamed
``X.pt`` -> ``X.ended.pt`` (:func:`shared.results.ended_checkpoint`): the finished training is not
stored yet. ``shared.results.save_run`` deletes it once the final run (failed, or ok with its
metrics) is safely written; if a save fails, the next run of the same notebook finds it and
resumes after its last epoch, so a failed save never costs the training.
"""

from __future__ import annotations

import io
import os
import random
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from shared.results import ended_checkpoint, write_bytes_atomically

# Settings a run may resume with changed: the progress display, the file's path and the CPU thread
# count (run_all.sh derives it from --jobs; it can move float sums in the last bits, nothing more).
_FREE_SETTINGS = ("progress", "threads", "checkpoint")


def _rng_states() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": random.getstate(),
    }


def _set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"]:
        torch.cuda.set_rng_state_all(states["cuda"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))


class Checkpoint:
    """The checkpoint file of one run, valid only for the same model, settings and data."""

    def __init__(self, path: str | Path, model_name: str, settings: Any, data: dict[str, Any]) -> None:
        self.path = Path(path)
        self.ended = ended_checkpoint(self.path)
        fixed = {k: v for k, v in asdict(settings).items() if k not in _FREE_SETTINGS}
        self.fingerprint = repr({"model": model_name, "settings": fixed, "data": data})

    def save(
        self,
        model: nn.Module,
        optimizers: dict[str, torch.optim.Optimizer],
        generator: torch.Generator,
        epoch: int,
        history: dict[str, list],
        best: tuple,
        wall_seconds: float,
    ) -> None:
        """Write the state after ``epoch`` (atomically: an interrupt leaves the previous one)."""
        state = {
            "fingerprint": self.fingerprint,
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
            "generator": generator.get_state(),
            "rng": _rng_states(),
            "history": history,
            "best": list(best),
            "wall_seconds": wall_seconds,
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomically(self.path, buffer.getvalue())

    def load(
        self, model: nn.Module, optimizers: dict[str, torch.optim.Optimizer], generator: torch.Generator
    ) -> dict[str, Any] | None:
        """Restore the saved state into the given objects; None (with a warning) when there is no
        usable checkpoint: the run then starts from epoch 1. A training that ended but whose run was
        never stored (``self.ended``) is resumed from too: after its last epoch, nothing to train."""
        if not self.path.exists():
            if not self.ended.exists():
                return None
            os.replace(self.ended, self.path)  # in progress again; remove() renames it back
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:
            warnings.warn(
                f"checkpoint {self.path} unreadable ({type(exc).__name__}): starting afresh", stacklevel=2
            )
            return None
        if state.get("fingerprint") != self.fingerprint:
            warnings.warn(
                f"checkpoint {self.path} belongs to other settings or data: starting afresh", stacklevel=2
            )
            return None
        model.load_state_dict(state["model"])
        for key, opt in optimizers.items():
            opt.load_state_dict(state["optimizers"][key])
        generator.set_state(state["generator"])
        _set_rng_states(state["rng"])
        return {**state, "best": tuple(state["best"])}

    def remove(self) -> None:
        """The training ended: keep the state, as ``self.ended``, until its run is stored
        (``shared.results.save_run`` deletes it then). Not deleted here: a save that fails must not
        cost the training."""
        if self.path.exists():
            os.replace(self.path, self.ended)

    def discard(self) -> None:
        """Delete the checkpoint, in progress or ended."""
        self.path.unlink(missing_ok=True)
        self.ended.unlink(missing_ok=True)
