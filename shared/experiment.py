"""One (model, seed) run end to end, step by step as the training notebooks call it.

Profiles are budgets on one code path (the notebook's ``profile`` parameter):
- ``smoke``: a few hundred images, 1 epoch: for tests, seconds per notebook.
- ``quick``: the newcomer's first run on a 2-core CPU: all 22 models in minutes (the README gives the measured time).
- ``reference``: the published CPU run: full MNIST, 3 seeds, 1-2 epochs at lr 1e-3 (about 2 hours
  on 2 cores; per-model budgets for the costly models are registry fields).
- ``paper``: the study's protocol: full MNIST, <= 100 epochs, early stopping 10, seeds 42/123/456.
Every way a profile departs from the study is listed in ``Profile.deviations`` and stored with
the run, so tables and captions can say so.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import re
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shared import fusions, registry, results
from shared import precision as precisions
from shared.data import EMBEDDED_SPLIT, MNISTSplits, load_mnist
from shared.protocol import PUBLISHED_PROFILES, STUDY
from shared.training import TrainResult, TrainSettings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
QUICK_EPOCHS = 4
REFERENCE_EPOCHS = 2


@dataclass(frozen=True)
class Profile:
    """A training budget; per-model budgets (the expensive IWAE variants) are registry fields
    (``ModelSpec.profile_budgets``), so a model named there is always a registry model."""

    name: str
    epochs: int
    patience: int
    n_train: int | None  # None = the whole training split
    n_eval: int | None  # None = the whole validation and test splits
    seeds: tuple[int, ...]
    description: str
    lr: float = STUDY.lr

    def budget(self, model: str) -> dict[str, Any]:
        base = {
            "epochs": self.epochs,
            "patience": self.patience,
            "n_train": self.n_train,
            "n_eval": self.n_eval,
            "lr": self.lr,
            "model_params": {},
            "precision": precisions.DEFAULT,  # every profile trains in float32; bf16 is a custom run
            **fusions.off(),  # the layers one by one, Adam's loop: a fused run is a custom run
        }
        return {**base, **registry.get_spec(model).profile_budgets.get(self.name, {})}


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        epochs=1,
        patience=STUDY.patience,
        n_train=256,
        n_eval=128,
        seeds=(42,),
        description="256 training images, 128 validation/test images, 1 epoch: a test of the code path",
    ),
    "quick": Profile(
        name="quick",
        epochs=QUICK_EPOCHS,
        patience=STUDY.patience,
        n_train=4000,
        n_eval=1000,  # full MNIST: first 1,000 validation/test images (the embedded data has 500)
        seeds=(42,),
        lr=1e-3,
        description=f"4,000 training images (the embedded default, or the first 4,000 of full MNIST), "
        f"{QUICK_EPOCHS} epochs at lr 1e-3, 1 seed: a first run on a CPU",
    ),
    "reference": Profile(
        name="reference",
        epochs=REFERENCE_EPOCHS,
        patience=STUDY.patience,
        n_train=None,
        n_eval=None,
        seeds=STUDY.seeds,
        lr=1e-3,
        description=f"full MNIST, seeds {'/'.join(map(str, STUDY.seeds))}, {REFERENCE_EPOCHS} epochs at lr 1e-3 "
        "(1 epoch for the costly models; MIWAE / PIWAE 2 x 5 samples on 25,000 / 12,500 images): "
        "the largest run of all 22 models x 3 seeds that fits about 2 hours on a 2-core CPU, "
        "set from the measured seconds per epoch (benchmarks/reference_budget_results.md); "
        "lr 1e-3 because 1e-4 barely moves in 2 epochs",
    ),
    "paper": Profile(
        name="paper",
        epochs=STUDY.epochs,
        patience=STUDY.patience,
        n_train=None,
        n_eval=None,
        seeds=STUDY.seeds,
        description=f"the study's protocol: full MNIST, <= {STUDY.epochs} epochs, early stopping "
        f"{STUDY.patience}, seeds {'/'.join(map(str, STUDY.seeds))}",
    ),
}


def default_results_dir(profile: str, custom: bool = False) -> Path:
    """paper_results/ for the published profiles (reference, paper); results/<profile>/ otherwise,
    so quick and smoke runs never mix with, or get committed as, the published results; and
    results/custom/ for a run with its own budget or a variant (see ``is_custom``), so it never
    replaces the profile's run of the same seed."""
    get_profile(profile)
    if custom:
        return PROJECT_ROOT / "results" / "custom"
    return PROJECT_ROOT / ("paper_results" if profile in PUBLISHED_PROFILES else f"results/{profile}")


def run_identity(model: str, profile: str, budget: dict[str, Any], variant: str | None) -> str:
    """Which run this is: the profile's name for the profile's own run; for a custom run the
    profile plus what differs from its budget and the variant, e.g. ``quick+epochs=2+lr=0.01``
    (a folder name: results_dir_for), so two different custom runs never share a place."""
    base = get_profile(profile).budget(model)
    changed = {k: v for k, v in budget.items() if base.get(k) != v}
    parts = [f"{k}={_compact(v)}" for k, v in sorted(changed.items())]
    parts += [f"variant={variant}"] if variant is not None else []
    return "+".join([profile, *parts])


