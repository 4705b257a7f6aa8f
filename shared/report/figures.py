"""The report's figures (the study's Figs 1-6, t-SNE of latent codes, training curves), one
:func:`~shared.report.steps.step` each, in the order they are built. Drawing is
:mod:`shared.plotting`; a step picks the models and runs, and writes the caption."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from shared import analysis as A
from shared import plotting as P
from shared.report.core import INTERP, PROTOCOL, Report, caption, collapse_caption, parse_list, plural
from shared.report.steps import MEANS, RUNS, Built, Skip, step
from shared.report.tables import frontier_statement

N_DIGITS = 8  # Fig 1: digits per row
N_REPRESENTATIVES = 6  # Figs 1 and 3
MAX_TSNE_MODELS = 4
TSNE_POINTS = 1000


def representatives(rep: Report, k: int = N_REPRESENTATIVES) -> list[str]:
    """Models for Figs 1 and 3 (best/worst SSIM, VAE, best/worst PIQ, median), with samples."""
    ranked = P.select_representatives(rep.means, max_models=len(rep.means))
    return [m for m in ranked if rep.first_run(m) is not None][:k]


def tsne_selection(rep: Report, k: int = MAX_TSNE_MODELS) -> list[str]:
    """Up to k models for t-SNE: best and worst SSIM, VAE, best PIQ ... that stored latent codes."""
    ranked = P.select_representatives(rep.means, max_models=len(rep.means))
    has_codes = [m for m in ranked if (r := rep.first_run(m)) and "latent_codes" in r[1]["samples"]]
    return has_codes[:k]


def _first_runs(rep: Report, models: Sequence[str] | None) -> dict[str, tuple[int, dict]]:
    """The lowest seed with stored samples of each of ``models`` (default: the representatives)."""
    models = list(models) if models else representatives(rep)
    return {m: run for m in models if (run := rep.first_run(m)) is not None}


def _seed_note(picked: dict[str, int]) -> str:
    seeds = sorted(set(picked.values()))
    return f"seed {seeds[0]} of each model" if len(seeds) == 1 else "lowest available seed of each model"


def _label(rep: Report, model: str) -> str:
    """A model's row label in the image figures, marked when it collapsed."""
    return f"{model} (collapsed)" if model in rep.collapsed else model


def _models_frame(models) -> pd.DataFrame:
    return pd.DataFrame({"model": list(models)})


@step("fig1_reconstructions", "Fig 1: original test digits and reconstructions", "figure", needs=MEANS)
def fig1_reconstructions(rep: Report, models: Sequence[str] | None = None) -> Built | Skip:
    """Fig 1: 8 test digits and their (sampled, z ~ q) reconstructions by representative models."""
    runs = _first_runs(rep, models)
    if not runs:
        return Skip("no run has stored samples")
    originals = next(iter(runs.values()))[1]["samples"]["originals"][:N_DIGITS]
    same = all(np.array_equal(r["samples"]["originals"][:N_DIGITS], originals) for _, r in runs.values())
    ssim = rep.means.set_index("model")["ssim"]
    recs = {f"{_label(rep, m)}\nSSIM {ssim.get(m, math.nan):.3f}": r["samples"]["reconstructions_sampled"][:N_DIGITS]
            for m, (_, r) in runs.items()}  # fmt: skip
    cap = (
        f"{caption(rep, PROTOCOL)} · first {N_DIGITS} protocol images, x̂ = Decoder(z), z ~ q(z|x); "
        f"{_seed_note({m: s for m, (s, _) in runs.items()})}; SSIM = model mean · "
        + collapse_caption(rep, runs, "labelled (collapsed)")
    )
    differ = "the models' stored originals differ (different test data): top row is the first model's"
    note = "" if same else differ
    fig = P.plot_reconstruction_grid(originals, recs, cap)
    return Built(cap, _models_frame(runs), fig, note=note)


@step("fig2_ssim_by_family", "Fig 2: SSIM by architectural family", "figure", needs=MEANS)
def fig2_ssim_by_family(rep: Report) -> Built:
    """Fig 2: box plot of model-mean SSIM by architectural family (one point per model)."""
    families = {m: d["runs"][min(d["runs"])]["config"]["family"] for m, d in rep.results.items() if d["runs"]}
    families = {m: A.STUDY_FAMILIES.get(m, f) for m, f in families.items()}
    cap = f"{caption(rep, PROTOCOL)} · one point per model (mean over seeds) · "
    cap += collapse_caption(rep, rep.means["model"], "grey hollow markers, kept in the boxes")
    fig = P.plot_ssim_by_family(rep.means, families, cap, collapsed=rep.collapsed)
    data = rep.means[["model", "ssim"]].assign(family=lambda d: d["model"].map(families))
    return Built(cap, data, fig)


@step("fig3_interpolations", "Fig 3: latent interpolation strips", "figure", needs=MEANS)
def fig3_interpolations(rep: Report, models: Sequence[str] | None = None, sequence: int = 0) -> Built | Skip:
    """Fig 3: the 10 decoded frames of one interpolation sequence for representative models."""
    runs = _first_runs(rep, models)
    runs = {m: v for m, v in runs.items() if len(v[1]["samples"].get("interpolations", [])) > sequence}
    if not runs:
        return Skip("no run has stored interpolation frames")
    piq = rep.means.set_index("model")["piq"]
    strips = {f"{_label(rep, m)}\nPIQ×10³ {piq.get(m, math.nan) * 1e3:.2f}": r["samples"]["interpolations"][sequence]
              for m, (_, r) in runs.items()}  # fmt: skip
    cap = (
        f"{caption(rep, INTERP)} · sequence {sequence + 1} of the fixed pairs, frames from the mean "
        f"codes; {_seed_note({m: s for m, (s, _) in runs.items()})}; PIQ = model mean · "
        + collapse_caption(rep, runs, "labelled (collapsed)")
    )
    return Built(cap, _models_frame(runs), P.plot_interpolation_strips(strips, cap))


