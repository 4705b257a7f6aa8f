"""The results files: one pickle per model, written safely, read without executing code.

This docstring is the authoritative description of the format (``shared/SCHEMA.md`` points here).

``<results_dir>/[MODEL]_MNIST.pkl`` is a pickle of plain data only: dict, list, tuple, str, int,
float, bool, None, bytes, numpy arrays and numpy scalars (no object arrays). It is read with a
restricted unpickler that refuses every other class or function, so opening a results file from
someone else cannot run code. Schema version 1::

    {
      "schema_version": 1,
      "model": "VAE",                  # registry name; also the file-name prefix
      "dataset": "MNIST",
      "runs": {42: run, 123: run, ...} # int seed -> run
    }
    run = {
      "seed": int,                     # equals its key in "runs"
      "status": "ok" | "failed",
      "failure": None | {"epoch": int, "reason": str},   # None iff status == "ok";
                                       # epoch 0 = failed before the first epoch ended
      "profile": "smoke" | "quick" | "reference" | "paper" | "custom",
      "config": {
          "model": str, "display_name": str, "family": str,
          "model_config": dict,          # every model hyper-parameter actually used
          "training": dict,              # epochs, patience, lr, batch_size, training_mode, ...
          "data": {"source": str, "is_full_mnist": bool, "n_train": int, "n_val": int,
                   "n_test": int},
          "device": str,
          "versions": {"python": str, "torch": str, "pythae": str, "numpy": str},
          "git_commit": str,
          "created": str,                # ISO-8601 UTC
          "identity": str,               # optional: which run (shared.experiment.run_identity):
                                         # the profile, or e.g. "quick+epochs=2" for a custom run;
                                         # a custom run never replaces a run of another identity
          "setting_differs": str,        # optional: the study setting this run does not use
                                         # ("" = the study's stated setting; shared.registry)
      },
      "history": {                       # equal-length lists (or 1-D arrays), one entry per epoch
          "epoch": [1, 2, ...], "train_loss": [...], "val_loss": [...], "seconds": [...],
          # plus model-specific components, e.g. "train_discriminator_loss", "codebook_usage"
      },
      "training": {"epochs_run": int, "best_epoch": int | None, "early_stopped": bool,
                   "wall_seconds": float},   # best_epoch None only when no epoch finished
      "metrics": None | {
          "reconstruction": {
              # "protocol_*": the study's 100 fixed test images; "full_*": the whole test split.
              # "*_sampled": x_hat = Decoder(z), z ~ q(z|x) (seeded) -- the study's protocol;
              # "*_mean":    x_hat = Decoder(mean code) -- what most users expect.
              # Any subset of the four keys may be present (e.g. a smoke run skips "full_*").
              "protocol_sampled" | "protocol_mean" | "full_sampled" | "full_mean": {
                  "per_image": {"ssim": f32[n], "mse": f32[n], "psnr": f32[n], "mae": f32[n],
                                "sharpness": f32[n]},
                  "mean": {"ssim": float, ...}, "std": {"ssim": float, ...},
              },
          },
          "interpolation": {             # along the model's own path (shared.catalogue)
              "per_sequence": {"piq": f32[25], "iss": f32[25], "issim": f32[25]},
              "mean": {...}, "std": {...},
          },
          # optional (absent in older files):
          "interpolation_path": str,     # "line" | "great_circle" | "poincare_geodesic"
          "interpolation_paths": {       # extra paths, same block layout as "interpolation":
              "chord": {...},            #   SVAE: the study's literal straight line (off the sphere)
              "requantised": {...},      #   VQ-VAE: each frame's code re-quantised
          },
          "collapse": {                  # posterior-collapse rule (shared.collapse.COLLAPSE_RULE)
              "mean_code_mse": float,    #   full test split, reconstruction from the mean code
              "mean_image_mse": float,   #   predicting the mean training image for every test image
              "ratio": float,            #   mean_code_mse / mean_image_mse
              "collapsed": bool,         #   ratio >= shared.collapse.COLLAPSE_RATIO
          },
      },
      "eval_indices": None | {           # indices into the test split, identical for every model
          "reconstruction": i64[100], "interpolation": i64[25, 2], "latent": i64[<=1000],
      },
      "samples": None | {
          "originals": f16[100, 28, 28],            # the protocol reconstruction images
          "reconstructions_sampled": f16[100, 28, 28],
          "reconstructions_mean": f16[100, 28, 28],
          "interpolations": f16[25, 10, 28, 28],    # frames from the mean codes
          "latent_codes": f32[<=1000, 16], "latent_labels": i64[<=1000],
      },
      "weights": None | {name: ndarray},           # best weights, model.state_dict() as numpy, plus
                                                    # "attr:<name>" for state pythae keeps outside it (RHVAE)
    }

Schema version 2 adds the metrics beyond the study
(docs/PROTOCOL.md#10-beyond-the-study). Every block it adds is optional, so a version-1 file
loads as it is (a v1 run is a v2 run without them) and is stamped 2 when a run is next saved
into it::

    metrics.interpolation, metrics.interpolation_paths.*:   # beside piq / iss / issim
        per_sequence / mean / std: "endpoint_distance", "path_excess", "step_cv"
                                   # shared.metrics.SCALE_FREE_METRICS; path_excess is NaN where
                                   # the end frames are identical: mean / std skip NaN
    metrics.generation: {
        "prior": str,              # shared.registry.PRIORS ("none": no prior sampler)
        "prior_label": str,        # its words (shared.generation.PRIOR_LABELS)
        "n_samples": int,          # per sampler (10,000)
        "gmm_components": int,
        "notes": {sampler: str},   # why a sampler has no samples (no prior, mixture fit failed)
        "feature_net": str,        # shared.classifier.classifier_id(): which features
        "k": int,                  # precision / recall neighbourhood size
        "n_real": int,             # test images the sets are compared with
        "n_pr": int,               # points per set used for precision / recall
        "sets": {"prior" | "gmm" | "reconstruction_mean" | "reconstruction_sampled":
                 {"fd": float, "precision": float, "recall": float, "n_fake": int}},
    }
    metrics.codes: {               # shared.codes: what the mean codes know about the digit
        "probe_accuracy": float,   #   logistic regression, train codes -> test codes
        "kmeans_accuracy": f32[restarts],   # test codes, Hungarian-matched, one per restart
        "kmeans_mean": float, "kmeans_std": float,
        "n_train_codes": int, "n_test_codes": int, "restarts": int,
    }
    samples.generated_prior, samples.generated_gmm: f16[64, 28, 28]   # the first 64 of each sampler
    config.reevaluated: {"git_commit": str, "created": str}   # metrics recomputed from stored
                                                              # weights (shared.reevaluate)
    run.checksum: str              # SHA-256 (64 hex digits) of the run without this key, in the
                                   # canonical serialisation of run_checksum (types, sorted dict
                                   # keys, every array's dtype, shape and bytes). Written by
                                   # save_run (any checksum passed in is replaced); verified and
                                   # removed by load_results, so a loaded run never has it. Runs
                                   # without one (files written before it) load unverified.

Schema version 3 (written by this code) makes files smaller; v1 and v2 files load as they are:

    the file: a zlib stream of the pickle (older files: the plain pickle; told apart by the
              first byte)
    samples.<image> (IMAGE_SAMPLES): stored as uint8 = round(value x 255); load_results returns
              float16 value / 255, as older files hold them (display only: no metric reads them)
    config.weights_dropped: [str]  # optional: prefixes of state-dict entries not stored because
              # evaluation never uses them (FactorVAE's discriminator: registry
              # ModelSpec.unused_weights); restore_model leaves those at their initial values

Integrity on load: a run whose checksum does not match its data is refused ("seed N: checksum
mismatch", naming the file), and in every run, with or without a checksum, each stored ``mean``
must be the float64 mean of the per-item values it summarises (per_image / per_sequence, and
metrics.codes.kmeans_mean of kmeans_accuracy), over the finite values where some are NaN and NaN
where none is (path_excess), up to float32 rounding (``MEAN_RTOL``).

Metric definitions are in :mod:`shared.metrics`. Extra keys are allowed anywhere (readers
ignore them); missing required keys, wrong types and means that do not match their per-item
values are refused by :func:`validate_run`.

Writing: :func:`save_run` replaces one seed of one model under a file lock
(``<file>.lock``), writing a temporary file (``<file>.tmp*``) in the same directory and
renaming it over the old one, so concurrent runs of different seeds never lose each other's
results and a crash never leaves a half-written file. Under the lock it first deletes the
temporary files of ``<file>`` that a killed writer left, and after the rename it deletes the
lock file itself (still holding it), so a results folder holds only the ``*_MNIST.pkl`` files.
A run's training checkpoint (``<results_dir>/checkpoints/<model>_seed<seed>.pt``, renamed
``.ended.pt`` when its training ends: :mod:`shared.checkpoint`) is deleted only after the final
run (failed, or ok with metrics) is written; a failed save names it and says how to resume.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import operator
import os
import pickle
import re
import sys
import tempfile
import warnings
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePath
from typing import Any, Literal

import filelock
import numpy as np
import pandas as pd

try:  # numpy >= 2
    from numpy._core import multiarray as _np_multiarray
    from numpy._core import numeric as _np_numeric
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _np_multiarray
    from numpy.core import numeric as _np_numeric

SCHEMA_VERSION = 3
READABLE_SCHEMA_VERSIONS = (1, 2, 3)  # v2 adds optional blocks; v3 packs images, compresses (see above)
ZLIB_MAGIC = b"\x78"  # the first byte of a zlib stream (a pickle starts with b"\x80")
ZLIB_LEVEL = 6
#: samples that are images in [0, 1]: stored as uint8 (value x 255, rounded), read back as float16
IMAGE_SAMPLES = (
    "originals", "reconstructions_sampled", "reconstructions_mean", "interpolations",
    "generated_prior", "generated_gmm",
)  # fmt: skip
DATASET = "MNIST"
PICKLE_PROTOCOL = 5
LOCK_TIMEOUT_S = 600.0
STATUSES = ("ok", "failed")
PROFILES = ("smoke", "quick", "reference", "paper", "custom")
RECONSTRUCTION_SETS = ("protocol_sampled", "protocol_mean", "full_sampled", "full_mean")
INTERPOLATION_PATH_SETS = ("chord", "requantised")  # extra paths: eval set "interpolation_<path>"
EVAL_SETS = (
    *RECONSTRUCTION_SETS,
    "interpolation",
    *(f"interpolation_{p}" for p in INTERPOLATION_PATH_SETS),
)
COLLAPSE_KEYS = ("mean_code_mse", "mean_image_mse", "ratio", "collapsed")
DISTRIBUTION_SETS = ("prior", "gmm", "reconstruction_mean", "reconstruction_sampled")
DISTRIBUTION_METRICS = ("fd", "precision", "recall")
GENERATION_KEYS = ("prior", "n_samples", "feature_net", "k", "n_real", "sets")
CODES_KEYS = ("probe_accuracy", "kmeans_accuracy", "kmeans_mean", "kmeans_std")
#: eval sets of metrics_frame with one value per run (no per-item arrays)
SUMMARY_SETS = (*(f"distribution_{s}" for s in DISTRIBUTION_SETS), "codes")
RECONSTRUCTION_METRICS = ("ssim", "mse", "psnr", "mae", "sharpness")
INTERPOLATION_METRICS = ("piq", "iss", "issim")
TOP_LEVEL_KEYS = ("schema_version", "model", "dataset", "runs")
RUN_KEYS = (
    "seed", "status", "failure", "profile", "config", "history", "training",
    "metrics", "eval_indices", "samples", "weights",
)  # fmt: skip
CONFIG_KEYS = (
    "model", "display_name", "family", "model_config", "training", "data",
    "device", "versions", "git_commit", "created",
)  # fmt: skip
DATA_KEYS = ("source", "is_full_mnist", "n_train", "n_val", "n_test")
HISTORY_KEYS = ("epoch", "train_loss", "val_loss", "seconds")
TRAINING_KEYS = ("epochs_run", "best_epoch", "early_stopped", "wall_seconds")
CHECKSUM_KEY = "checksum"  # optional run key: sha256 of the rest of the run (run_checksum)
#: a stored mean may differ from the float64 mean of its per-item float32 values by float32
#: rounding (a mean taken in float32), relative to the values' mean magnitude; no more
MEAN_RTOL = 1e-5


class ResultsError(Exception):
    """A results file is missing, unreadable, unsafe or not in the schema; says which and why."""

    def __init__(self, source: str | os.PathLike, problem: str) -> None:
        self.source, self.problem = str(source), problem
        super().__init__(f"{self.source}: {problem}")

    def _render_traceback_(self) -> list[str]:  # IPython (notebooks): this one line, no traceback
        return [f"ResultsError: {self}"]


# ---------------------------------------------------------------- safe loading

_NUMPY_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("multiarray", "_reconstruct"): _np_multiarray._reconstruct,
    ("multiarray", "scalar"): _np_multiarray.scalar,
    ("numeric", "_frombuffer"): _np_numeric._frombuffer,
}
_BUILTIN_GLOBALS = {
    "set": set, "frozenset": frozenset, "bytearray": bytearray,
    "complex": complex, "bytes": bytes,
}  # fmt: skip


def _allowed_global(module: str, name: str) -> Any | None:
    """The object a plain-data pickle may reference, or None (refused)."""
    if module in ("builtins", "__builtin__"):
        return _BUILTIN_GLOBALS.get(name)
    if (module, name) == ("_codecs", "encode"):  # bytes in protocol-2 pickles
        import codecs

        return codecs.encode
    if module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        return _NUMPY_GLOBALS.get(("multiarray", name))
    if module in ("numpy._core.numeric", "numpy.core.numeric"):
        return _NUMPY_GLOBALS.get(("numeric", name))
    return _NUMPY_GLOBALS.get((module, name))


class _PlainDataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        found = _allowed_global(module, name)
        if found is None:
            raise _Refused(f"{module}.{name}")
        return found


class _Refused(Exception):
    pass


def _unpickle(path: Path) -> Any:
    try:
        payload = path.read_bytes()
        if payload[:1] == ZLIB_MAGIC:  # schema 3 files are zlib-compressed; older ones plain pickles
            payload = zlib.decompress(payload)
        return _PlainDataUnpickler(io.BytesIO(payload)).load()
    except FileNotFoundError:
        raise ResultsError(path, "file not found") from None
    except _Refused as e:
        raise ResultsError(path, f"refused to load {e}: results files may only contain plain data") from None
    except OSError as e:
        raise ResultsError(path, f"cannot read: {e}") from e
    except Exception as e:  # EOFError, UnpicklingError, ValueError, ... from a damaged file
        raise ResultsError(path, f"truncated or corrupt pickle ({type(e).__name__}: {e})") from e


def _check_top_level(data: Any, path: Path) -> None:
    if not isinstance(data, dict):
        raise ResultsError(path, f"expected a dict at top level, got {type(data).__name__}")
    missing = [k for k in TOP_LEVEL_KEYS if k not in data]
    if missing:
        raise ResultsError(path, f"missing top-level keys {missing}")
    if data["schema_version"] not in READABLE_SCHEMA_VERSIONS:
        readable = ", ".join(map(str, READABLE_SCHEMA_VERSIONS))
        raise ResultsError(
            path, f"unknown schema_version {data['schema_version']!r} (this code reads versions {readable})"
        )
    if not isinstance(data["runs"], dict):
        raise ResultsError(path, "'runs' must be a dict seed -> run")


def load_results(path: str | os.PathLike) -> dict:
    """Load and validate one results file; any problem raises :class:`ResultsError`.

    Readers see each run as it was saved: its checksum removed, image samples as float16."""
    data = _read_stored(Path(path))
    for run in data["runs"].values():
        run.pop(CHECKSUM_KEY, None)
        _unpack_images(run)
    return data


def _read_stored(path: Path) -> dict:
    """The file as stored (checksums kept, image samples packed), every run verified."""
    data = _unpickle(path)
    _check_top_level(data, path)
    for seed, run in data["runs"].items():
        if isinstance(run, dict) and CHECKSUM_KEY in run:
            _verify_checksum(run, path, seed)
        validate_run(run, source=f"{path} [seed {seed!r}]")
        if run["seed"] != seed:
            raise ResultsError(path, f"run under key {seed!r} says seed {run['seed']!r}")
    return data


def _verify_checksum(run: dict, path: Path, seed: Any) -> None:
    stored = run[CHECKSUM_KEY]
    try:
        computed = run_checksum(run)
    except TypeError as e:
        raise ResultsError(path, f"seed {seed!r}: cannot verify its checksum ({e})") from None
    if stored != computed:
        raise ResultsError(
            path,
            f"seed {seed!r}: checksum mismatch (stored {str(stored)[:12]}..., data gives {computed[:12]}...): "
            "the run was damaged or edited after it was saved",
        )


# ---------------------------------------------------------------- checksums


def run_checksum(run: Mapping) -> str:
    """SHA-256 (hex) of a canonical serialisation of ``run`` without its ``"checksum"`` key.

    Canonical: every value is written with its type, and dicts in sorted key order, so the same
    plain data gives the same digest whatever the dict order or pickle protocol; every array
    contributes its dtype, shape and raw bytes (one flipped bit changes the digest).
    """
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in run.items() if k != CHECKSUM_KEY})
    return h.hexdigest()


def _feed(h: Any, obj: Any) -> None:
    kind = type(obj)
    if obj is None:
        h.update(b"N")
    elif kind is bool:
        h.update(b"T" if obj else b"F")
    elif kind in (int, float, complex):
        h.update(b"%c%s;" % (kind.__name__[0].encode(), repr(obj).encode()))
    elif kind is str:
        _feed_bytes(h, b"s", obj.encode("utf-8", "surrogatepass"))
    elif kind in (bytes, bytearray):
        _feed_bytes(h, b"b", bytes(obj))
    elif isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError("numpy object arrays are not plain data")
        h.update(b"a%s%s;" % (str(obj.dtype.descr).encode(), repr(obj.shape).encode()))
        h.update(np.ascontiguousarray(obj).data if obj.size else b"")
    elif isinstance(obj, np.generic):
        h.update(b"g%s;" % obj.dtype.str.encode())
        h.update(obj.tobytes())
    elif kind in (list, tuple):
        h.update(b"%c%d;" % (kind.__name__[0].encode(), len(obj)))
        for item in obj:
            _feed(h, item)
    elif kind is dict:
        h.update(b"d%d;" % len(obj))
        for key in sorted(obj, key=lambda k: (type(k).__name__, repr(k))):
            _feed(h, key)
            _feed(h, obj[key])
    else:
        raise TypeError(f"no checksum for {kind.__qualname__}")


def _feed_bytes(h: Any, tag: bytes, data: bytes) -> None:
    h.update(b"%s%d;" % (tag, len(data)))
    h.update(data)


# ---------------------------------------------------------------- plain data


def to_plain(obj: Any) -> Any:
    """Recursively convert to the plain data a results file may hold.

    torch tensors -> numpy arrays (0-d ones stay 0-d arrays, so a state dict's
    ``num_batches_tracked`` reloads with its shape), numpy scalars -> Python scalars, tuples kept, ``Path`` -> str, dataclasses (incl. pythae configs) -> dict.
    Anything else that is not plain raises TypeError, so a stray object is caught when saving
    rather than making the file unreadable by :func:`load_results`.
    """
    if isinstance(obj, np.generic):  # before the builtins: np.float64 is a float subclass
        return _plain_scalar(obj.item(), obj)
    if obj is None or type(obj) in (bool, int, float, str, bytes):  # not subclasses (enums)
        return obj
    if isinstance(obj, np.ndarray):
        return _plain_array(obj)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.Tensor):
        return _plain_tensor(obj)
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, Mapping):
        return {to_plain(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(to_plain(v) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    raise TypeError(f"not plain data, cannot go into a results file: {type(obj).__qualname__}")


def _plain_scalar(value: Any, original: Any) -> Any:
    if isinstance(value, (bool, int, float, complex, str, bytes)):
        return value
    raise TypeError(f"numpy scalar of unsupported type {type(original).__qualname__}")


def _plain_array(arr: np.ndarray) -> Any:
    if arr.dtype.hasobject:
        raise TypeError("numpy object arrays are not plain data")
    return arr


def _plain_tensor(t: Any) -> Any:
    t = t.detach().cpu().resolve_conj().resolve_neg()
    try:
        arr = t.numpy()
    except TypeError:  # bfloat16 & co. have no numpy dtype
        arr = t.float().numpy()
    return _plain_array(arr.copy())  # a copy: later in-place updates must not leak in


# ---------------------------------------------------------------- validation


def _need(cond: bool, source: str, problem: str) -> None:
    if not cond:
        raise ResultsError(source, problem)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _need_dict(d: Any, keys: Iterable[str], source: str, where: str) -> None:
    _need(isinstance(d, dict), source, f"{where} must be a dict, got {type(d).__name__}")
    missing = [k for k in keys if k not in d]
    _need(not missing, source, f"{where} is missing keys {missing}")


def validate_run(run: Any, source: str | os.PathLike = "<run>") -> None:
    """Check one run against the schema; raise :class:`ResultsError` naming ``source`` if not."""
    source = str(source)
    _need_dict(run, RUN_KEYS, source, "run")
    _need(_is_int(run["seed"]), source, f"seed must be an int, got {run['seed']!r}")
    _need(run["status"] in STATUSES, source, f"status must be one of {STATUSES}")
    _need(run["profile"] in PROFILES, source, f"profile must be one of {PROFILES}")
    _check_failure(run, source)
    _check_config(run["config"], source)
    _check_history(run["history"], source)
    _check_training(run["training"], source)
    if run["metrics"] is not None:
        _check_metrics(run["metrics"], source)
    for key in ("eval_indices", "samples", "weights"):
        _check_arrays(run[key], source, key)
    if CHECKSUM_KEY in run:
        checksum = run[CHECKSUM_KEY]
        ok = isinstance(checksum, str) and len(checksum) == 64 and not checksum.strip("0123456789abcdef")
        _need(ok, source, "checksum must be 64 lower-case hex digits (sha256)")


def _check_failure(run: dict, source: str) -> None:
    failure = run["failure"]
    if run["status"] == "ok":
        _need(failure is None, source, "failure must be None when status is 'ok'")
        return
    _need_dict(failure, ("epoch", "reason"), source, "failure")
    _need(_is_int(failure["epoch"]), source, "failure.epoch must be an int")
    _need(isinstance(failure["reason"], str), source, "failure.reason must be a str")


def _check_config(config: Any, source: str) -> None:
    _need_dict(config, CONFIG_KEYS, source, "config")
    for key in ("model", "display_name", "family", "device", "git_commit", "created"):
        _need(isinstance(config[key], str), source, f"config.{key} must be a str")
    for key in ("model_config", "training", "versions"):
        _need(isinstance(config[key], dict), source, f"config.{key} must be a dict")
    _need(isinstance(config.get("identity", ""), str), source, "config.identity must be a str")
    data = config["data"]
    _need_dict(data, DATA_KEYS, source, "config.data")
    _need(isinstance(data["source"], str), source, "config.data.source must be a str")
    _need(
        isinstance(data["is_full_mnist"], bool),
        source,
        "config.data.is_full_mnist: bool",
    )
    for key in ("n_train", "n_val", "n_test"):
        _need(_is_int(data[key]), source, f"config.data.{key} must be an int")


def _check_history(history: Any, source: str) -> None:
    _need_dict(history, HISTORY_KEYS, source, "history")
    lengths = set()
    for key, values in history.items():
        ok = isinstance(values, list) or (isinstance(values, np.ndarray) and values.ndim == 1)
        _need(ok, source, f"history.{key} must be a list or 1-D array")
        lengths.add(len(values))
    _need(len(lengths) <= 1, source, f"history lists differ in length: {sorted(lengths)}")


def _check_training(training: Any, source: str) -> None:
    _need_dict(training, TRAINING_KEYS, source, "training")
    _need(_is_int(training["epochs_run"]), source, "training.epochs_run must be an int")
    best = training["best_epoch"]
    _need(
        best is None or _is_int(best),
        source,
        "training.best_epoch must be an int or None",
    )
    _need(
        isinstance(training["early_stopped"], bool),
        source,
        "training.early_stopped: bool",
    )
    _need(_is_number(training["wall_seconds"]), source, "training.wall_seconds: number")


def _check_metrics(metrics: Any, source: str) -> None:
    _need_dict(metrics, ("reconstruction", "interpolation"), source, "metrics")
    recon = metrics["reconstruction"]
    _need(isinstance(recon, dict), source, "metrics.reconstruction must be a dict")
    unknown = set(recon) - set(RECONSTRUCTION_SETS)
    _need(not unknown, source, f"unknown reconstruction sets {sorted(unknown)}")
    for name, block in recon.items():
        _check_block(block, "per_image", RECONSTRUCTION_METRICS, source, f"reconstruction.{name}")
    interp = metrics["interpolation"]
    if interp is not None:
        _check_block(interp, "per_sequence", INTERPOLATION_METRICS, source, "interpolation")
    paths = metrics.get("interpolation_paths") or {}
    _need(isinstance(paths, dict), source, "metrics.interpolation_paths must be a dict")
    unknown = set(paths) - set(INTERPOLATION_PATH_SETS)
    _need(not unknown, source, f"unknown interpolation paths {sorted(unknown)}")
    for name, block in paths.items():
        _check_block(block, "per_sequence", INTERPOLATION_METRICS, source, f"interpolation_paths.{name}")
    if metrics.get("collapse") is not None:
        _check_collapse(metrics["collapse"], source)
    if metrics.get("generation") is not None:
        _check_generation(metrics["generation"], source)
    if metrics.get("codes") is not None:
        _check_codes(metrics["codes"], source)


def _check_generation(block: Any, source: str) -> None:
    _need_dict(block, GENERATION_KEYS, source, "metrics.generation")
    sets = block["sets"]
    _need(isinstance(sets, dict), source, "metrics.generation.sets must be a dict")
    unknown = set(sets) - set(DISTRIBUTION_SETS)
    _need(not unknown, source, f"unknown generation sets {sorted(unknown)}")
    for name, values in sets.items():
        _need_dict(values, DISTRIBUTION_METRICS, source, f"metrics.generation.sets.{name}")
        for key in DISTRIBUTION_METRICS:
            _need(_is_number(values[key]), source, f"metrics.generation.sets.{name}.{key}: number")


def _check_codes(block: Any, source: str) -> None:
    _need_dict(block, CODES_KEYS, source, "metrics.codes")
    for key in ("probe_accuracy", "kmeans_mean", "kmeans_std"):
        _need(_is_number(block[key]), source, f"metrics.codes.{key}: number")
    per_restart = block["kmeans_accuracy"]
    ok = isinstance(per_restart, np.ndarray) and per_restart.ndim == 1
    _need(ok, source, "metrics.codes.kmeans_accuracy must be a 1-D numpy array")
    _check_mean(per_restart, block["kmeans_mean"], source, "metrics.codes.kmeans_mean")


def _check_collapse(block: Any, source: str) -> None:
    _need_dict(block, COLLAPSE_KEYS, source, "metrics.collapse")
    for key in COLLAPSE_KEYS[:3]:
        _need(_is_number(block[key]), source, f"metrics.collapse.{key}: number")
    _need(isinstance(block["collapsed"], bool), source, "metrics.collapse.collapsed: bool")


def _check_block(block: Any, per: str, names: tuple, source: str, where: str) -> None:
    where = f"metrics.{where}"
    _need_dict(block, (per, "mean", "std"), source, where)
    for part in (per, "mean", "std"):
        _need_dict(block[part], names, source, f"{where}.{part}")
    lengths = set()
    for name in names:
        values = block[per][name]
        ok = isinstance(values, np.ndarray) and values.ndim == 1
        _need(ok, source, f"{where}.{per}.{name} must be a 1-D numpy array")
        lengths.add(len(values))
        for part in ("mean", "std"):
            _need(_is_number(block[part][name]), source, f"{where}.{part}.{name}: number")
        # the study's metrics are defined for every image and pair (unlike path_excess, NaN where
        # a pair's end frames coincide): a NaN here is a broken evaluation, not a value to average
        bad = int(np.count_nonzero(~np.isfinite(values))) if values.dtype.kind in "fc" else 0
        _need(not bad, source, f"{where}.{per}.{name}: {bad} of {len(values)} values are not finite")
    _need(len(lengths) == 1, source, f"{where}.{per} arrays differ in length")
    for name, values in block[per].items():  # the required metrics and any others stored
        mean = block["mean"].get(name)
        if (
            isinstance(values, np.ndarray)
            and values.ndim == 1
            and values.dtype.kind in "fiu"
            and _is_number(mean)
        ):
            _check_mean(values, mean, source, f"{where}.mean.{name}")


def _check_mean(values: np.ndarray, stored: float, source: str, where: str) -> None:
    """``stored`` must be the float64 mean of ``values`` (over the finite ones where some are NaN,
    as shared.evaluation stores path excess; NaN when none is), up to float32 rounding."""
    v = values.astype(np.float64)
    if np.isnan(v).any():
        v = v[np.isfinite(v)]
    if len(v) == 0:
        expected, ok = math.nan, math.isnan(stored)
    else:
        expected = float(v.mean())
        if math.isfinite(expected):
            ok = abs(stored - expected) <= MEAN_RTOL * float(np.abs(v).mean())
        else:  # infinite values (no NaN among them): the mean is what they give
            ok = stored == expected or (math.isnan(stored) and math.isnan(expected))
    _need(
        ok,
        source,
        f"{where} = {stored!r} is not the mean of its {len(values)} values ({expected!r}): damaged or edited",
    )


def _check_arrays(block: Any, source: str, where: str) -> None:
    if block is None:
        return
    _need(isinstance(block, dict), source, f"{where} must be None or a dict")
    for key, value in block.items():
        ok = isinstance(value, np.ndarray)
        _need(
            ok,
            source,
            f"{where}.{key} must be a numpy array, got {type(value).__name__}",
        )


def _pack_images(run: dict) -> None:
    """Image samples to uint8 in place: they are for display (every metric is computed from the
    model's full-precision output), and 1/255 steps are what a screen shows and MNIST holds."""
    samples = run.get("samples")
    for key in IMAGE_SAMPLES:
        value = samples.get(key) if isinstance(samples, dict) else None
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            samples[key] = np.clip(np.rint(value.astype(np.float32) * 255), 0, 255).astype(np.uint8)


def _unpack_images(run: dict) -> None:
    """Packed (uint8) image samples back to float16 in [0, 1]; older files' float16 ones stay."""
    samples = run.get("samples")
    for key in IMAGE_SAMPLES:
        value = samples.get(key) if isinstance(samples, dict) else None
        if isinstance(value, np.ndarray) and value.dtype == np.uint8:
            samples[key] = (value.astype(np.float32) / 255).astype(np.float16)


# ---------------------------------------------------------------- writing


def results_path(results_dir: str | os.PathLike, model: str) -> Path:
    """``results_dir / f"{model}_MNIST.pkl"``."""
    if not model or any(sep in model for sep in ("/", "\\", os.sep)) or model.startswith("."):
        raise ValueError(f"invalid model name for a file name: {model!r}")
    return Path(results_dir) / f"{model}_{DATASET}.pkl"


def _empty_file(model: str) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "model": model,
        "dataset": DATASET,
        "runs": {},
    }


