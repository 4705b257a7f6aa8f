"""The training loop: pythae's losses, our loop (docs/PROTOCOL.md#3-training).

Why not pythae's ``TrainingPipeline``: it seeds after the model is built (so the seed does not
control initialisation), wraps every image in a Dataset item, has no early stopping, and raises
on a NaN. This loop calls ``model.forward`` for every loss -- the algorithms stay pythae's -- and
reproduces the optimiser steps of ``pythae/trainers/*`` for each training mode (see
``shared.registry.TRAINING_MODES``); ``tests/test_training.py`` checks that both give
the same losses from the same weights and batches.
"""

from __future__ import annotations

import copy
import functools
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from shared import backbone
from shared import precision as precisions
from shared.checkpoint import Checkpoint
from shared.data import MNISTSplits
from shared.latent import needs_autograd
from shared.protocol import STUDY
from shared.registry import (
    ADVERSARIAL,
    COUPLED,
    COUPLED_ADVERSARIAL,
    SINGLE,
    ModelSpec,
    build_model,
    get_spec,
)


@dataclass
class TrainSettings:
    """Training protocol; defaults are the study's (Adam 1e-4, batch 64, <= 100 epochs, patience 10)."""

    epochs: int = STUDY.epochs
    patience: int = STUDY.patience
    lr: float = STUDY.lr
    discriminator_lr: float = STUDY.discriminator_lr
    batch_size: int = STUDY.batch_size
    seed: int = 42
    device: str = "auto"  # "auto" = CUDA when available, else CPU
    threads: int | None = None  # torch intra-op threads; None leaves torch's default
    channels_last: bool = True  # faster convolutions on CPU; same maths
    precision: str = (
        precisions.DEFAULT
    )  # "fp32" | "bf16": bf16 autocast, float32 weights (shared/precision.py)
    fuse_output: bool = False  # decoder's last 2 layers as one: same maths, other rounding (backbone)
    fuse_input: bool = False  # decoder's first 2 layers as one linear map: likewise (backbone)
    fused_adam: bool = False  # Adam's fused kernel: the same update, other rounding on some CPUs
    progress: bool = True  # one line per finished epoch (not a per-batch bar: readable in executed notebooks)
    variant: str | None = None  # a documented alternative setting of the model (registry)
    model_overrides: dict[str, Any] | None = None  # config values replaced by a profile's budget
    debug_nan_epoch: int | None = None  # test hook: make the loss NaN in this epoch
    checkpoint: str | None = None  # file for a per-epoch checkpoint: an interrupted run resumes there

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not isinstance(self.patience, int) or self.patience < 1:
            raise ValueError(f"patience must be a positive integer, got {self.patience!r}")
        if not (self.lr > 0 and self.discriminator_lr > 0):
            raise ValueError("learning rates must be positive")
        if self.device not in ("auto", "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        precisions.check(self.precision)


@dataclass
class TrainResult:
    """What a run produced; ``model`` holds the best weights (lowest validation loss)."""

    model: nn.Module
    status: str  # "ok" | "failed"
    failure: dict[str, Any] | None
    history: dict[str, list]
    best_epoch: int | None
    epochs_run: int
    early_stopped: bool
    wall_seconds: float
    device: str
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "early_stopped": self.early_stopped,
            "wall_seconds": self.wall_seconds,
        }


class NonFiniteLoss(ArithmeticError):
    pass


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} requested but CUDA is not available on this machine")
    return torch.device(device)


