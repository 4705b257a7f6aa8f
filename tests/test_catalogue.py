"""One catalogue of model names: every per-model table in the package is keyed by real names."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import shared
from shared import catalogue, registry

KNOWN = set(catalogue.ALL_MODEL_NAMES) | set(catalogue.STUDY_NAME_TO_REGISTRY)


def model_keyed_dicts(module: types.ModuleType) -> dict[str, dict]:
    """Module-level dicts with at least one model name among their keys."""
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, dict) and any(isinstance(k, str) and k in KNOWN for k in value)
    }


def unknown_keys(table: dict) -> set[str]:
    return {k for k in table if k not in KNOWN}


def test_every_model_keyed_table_uses_catalogue_names():
    bad = {}
    for info in pkgutil.iter_modules(shared.__path__):
        module = importlib.import_module(f"shared.{info.name}")
        for name, table in model_keyed_dicts(module).items():
            if unknown_keys(table):
                bad[f"shared.{info.name}.{name}"] = sorted(unknown_keys(table))
    assert bad == {}


def test_a_typo_in_a_model_keyed_table_is_caught():
    fake = types.ModuleType("fake")
    fake.OVERRIDES = {"CIWAE": 1, "MIWAE ": 2}  # trailing space: silently ignored before
    assert unknown_keys(model_keyed_dicts(fake)["OVERRIDES"]) == {"MIWAE "}


def test_registry_and_catalogue_list_the_same_models():
    assert tuple(registry.REGISTRY) == catalogue.ALL_MODEL_NAMES
    assert registry.MODEL_NAMES == catalogue.MODEL_NAMES and len(registry.MODEL_NAMES) == 22
    assert registry.get_spec("WAE_MMD").display_name == catalogue.CATALOGUE["WAE_MMD"].display_name


def test_per_model_budgets_name_real_profiles():
    from shared import experiment

    assert set(registry.PROFILE_NAMES) == set(experiment.PROFILES)
    with pytest.raises(ValueError, match="unknown profile"):
        registry.ModelSpec(
            name="VAE", pythae_name="VAE", params={}, head="gaussian", training_mode="single",
            profile_budgets={"quik": {"epochs": 1}},
        )  # fmt: skip
    assert experiment.get_profile("quick").budget("CIWAE")["epochs"] == 2
    assert experiment.get_profile("paper").budget("CIWAE")["epochs"] == 100


def test_the_catalogue_is_torch_free():
    import subprocess
    import sys

    code = "import sys, shared.catalogue, shared.analysis; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_comma_list_strips_and_drops_empties_and_repeats():
    from shared.cli import comma_list

    assert comma_list(" VAE, AE,,VAE ,") == ["VAE", "AE"]
    assert comma_list("") == [] and comma_list(" , ") == []
