"""A smoke run of one model trained, evaluated and stored as a notebook stores it, for tests of
what the results files keep (re-evaluation, schema 3)."""

from __future__ import annotations

from pathlib import Path

from shared import evaluation, experiment, results
from shared.training import TrainResult, TrainSettings, train_model


def store_smoke_run(model: str, mnist_dir: Path, folder: Path, seed: int = 42) -> tuple[dict, TrainResult]:
    """Train ``model`` one smoke epoch, evaluate, save into ``folder``; (the run as loaded, the result)."""
    budget = experiment.run_budget(model, "smoke")
    splits = experiment.load_data(budget, str(mnist_dir), "smoke")
    result = train_model(model, splits, TrainSettings(epochs=1, seed=seed, progress=False, threads=1))
    ev = evaluation.evaluate_model(result.model, splits, seed=seed)
    results.save_run(folder, model, seed, experiment.run_record(model, "smoke", budget, splits, result, ev))
    return results.load_results(results.results_path(folder, model))["runs"][seed], result