#: the names :func:`write_bytes_atomically` gives its temporary files: ``tempfile.mkstemp``'s
#: eight characters after the prefix ``<file name>.tmp``
_TEMP_SUFFIX = re.compile(r"\.tmp[a-z0-9_]{8}")


def _remove_stale_temp_files(path: Path) -> None:
    """Delete the temporary files a killed writer of ``path`` left (full-size copies of it).

    Called holding ``path``'s lock: every writer of ``path`` takes that lock before it makes its
    temporary file, so any such file there now is a dead writer's. Only the exact names this code
    makes for ``path`` are touched (another model's file has another name and another lock)."""
    prefix = path.name
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and _TEMP_SUFFIX.fullmatch(name, len(prefix))):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
        except OSError:
            pass  # not ours to remove after all (permissions): it does no harm where it is


def _write_atomically(path: Path, data: dict) -> None:
    payload = zlib.compress(pickle.dumps(data, protocol=PICKLE_PROTOCOL), ZLIB_LEVEL)
    write_bytes_atomically(path, payload)


def write_bytes_atomically(path: Path, payload: bytes) -> None:
    """Replace ``path`` with ``payload`` all at once: an interrupt leaves the old file or the new."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f"{path.name}.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); silently skipped where unsupported."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_run(results_dir: str | os.PathLike, model: str, seed: int, run: Mapping) -> Path:
    """Store ``run`` as ``seed`` of ``model``, replacing only that seed; returns the file path.

    Safe against concurrent writers (file lock) and crashes (temp file + ``os.replace``). An
    existing file that cannot be loaded is left untouched and raises :class:`ResultsError`,
    since overwriting it would destroy the other seeds.

    The run's training checkpoint (:func:`checkpoint_path`) is deleted only once the run stored is
    final (failed, or ok with its metrics): a trained run saved before its evaluation keeps it, and
    a save that fails keeps it and says, in its one-line error, where it is and how to resume.
    """
    path = results_path(results_dir, model)
    seed = operator.index(seed)  # np.int64 -> int: keys must be plain too
    run = to_plain({k: v for k, v in run.items() if k != CHECKSUM_KEY})  # a stale one is replaced
    _pack_images(run)
    validate_run(run, source=f"{path} [seed {seed!r}, not saved]")
    run[CHECKSUM_KEY] = run_checksum(run)
    _need(run["seed"] == seed, str(path), f"run['seed']={run['seed']!r} but seed={seed!r}")
    _need(
        run["config"]["model"] == model,
        str(path),
        f"run is for {run['config']['model']!r}",
    )
    try:
        _store(path, model, seed, run)
    except filelock.Timeout:
        error = ResultsError(path, f"lock {path}.lock held for over {LOCK_TIMEOUT_S:.0f} s")
        raise _with_checkpoint(error, results_dir, model, seed) from None
    except ResultsError as exc:
        raise _with_checkpoint(exc, results_dir, model, seed) from exc
    except OSError as exc:  # cannot create or write the file (permissions, disk full, ...)
        if not _checkpoint_files(results_dir, model, seed):
            raise
        raise _with_checkpoint(ResultsError(path, f"cannot write: {exc}"), results_dir, model, seed) from exc
    if run["status"] != "ok" or run["metrics"] is not None:  # final: nothing left to resume
        for file in _checkpoint_files(results_dir, model, seed):
            file.unlink(missing_ok=True)
    return path


def _store(path: Path, model: str, seed: int, run: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = Path(f"{path}.lock")
    with filelock.FileLock(lock, timeout=LOCK_TIMEOUT_S):
        _remove_stale_temp_files(path)
        # the other seeds are written back exactly as stored (packed, with their checksums)
        data = _read_stored(path) if path.exists() else _empty_file(model)
        _need(data["model"] == model, str(path), f"file holds model {data['model']!r}")
        _check_replaces_same_run(data["runs"].get(seed), run, path)
        data["runs"][seed] = run
        data["schema_version"] = SCHEMA_VERSION  # v1 runs are valid v2 runs
        _write_atomically(path, data)
        # No lock file is left behind: unlinked while still held, so a writer waiting on it
        # finds its inode unlinked once it gets the lock and starts over on a new one
        # (filelock >= 4.2.11 checks st_nlink after every flock).
        lock.unlink(missing_ok=True)


def run_identity(run: Mapping) -> str:
    """Which run a stored run is (shared.experiment.run_identity); files written before identities
    were stored: its profile ("custom" for every custom run)."""
    return run["config"].get("identity") or run["profile"]


def check_can_store(
    results_dir: str | os.PathLike, model: str, seed: int, profile: str, identity: str
) -> None:
    """Before training: raise the one-line error :func:`save_run` would raise after it, when this
    run may not replace what ``seed`` holds (so no training is spent on a run that cannot be kept)."""
    path = results_path(results_dir, model)
    if path.exists():
        old = _read_stored(path)["runs"].get(operator.index(seed))
        _check_replaces_same_run(
            old, {"seed": seed, "profile": profile, "config": {"identity": identity}}, path
        )


def _check_replaces_same_run(old: Mapping | None, new: Mapping, path: Path) -> None:
    """A custom run never replaces a different run, nor is replaced by one; a profile's run may
    replace another profile's (a GPU paper run replaces the reference run in paper_results/)."""
    if old is None or "custom" not in (old["profile"], new["profile"]):
        return
    before, after = run_identity(old), run_identity(new)
    _need(
        before == after,
        str(path),
        f"seed {new['seed']} holds the run {before!r}; not replacing it with the run {after!r} "
        "(give this run its own results_dir)",
    )