def _compact(value: Any) -> str:
    if isinstance(value, dict):
        text = ",".join(f"{k}={v}" for k, v in sorted(value.items()))
    else:
        text = f"{value:g}" if isinstance(value, float) else str(value)
    return re.sub(r"[^A-Za-z0-9._=,-]", "_", text)


def results_dir_for(profile: str, identity: str, results_dir: str | os.PathLike | None) -> Path:
    """Where a run is stored: ``results_dir`` when given (a custom run there never replaces a run of
    another identity: shared.results refuses, in one line); else the profile's folder for its own
    run and ``results/custom/<identity>/`` for a custom one, so a sweep of custom runs keeps them all."""
    if results_dir:
        return Path(results_dir)
    if identity == profile:
        return default_results_dir(profile)
    return PROJECT_ROOT / "results" / "custom" / identity


def is_custom(model: str, profile: str, budget: dict[str, Any], variant: str | None) -> bool:
    """True when a run is not the profile's own (its budget was changed, or a variant is used)."""
    return run_identity(model, profile, budget, variant) != profile


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None


def run_budget(
    model: str,
    profile: str,
    epochs: int | None = None,
    patience: int | None = None,
    n_train: int | None = None,
    lr: float | None = None,
    precision: str | None = None,
    **fused: bool | None,
) -> dict[str, Any]:
    """The profile's budget for ``model``, with explicit notebook parameters taking precedence
    (``fused``: the shared.fusions options by name)."""
    registry.get_spec(model)
    if unknown := set(fused) - set(fusions.NAMES):
        raise TypeError(f"run_budget: unknown option {sorted(unknown)}; the fusions are {fusions.NAMES}")
    budget = get_profile(profile).budget(model)
    given = (("epochs", epochs), ("patience", patience), ("n_train", n_train), ("lr", lr))
    for key, value in (*given, ("precision", precision), *fused.items()):
        if value is not None:
            budget[key] = value
    return budget


def load_data(budget: dict[str, Any], data_dir: str | None = None, profile: str = "quick") -> MNISTSplits:
    """MNIST for this run; the published profiles refuse the embedded subset."""
    splits = load_mnist(
        data_dir, n_train=budget["n_train"], n_eval=budget["n_eval"], data_root=PROJECT_ROOT / "data"
    )
    if profile in PUBLISHED_PROFILES and not splits.is_full_mnist:
        raise ValueError(
            f"the {profile} profile needs full MNIST: pass data_dir or set MNIST_DIR (see README 'Getting full MNIST')"
        )
    return splits


def used_sizes(budget: dict[str, Any], splits: MNISTSplits) -> str:
    """The images this run uses, in one line: the budget's n_train and n_eval are upper bounds
    (the embedded data has 500 validation and 500 test images where the quick budget says 1,000)."""
    sizes = f"{len(splits.train_x):,} training, {len(splits.val_x):,} validation, {len(splits.test_x):,} test"
    short = [
        f"{key} {budget[key]:,}"
        for key, used in (
            ("n_train", len(splits.train_x)),
            ("n_eval", min(len(splits.val_x), len(splits.test_x))),
        )
        if budget.get(key) is not None and used < budget[key]
    ]
    fewer = f" (fewer than the budget's {', '.join(short)}: all the data has)" if short else ""
    return f"data: {splits.source}; images used: {sizes}{fewer}"


def deviations(profile: str, budget: dict[str, Any], splits: MNISTSplits) -> list[str]:
    """How this run departs from the study's protocol, in words (for captions and tables)."""
    out = []
    if not splits.is_full_mnist:
        out.append(f"data: {splits.source} instead of full MNIST")
    elif len(splits.train_x) != STUDY.n_train:
        out.append(f"{len(splits.train_x)} training images instead of {STUDY.n_train:,}")
    if budget["epochs"] != STUDY.epochs:
        out.append(
            f"at most {budget['epochs']} epoch{'s' * (budget['epochs'] != 1)} instead of {STUDY.epochs}"
        )
    if budget["patience"] != STUDY.patience:
        out.append(f"early-stopping patience {budget['patience']} instead of {STUDY.patience}")
    if budget["lr"] != STUDY.lr:
        out.append(f"learning rate {budget['lr']:g} instead of {STUDY.lr:g}")
    for key, value in budget["model_params"].items():
        out.append(f"{key} = {value} (profile budget) instead of the study's setting")
    if budget.get("precision", precisions.DEFAULT) != precisions.DEFAULT:
        out.append(f"trained with {budget['precision']} autocast instead of float32")
    out += [f.deviation for f in fusions.FUSIONS if budget.get(f.name)]
    full_test = STUDY.n_test if splits.is_full_mnist else EMBEDDED_SPLIT[2]
    if len(splits.test_x) < full_test:
        out.append(f"only {len(splits.test_x)} test images instead of {full_test}")
    return out


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
        )
        commit = out.stdout.strip() or "unknown"
        return commit + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    """Installed versions (pythae has no ``__version__``: read from the package metadata)."""
    return {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "pythae": importlib.metadata.version("pythae"),
        "numpy": np.__version__,
    }


