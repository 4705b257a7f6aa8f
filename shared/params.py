"""The training notebooks' parameters: declared once, rendered into the papermill cell, checked
before anything runs.

papermill injects ``-p name value`` as plain assignments after the parameters cell: a misspelt
name is silently ignored and a wrong type (``-p seed abc``, ``-p lr fast``) fails deep inside
training. :func:`check_training_parameters` runs first and stops the notebook with one line
naming the parameter and what it accepts (issue #18, items 6 and 7).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared import registry
from shared.experiment import PROFILES
from shared.fusions import FUSIONS
from shared.precision import PRECISIONS

MAX_SEED = 2**32 - 1
DEVICES = ("auto", "cpu", "cuda")


class ParameterError(ValueError):
    """A bad notebook parameter; IPython shows this one line instead of a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"ParameterError: {self}"]


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    kind: type  # int, float or str; None is allowed where the default is None
    help: str
    check: Callable[[Any], bool] = lambda value: True
    accepts: str = ""  # words for the error message when ``check`` fails

    def line(self) -> str:
        """Its line in the parameters cell (papermill reads the type from it)."""
        if self.default is None:
            return f"{self.name} = None  # type: Optional[{self.kind.__name__}] {self.help}"
        value = repr(self.default) if isinstance(self.default, bool) else json.dumps(self.default)
        return f"{self.name}: {self.kind.__name__} = {value}  # {self.help}"


def _positive(value: Any) -> bool:
    return value > 0


TRAINING_PARAMETERS: tuple[Param, ...] = (
    Param("seed", 42, int, "random seed: initialisation, shuffling, sampling",
          lambda v: 0 <= v <= MAX_SEED, f"an integer in [0, {MAX_SEED}]"),
    Param("profile", "quick", str, " | ".join(f'"{p}"' for p in PROFILES), lambda v: v in PROFILES, " | ".join(PROFILES)),
    Param("epochs", None, int, "None: the profile's epoch budget", _positive, "a positive integer"),
    Param("patience", None, int, "None: the profile's early-stopping patience (10)", _positive, "a positive integer"),
    Param("data_dir", None, str, "None: $MNIST_DIR, else data/MNIST/raw, else the embedded 5,000 digits"),
    Param("n_train", None, int, "None: the profile's number of training images", _positive, "a positive integer"),
    Param("lr", None, float, "None: the profile's learning rate (paper: the study's 1e-4)", _positive,
          "a positive number"),
    Param("precision", "fp32", str, '"fp32" | "bf16" (bf16 autocast training, float32 weights; a custom run)',
          lambda v: v in PRECISIONS, " | ".join(PRECISIONS)),
    *(Param(f.name, False, bool, f"True: {f.what} (faster, other rounding; a custom run)") for f in FUSIONS),
    Param("device", "auto", str, '"auto" | "cpu" | "cuda"', lambda v: v in DEVICES, " | ".join(DEVICES)),
    Param("threads", None, int, "torch CPU threads; None: torch's default", _positive, "a positive integer"),
    Param("results_dir", None, str, "None: paper_results/ (reference, paper), results/<profile>/, results/custom/"),
    Param("variant", None, str, "a documented alternative setting of this model (see the header)"),
    Param("debug_nan_epoch", None, int, "test hook: force a NaN loss in this epoch", _positive, "a positive integer"),
)  # fmt: skip

_HEADER = "# Parameters (papermill overrides these; None = the profile's / environment's default)"
_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}
_PLAIN = (str, int, float, bool, list, dict, tuple, type(None))


def parameters_cell() -> str:
    """The source of the training notebooks' parameters cell."""
    return "\n".join(["", _HEADER, *(p.line() for p in TRAINING_PARAMETERS), ""])


def _type_ok(param: Param, value: Any) -> bool:
    if value is None:
        return param.default is None
    if isinstance(value, bool) or param.kind is bool:  # bool is an int: -p seed True is no seed
        return isinstance(value, bool) and param.kind is bool
    if param.kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, param.kind)


def _check_one(param: Param, value: Any) -> None:
    if not _type_ok(param, value):
        optional = " or None" if param.default is None else ""
        raise ParameterError(f"{param.name} = {value!r}: expected {param.kind.__name__}{optional}")
    if value is not None and not param.check(value):
        raise ParameterError(f"{param.name} = {value!r}: expected {param.accepts}")


def check_training_parameters(namespace: Mapping[str, Any], model: str) -> None:
    """Refuse unknown parameter names and bad values of ``model``'s training notebook, one line each."""
    declared = {p.name for p in TRAINING_PARAMETERS}
    unknown = sorted(
        name
        for name, value in namespace.items()
        if not name.startswith("_") and name not in _IPYTHON_NAMES | declared and isinstance(value, _PLAIN)
    )
    if unknown:
        raise ParameterError(
            f"unknown parameter(s) {', '.join(unknown)}; this notebook takes {', '.join(sorted(declared))}"
        )
    for param in TRAINING_PARAMETERS:
        _check_one(param, namespace.get(param.name, param.default))
    variant = namespace.get("variant")
    variants = registry.get_spec(model).variants
    if variant is not None and variant not in variants:
        raise ParameterError(
            f"variant = {variant!r}: {model} has {', '.join(sorted(variants)) or 'no variants'}"
        )