# ---------------------------------------------------------------- training checkpoints

CHECKPOINTS_DIR = "checkpoints"
RESUME_HINT = "re-run the same command: it resumes from the checkpoint, no training again"


def checkpoint_path(results_dir: str | os.PathLike, model: str, seed: int) -> Path:
    """``<results_dir>/checkpoints/<model>_seed<seed>.pt``: where a training notebook keeps the
    per-epoch checkpoint of that run (:mod:`shared.checkpoint`) until :func:`save_run` stores it."""
    results_path(results_dir, model)  # the same check of the model name
    return Path(results_dir) / CHECKPOINTS_DIR / f"{model}_seed{operator.index(seed)}.pt"


def ended_checkpoint(path: str | os.PathLike) -> Path:
    """The name a checkpoint takes once its training has ended (``X.pt`` -> ``X.ended.pt``): kept
    until the run is stored, and resumed from (without training again) if storing it failed."""
    path = Path(path)
    return path.with_name(f"{path.stem}.ended{path.suffix}")


def _checkpoint_files(results_dir: str | os.PathLike, model: str, seed: int) -> list[Path]:
    path = checkpoint_path(results_dir, model, seed)
    return [p for p in (ended_checkpoint(path), path) if p.is_file()]


def _with_checkpoint(
    error: ResultsError, results_dir: str | os.PathLike, model: str, seed: int
) -> ResultsError:
    """``error``, naming the run's checkpoint (if there is one) and how to resume from it."""
    kept = _checkpoint_files(results_dir, model, seed)
    if not kept:
        return error
    problem = (
        f"{error.problem}; seed {seed} is not saved but its training is kept in {kept[0]}: fix this, then "
    )
    return ResultsError(error.source, problem + RESUME_HINT)