def run_record(
    model: str,
    profile: str,
    budget: dict[str, Any],
    splits: MNISTSplits,
    result: TrainResult,
    evaluation: dict | None,
) -> dict[str, Any]:
    """Everything about one run as plain data (schema: shared/results.py)."""
    spec = registry.get_spec(model)
    variant = result.settings.get("variant")
    identity = run_identity(model, profile, budget, variant)
    record = results.to_plain(
        {
            "seed": result.settings["seed"],
            "status": result.status,
            "failure": result.failure,
            # a notebook run with its own epochs / lr / ... or a variant is not the profile's run:
            # "custom" keeps run_all from skipping it as done and the report from mixing it in unseen
            "profile": "custom" if identity != profile else profile,
            "config": {
                "model": model,
                "identity": identity,
                "display_name": spec.display_name,
                "family": spec.family,
                "model_config": registry.config_as_dict(result.model.model_config),
                "training": {**result.settings, "budget": budget},
                "data": splits.describe(),
                "deviations": deviations(profile, budget, splits)
                + ([f"variant {variant!r} instead of the default setting"] if variant else []),
                "setting_differs": spec.setting_differs_for(variant),
                "device": result.device,
                "versions": versions(),
                "git_commit": git_commit(),
                "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            },
            "history": result.history,
            "training": result.summary(),
            "metrics": None if evaluation is None else evaluation["metrics"],
            "eval_indices": None if evaluation is None else evaluation["eval_indices"],
            "samples": None if evaluation is None else evaluation["samples"],
        }
    )
    record["weights"] = model_weights(result.model, spec.unused_weights)
    if spec.unused_weights:
        record["config"]["weights_dropped"] = list(spec.unused_weights)
    return record


# pythae's RHVAE keeps its metric outside ``state_dict`` (rhvae/rhvae_model.py: ``M_tens`` and
# ``centroids_tens``, set by ``model.update()``); without them a restored RHVAE evaluates with the
# initial metric. They are stored beside the weights under "attr:<name>" (schema: weights).
_OUTSIDE_STATE_DICT = ("M_tens", "centroids_tens")


def model_weights(model: torch.nn.Module, unused: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The best weights as numpy arrays (0-d ones too), plus the state pythae keeps outside them,
    less the entries under the prefixes ``unused`` (evaluation never runs them)."""
    state = model.state_dict()
    weights = {k: v.detach().cpu().numpy() for k, v in state.items() if not k.startswith(unused)}
    for name in _OUTSIDE_STATE_DICT:
        value = getattr(model, name, None)
        if torch.is_tensor(value):
            weights[f"attr:{name}"] = value.detach().cpu().numpy()
    return weights


def restore_model(model: str, run: dict) -> torch.nn.Module:
    """Rebuild ``model`` through the registry and load a stored run's best weights."""
    training = run["config"]["training"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = registry.build_model(
            model, training["epochs"], training.get("variant"), training.get("model_overrides")
        )
    state = {k: torch.as_tensor(np.asarray(v)) for k, v in run["weights"].items()}
    attributes = {k.removeprefix("attr:"): state.pop(k) for k in list(state) if k.startswith("attr:")}
    dropped = tuple(run["config"].get("weights_dropped", ()))
    missing, unexpected = net.load_state_dict(state, strict=False)
    not_stored = [k for k in missing if not k.startswith(dropped)]
    if not_stored or unexpected:
        raise results.ResultsError(
            f"{model} seed {run['seed']}",
            f"stored weights do not fit the model (missing {not_stored[:3]}, unexpected {unexpected[:3]})",
        )
    for name, value in attributes.items():
        setattr(net, name, value)
    if attributes and hasattr(net, "G_inv"):
        # RHVAE's G / G_inv are closures made by update(); rebuild them over the restored metric,
        # as pythae's own RHVAE.load_from_folder does (rhvae/rhvae_model.py)
        from pythae.models.rhvae.rhvae_utils import create_inverse_metric, create_metric

        net.G, net.G_inv = create_metric(net), create_inverse_metric(net)
    return net.eval()


def settings_for(
    budget: dict[str, Any], seed: int, device: str, threads: int | None, **extra
) -> TrainSettings:
    return TrainSettings(
        epochs=budget["epochs"],
        patience=budget["patience"],
        lr=budget["lr"],
        model_overrides=budget["model_params"] or None,
        precision=budget.get("precision", precisions.DEFAULT),
        **{name: budget.get(name, False) for name in fusions.NAMES},
        seed=seed,
        device=device,
        threads=threads,
        **extra,
    )