def deterministic_cuda() -> None:
    """Ask CUDA for repeatable kernels: cuDNN's autotuner and some of its convolution algorithms,
    and cuBLAS without a fixed workspace, give different float sums from run to run. Costs some
    GPU speed; the same seed on the same GPU then gives the same numbers, as on the CPU."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and random: call before building the model."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_optimizers(
    model: nn.Module, spec: ModelSpec, settings: TrainSettings
) -> dict[str, torch.optim.Optimizer]:
    """The optimisers pythae's trainer for this mode would build, over the same parameters."""
    adam = functools.partial(torch.optim.Adam, fused=True) if settings.fused_adam else torch.optim.Adam
    mode = spec.training_mode
    if mode == SINGLE:
        return {"main": adam(model.parameters(), lr=settings.lr)}
    if mode not in (COUPLED, ADVERSARIAL, COUPLED_ADVERSARIAL):
        raise ValueError(f"unknown training mode {mode!r}")
    if mode == ADVERSARIAL:
        out = {
            "autoencoder": adam([*model.encoder.parameters(), *model.decoder.parameters()], lr=settings.lr)
        }
    else:
        decoder_kwargs = {}
        if spec.decoder_weight_decay_param is not None:
            decoder_kwargs["weight_decay"] = getattr(model.model_config, spec.decoder_weight_decay_param)
        out = {
            "encoder": adam(model.encoder.parameters(), lr=settings.lr),
            "decoder": adam(model.decoder.parameters(), lr=settings.lr, **decoder_kwargs),
        }
    if mode != COUPLED:
        out["discriminator"] = adam(model.discriminator.parameters(), lr=settings.discriminator_lr)
    return out


def optimizer_step(mode: str, optimizers: dict[str, torch.optim.Optimizer], out: Any) -> None:
    """One update, in the order of pythae's ``_optimizers_step`` for this mode."""
    if mode == SINGLE:
        opt = optimizers["main"]
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    elif mode == ADVERSARIAL:  # pythae/trainers/adversarial_trainer
        ae, disc = optimizers["autoencoder"], optimizers["discriminator"]
        ae.zero_grad()
        out.autoencoder_loss.backward(retain_graph=True)
        disc.zero_grad()
        out.discriminator_loss.backward()
        ae.step()
        disc.step()
    else:  # COUPLED / COUPLED_ADVERSARIAL: pythae/trainers/coupled_optimizer*_trainer
        parts = ["encoder", "decoder"] + (["discriminator"] if mode == COUPLED_ADVERSARIAL else [])
        active = [p for p in parts if out.get(f"update_{p}", True)]
        for p in active:
            optimizers[p].zero_grad()
            out[f"{p}_loss"].backward(retain_graph=p != active[-1])
        for p in active:
            optimizers[p].step()


def loss_components(out: Any) -> dict[str, float]:
    """Every scalar '*loss' the model reports (pythae names: recon_loss, reg_loss, ...)."""
    comps = {}
    for key, value in out.items():
        if key.endswith("loss") and torch.is_tensor(value) and value.numel() == 1:
            comps[key] = float(value.detach())
    return comps


def _forward(model: nn.Module, x: torch.Tensor, epoch: int, dataset_size: int) -> Any:
    return model({"data": x}, epoch=epoch, dataset_size=dataset_size, uses_ddp=False)


def _check_finite(comps: dict[str, float], epoch: int, where: str) -> None:
    bad = {k: v for k, v in comps.items() if not math.isfinite(v)}
    if bad:
        raise NonFiniteLoss(f"non-finite {where} loss in epoch {epoch}: {bad}")


def train_epoch(
    model: nn.Module,
    spec: ModelSpec,
    optimizers: dict[str, torch.optim.Optimizer],
    x: torch.Tensor,
    epoch: int,
    settings: TrainSettings,
    generator: torch.Generator,
) -> dict[str, float]:
    """One pass over ``x`` in a seeded random order; returns batch-averaged loss components."""
    model.train()
    order = torch.randperm(len(x), generator=generator).to(x.device)
    n_batches = math.ceil(len(x) / settings.batch_size)
    totals: dict[str, float] = {}
    for b in range(n_batches):
        batch = x[order[b * settings.batch_size : (b + 1) * settings.batch_size]]
        with precisions.autocast(settings.precision, x.device):
            out = _forward(model, batch, epoch, len(x))
        if settings.debug_nan_epoch == epoch:
            out["loss"] = out["loss"] * float("nan")
        comps = loss_components(out)
        _check_finite(comps, epoch, "training")
        optimizer_step(spec.training_mode, optimizers, out)
        for k, v in comps.items():
            totals[k] = totals.get(k, 0.0) + v
    model.update()  # pythae calls this after every training epoch (RHVAE's metric, ...)
    return {k: v / n_batches for k, v in totals.items()}