# ---------------------------------------------------------------- reading many


def _model_from_path(path: Path) -> str:
    return path.name[: -len(f"_{DATASET}.pkl")]


def load_results_dir(
    results_dir: str | os.PathLike,
    models: Iterable[str] | None = None,
    errors: Literal["raise", "warn"] = "raise",
) -> dict[str, dict]:
    """Load ``model -> file`` for the given models (default: every ``*_MNIST.pkl`` there).

    With ``errors="warn"`` a missing or unreadable file is reported as a warning and skipped,
    so a notebook can still show the models that did finish.
    """
    if errors not in ("raise", "warn"):
        raise ValueError("errors must be 'raise' or 'warn'")
    results_dir = Path(results_dir)
    if models is None:
        paths = sorted(results_dir.glob(f"*_{DATASET}.pkl"))
    else:
        paths = [results_path(results_dir, m) for m in models]
    loaded = {}
    for path in paths:
        try:
            data = load_results(path)
            _need(
                data["model"] == _model_from_path(path),
                str(path),
                "model/file name mismatch",
            )
        except ResultsError as e:
            if errors == "raise":
                raise
            warnings.warn(f"skipped: {e}", stacklevel=2)
            continue
        loaded[_model_from_path(path)] = data
    return loaded


def is_done(
    results_dir: str | os.PathLike, model: str, seed: int, profile: str, identity: str | None = None
) -> bool:
    """True when ``seed`` of ``model`` is stored with status ok and its metrics for ``profile``'s
    own run, or for the custom run ``identity`` (e.g. ``quick+precision=bf16``); for resume: a run
    trained but interrupted during its evaluation is not done.

    A missing file means not done; an unreadable one raises :class:`ResultsError`.
    """
    path = results_path(results_dir, model)
    if not path.exists():
        return False
    run = load_results(path)["runs"].get(int(seed))
    identity = identity or profile
    stored_as = profile if identity == profile else "custom"
    return (
        run is not None
        and run["status"] == "ok"
        and run["profile"] == stored_as
        and run_identity(run) == identity
        and run["metrics"] is not None
    )