@step("fig4_top10_combined_rank", "Fig 4: top {k} by combined rank", "figure", needs=MEANS)
def fig4_top_combined(rep: Report, k: int = 10) -> Built:
    """Fig 4: the top-k models by combined rank (mean of SSIM rank and PIQ rank)."""
    ranked = A.add_model_flags(A.combined_rank(rep.means), rep.flags, setting=False)
    cap = f"{caption(rep, PROTOCOL)} · ranks among {plural(len(ranked), 'model')}"
    cap += " · " + collapse_caption(rep, ranked["model"], "ranked but greyed")
    fig = P.plot_top_combined(ranked, cap, k=k, collapsed=rep.collapsed)
    return Built(cap, ranked.head(k), fig)


@step("fig5_ssim_vs_piq", "Fig 5: SSIM vs PIQ", "figure", needs=MEANS)
def fig5_ssim_vs_piq(rep: Report) -> Built:
    """Fig 5: SSIM vs PIQ model means with Pearson r and p in the title."""
    data = A.add_model_flags(rep.means[["model", "ssim", "piq"]].dropna(), rep.flags, setting=False)
    cap = f"{caption(rep, PROTOCOL)} · one point per model (mean over seeds) · "
    cap += collapse_caption(rep, data["model"], "grey hollow markers, included in r")
    note = "" if len(data) >= 3 else "fewer than 3 models: r is undefined (nan)"
    fig = P.plot_ssim_vs_piq(rep.means, cap, collapsed=rep.collapsed)
    return Built(cap, data, fig, note=note)


@step("fig6_pareto", "Fig 6: Pareto frontier and regimes", "figure", needs=MEANS)
def fig6_pareto(rep: Report) -> Built:
    """Fig 6: Pareto frontier on (SSIM ↑, PIQ ↓) and the three regimes."""
    regimes = A.assign_regimes(rep.means, rep.collapsed)
    n_front = int(regimes["pareto_optimal"].sum())
    cap = f"{caption(rep, PROTOCOL)} · {n_front} Pareto-optimal of {len(regimes)} (study: 7 of 22)"
    cap += f" · {frontier_statement(rep)}"
    data = A.add_model_flags(regimes, rep.flags, setting=False)
    return Built(cap, data, P.plot_pareto(regimes, cap))


@step(
    "latent_tsne",
    "t-SNE of latent codes (test images, coloured by digit)",
    "figure",
    needs=MEANS,
    options={"models": "tsne_models"},
)
def fig_tsne(rep: Report, models: str | Sequence[str] | None = None) -> Built | Skip:
    """t-SNE of the latent codes of up to 1,000 test images, coloured by digit, per model."""
    wanted = parse_list(models) or tsne_selection(rep)
    latents, seeds, absent = {}, {}, []
    for model in wanted[:MAX_TSNE_MODELS]:
        got = rep.first_run(model)
        if got is None or "latent_codes" not in got[1]["samples"]:
            absent.append(model)
            continue
        seeds[model], samples = got[0], got[1]["samples"]
        latents[_label(rep, model)] = (samples["latent_codes"], samples["latent_labels"])
    if not latents:
        return Skip("no selected model has stored latent codes")
    n = min(TSNE_POINTS, min(len(c) for c, _ in latents.values()))
    cap = f"{caption(rep, PROTOCOL)} · {n} test images per model, mean codes; {_seed_note(seeds)}"
    cap += " · " + collapse_caption(rep, seeds, "labelled (collapsed)")
    note = f"not available: {', '.join(absent)}" if absent else ""
    if len(wanted) > MAX_TSNE_MODELS:
        note = (note + "; " if note else "") + f"only the first {MAX_TSNE_MODELS} requested models are shown"
    import sklearn.manifold  # noqa: F401  (load its OpenMP runtime first, so the limit reaches it)

    with threadpool_limits(1):  # OpenMP threads on a busy 2-core machine make t-SNE many times slower
        fig = P.plot_latent_tsne(
            latents, cap, n_points=TSNE_POINTS, random_state=0, ncols=min(4, len(latents))
        )
    return Built(cap, _models_frame(latents), fig, note=note)


@step("training_curves", "Training curves of all models", "figure", needs=RUNS)
def fig_training_curves(rep: Report) -> Built | Skip:
    """Train and validation loss per epoch of every run (failed runs up to their failure)."""
    histories = {}
    for model, data in rep.results.items():
        runs = [r["history"] for _, r in sorted(data["runs"].items()) if len(r["history"].get("epoch", []))]
        if runs:
            histories[_label(rep, model)] = runs
    if not histories:
        return Skip("no run has a recorded epoch")
    cap = f"{caption(rep, ok_only=False)} · one colour per seed (lowest first); vertical line = best epoch"
    cap += " · " + collapse_caption(rep, rep.results, "labelled (collapsed)")
    return Built(cap, _models_frame(histories), P.plot_training_curves(histories, cap))