def evaluate_loss(
    model: nn.Module, x: torch.Tensor, epoch: int, batch_size: int, precision: str = precisions.DEFAULT
) -> dict[str, float]:
    """Validation loss as pythae's ``eval_step`` computes it (batch means, averaged), in the
    training's precision: it is the objective that picks the best epoch."""
    model.eval()
    totals: dict[str, float] = {}
    n_batches = math.ceil(len(x) / batch_size)
    for b in range(n_batches):
        batch = x[b * batch_size : (b + 1) * batch_size]
        with torch.set_grad_enabled(needs_autograd(model)), precisions.autocast(precision, x.device):
            out = _forward(model, batch, epoch, len(x))
        for k, v in loss_components(out).items():
            totals[k] = totals.get(k, 0.0) + v
    return {k: v / n_batches for k, v in totals.items()}


def epoch_line(epoch: int, epochs: int, train: dict, val: dict, seconds: float) -> str:
    """The one progress line of a finished epoch."""
    return (
        f"epoch {epoch:>{len(str(epochs))}}/{epochs}: train loss {train['loss']:.4g}, "
        f"validation loss {val['loss']:.4g} ({seconds:.1f} s)"
    )


def selection_epoch(spec: ModelSpec, epoch: int, settings: TrainSettings) -> int:
    """The epoch whose objective the validation loss uses (it picks the best epoch and drives early
    stopping). For objectives that change during training (Disentangled β-VAE's capacity C ramps
    to its target at the last epoch) that is the last epoch's, so every epoch is judged by the
    objective the run is meant to end with; otherwise the current epoch's."""
    return settings.epochs if spec.select_on_final_objective else epoch


def _record(
    history: dict[str, list], epoch: int, seconds: float, train: dict, val: dict, extra: dict
) -> None:
    row = {"epoch": epoch, "seconds": seconds}
    row.update({f"train_{k}": v for k, v in train.items()})
    row.update({f"val_{k}": v for k, v in val.items()})
    row.update(extra)
    for key in set(history) | set(row):
        history.setdefault(key, [None] * (epoch - 1)).append(row.get(key))