# ---------------------------------------------------------------- tidy frames


def _as_results(results: Mapping) -> Mapping[str, dict]:
    """Accept either ``model -> file`` or a single loaded file."""
    if "schema_version" in results and "runs" in results:
        return {results["model"]: results}
    return results


def _runs(results: Mapping) -> Iterable[tuple[str, int, dict]]:
    for model, data in _as_results(results).items():
        for seed in sorted(data["runs"]):
            yield model, seed, data["runs"][seed]


def _metric_blocks(run: dict) -> Iterable[tuple[str, dict]]:
    """``(eval_set, block)`` for every evaluation stored in an ok run."""
    metrics = run["metrics"]
    if run["status"] != "ok" or metrics is None:
        return
    for name in RECONSTRUCTION_SETS:
        if name in metrics["reconstruction"]:
            yield name, metrics["reconstruction"][name]
    if metrics.get("interpolation") is not None:
        yield "interpolation", metrics["interpolation"]
    for name, block in (metrics.get("interpolation_paths") or {}).items():
        yield f"interpolation_{name}", block
    for name, values in ((metrics.get("generation") or {}).get("sets") or {}).items():
        yield f"distribution_{name}", {"mean": {k: values[k] for k in DISTRIBUTION_METRICS}}
    codes = metrics.get("codes")
    if codes is not None:
        kmeans = {"kmeans_accuracy": codes["kmeans_mean"], "kmeans_accuracy_std": codes["kmeans_std"]}
        yield "codes", {"mean": {"probe_accuracy": codes["probe_accuracy"], **kmeans}}


METRICS_COLUMNS = [
    "model", "seed", "status", "profile", "data_source", "eval_set", "metric", "value",
]  # fmt: skip
PER_ITEM_COLUMNS = ["model", "seed", "item", "metric", "value"]
RUNS_COLUMNS = [
    "model", "seed", "status", "failure_reason", "failure_epoch", "epochs_run", "best_epoch",
    "early_stopped", "wall_seconds", "device", "profile", "data_source", "n_train",
    "display_name", "family", "collapsed", "collapse_ratio", "setting_differs",
]  # fmt: skip


def metrics_frame(results: Mapping) -> pd.DataFrame:
    """One row per model x seed x eval_set x metric, ``value`` = that run's stored mean.

    Failed runs and runs without metrics contribute no rows (see :func:`runs_frame`).
    """
    rows = []
    for model, seed, run in _runs(results):
        common = {
            "model": model, "seed": seed, "status": run["status"], "profile": run["profile"],
            "data_source": run["config"]["data"]["source"],
        }  # fmt: skip
        for eval_set, block in _metric_blocks(run):
            for metric, value in block["mean"].items():
                rows.append({**common, "eval_set": eval_set, "metric": metric, "value": value})
    return pd.DataFrame(rows, columns=METRICS_COLUMNS).astype({"value": float})