def prepare_model(model: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def _start_state(
    ckpt: Checkpoint | None,
    model: nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    generator: torch.Generator,
    progress: bool,
) -> tuple[dict[str, list], tuple, int, float]:
    """(history, best, first epoch, seconds already spent): a fresh run's, or the checkpoint's."""
    state = ckpt.load(model, optimizers, generator) if ckpt is not None else None
    if state is None:
        history: dict[str, list] = {"epoch": [], "seconds": [], "train_loss": [], "val_loss": []}
        return history, (math.inf, 0, copy.deepcopy(model.state_dict())), 1, 0.0
    if progress:
        print(f"Resuming from the checkpoint after epoch {state['epoch']} ({ckpt.path})")
    return state["history"], state["best"], state["epoch"] + 1, state["wall_seconds"]


def _run_epochs(
    model: nn.Module,
    spec: ModelSpec,
    optimizers: dict[str, torch.optim.Optimizer],
    data: tuple[torch.Tensor, torch.Tensor],
    settings: TrainSettings,
    generator: torch.Generator,
    ckpt: Checkpoint | None,
    state: tuple[dict[str, list], tuple, int, float],
) -> tuple[str, dict[str, Any] | None, bool, tuple]:
    """Epochs ``first``.. with early stopping: (status, failure, early stopped, best); ``history``
    grows in place and the checkpoint is saved after every epoch."""
    (train_x, val_x), (history, best, first, start) = data, state
    status, failure, early_stopped = "ok", None, False
    for epoch in range(first, settings.epochs + 1):
        t0 = time.perf_counter()
        try:
            train = train_epoch(model, spec, optimizers, train_x, epoch, settings, generator)
            val = evaluate_loss(
                model, val_x, selection_epoch(spec, epoch, settings), settings.batch_size, settings.precision
            )
            _check_finite(val, epoch, "validation")
        except NonFiniteLoss as exc:
            status, failure = "failed", {"epoch": epoch, "reason": str(exc)}
            if settings.progress:
                print(f"Run failed: {exc}. Keeping the best weights of epoch {best[1]}.")
            break
        extra = spec.epoch_metrics(model, val_x) if spec.epoch_metrics else {}
        seconds = time.perf_counter() - t0
        _record(history, epoch, seconds, train, val, extra)
        if settings.progress:
            print(epoch_line(epoch, settings.epochs, train, val, seconds), flush=True)
        if val["loss"] < best[0]:
            best = (val["loss"], epoch, copy.deepcopy(model.state_dict()))
        elif epoch - best[1] >= settings.patience:
            early_stopped = True
            break
        if ckpt is not None:
            ckpt.save(model, optimizers, generator, epoch, history, best, time.perf_counter() - start)
    return status, failure, early_stopped, best


def train_model(
    name: str,
    splits: MNISTSplits,
    settings: TrainSettings | None = None,
    model: nn.Module | None = None,
) -> TrainResult:
    """Train registry model ``name`` with early stopping; never raises on a diverging run.

    The seed is set before the model is built, so it controls initialisation and shuffling.
    A non-finite loss ends the run with status "failed" (epoch and reason recorded) and the
    best weights seen so far.
    """
    settings = settings or TrainSettings()
    spec = get_spec(name)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    device = resolve_device(settings.device)
    if device.type == "cuda":
        deterministic_cuda()
    seed_everything(settings.seed)
    if model is None:
        model = build_model(name, settings.epochs, settings.variant, settings.model_overrides)
    model = prepare_model(model, device, settings.channels_last)
    if settings.precision != "fp32":
        precisions.keep_float32(model, spec.float32_methods)
    if settings.progress and (note := precisions.advice(settings.precision, device)):
        print(note, flush=True)
    memory = torch.channels_last if settings.channels_last else torch.contiguous_format
    train_x = splits.train_x.to(device).contiguous(memory_format=memory)
    val_x = splits.val_x.to(device).contiguous(memory_format=memory)
    optimizers = make_optimizers(model, spec, settings)
    generator = torch.Generator().manual_seed(settings.seed)

    data = {"source": splits.source, "n_train": len(splits.train_x), "n_val": len(splits.val_x)}
    ckpt = Checkpoint(settings.checkpoint, name, settings, data) if settings.checkpoint else None
    history, best, first, earlier_seconds = _start_state(
        ckpt, model, optimizers, generator, settings.progress
    )
    start = time.perf_counter() - earlier_seconds
    with backbone.fused_layers(model, settings.fuse_output, settings.fuse_input):
        status, failure, early_stopped, best = _run_epochs(
            model,
            spec,
            optimizers,
            (train_x, val_x),
            settings,
            generator,
            ckpt,
            (history, best, first, start),
        )
    if ckpt is not None:
        ckpt.remove()  # the run ended (done, early-stopped or failed): the caller stores it
    model.load_state_dict(best[2])
    model.eval()
    return TrainResult(
        model=model,
        status=status,
        failure=failure,
        history=history,
        best_epoch=best[1] or None,  # None: no epoch finished
        epochs_run=len(history["epoch"]),
        early_stopped=early_stopped,
        wall_seconds=time.perf_counter() - start,
        device=str(device),
        settings={**asdict(settings), "training_mode": spec.training_mode, "optimizer": "Adam"},
    )