def per_item_frame(results: Mapping, eval_set: str) -> pd.DataFrame:
    """Per-image (or per-sequence) values of one eval set: columns model, seed, item, metric,
    value; ``item`` is the position within the eval set."""
    if eval_set not in EVAL_SETS:
        raise ValueError(f"eval_set must be one of {EVAL_SETS}, got {eval_set!r}")
    per = "per_sequence" if eval_set.startswith("interpolation") else "per_image"
    frames = []
    for model, seed, run in _runs(results):
        for name, block in _metric_blocks(run):
            if name != eval_set:
                continue
            for metric, values in block[per].items():
                values = np.asarray(values, dtype=np.float64)
                frames.append(pd.DataFrame({
                    "model": model, "seed": seed, "item": np.arange(len(values)),
                    "metric": metric, "value": values,
                }))  # fmt: skip
    if not frames:
        return pd.DataFrame(columns=PER_ITEM_COLUMNS)
    return pd.concat(frames, ignore_index=True)[PER_ITEM_COLUMNS]


def _run_row(model: str, seed: int, run: dict) -> dict:
    failure = run["failure"] or {}
    config, training = run["config"], run["training"]
    return {
        "model": model, "seed": seed, "status": run["status"],
        "failure_reason": failure.get("reason"), "failure_epoch": failure.get("epoch"),
        "epochs_run": training["epochs_run"], "best_epoch": training["best_epoch"],
        "early_stopped": training["early_stopped"], "wall_seconds": training["wall_seconds"],
        "device": config["device"], "profile": run["profile"],
        "data_source": config["data"]["source"], "n_train": config["data"]["n_train"],
        "display_name": config["display_name"], "family": config["family"],
        **_collapse_columns(run), "setting_differs": config.get("setting_differs"),
    }  # fmt: skip


def _collapse_columns(run: dict) -> dict:
    """The run's stored collapse verdict; None where it was not measured (older files, failures)."""
    collapse = (run["metrics"] or {}).get("collapse") if run["status"] == "ok" else None
    if collapse is None:
        return {"collapsed": None, "collapse_ratio": None}
    return {"collapsed": bool(collapse["collapsed"]), "collapse_ratio": float(collapse["ratio"])}


def runs_frame(results: Mapping) -> pd.DataFrame:
    """One row per model x seed, failed runs included, with how the run went."""
    rows = [_run_row(model, seed, run) for model, seed, run in _runs(results)]
    frame = pd.DataFrame(rows, columns=RUNS_COLUMNS)
    ints = {c: "Int64" for c in ("seed", "failure_epoch", "epochs_run", "best_epoch", "n_train")}
    types = {**ints, "wall_seconds": float, "early_stopped": bool, "collapsed": "boolean"}
    return frame.astype({**types, "collapse_ratio": float})
