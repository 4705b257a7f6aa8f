"""The report's figures beyond the study (docs/PROTOCOL.md#10-beyond-the-study; results schema v2),
one :func:`~shared.report.steps.step` each: the raw vs scale-free duality, FD against SSIM,
linear-probe accuracy against PIQ, and grids of generated digits per sampler. Drawing is
:mod:`shared.plotting`; skipped with a note where no run stores what a figure needs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from shared import analysis as A
from shared import plotting as P
from shared.analysis import duality as D
from shared.report.beyond_tables import (
    VQ_PRIOR,
    duality_caption,
    duality_models,
    duality_result,
    generation_notes,
    generation_setting,
    kmeans_frame,
    ok_blocks,
    prior_labels,
    vq_prior_statement,
)
from shared.report.core import INTERP, PROTOCOL, Report, caption, collapse_caption
from shared.report.figures import _label, _seed_note
from shared.report.steps import CODES, GENERATION, MEANS, SCALE_FREE, Built, Skip, step

N_SAMPLE_IMAGES = 8  # generated digits per model in the sample grids
SAMPLERS = ("prior", "gmm")
SAMPLER_WORDS = {
    "prior": "samples from each model's own prior (Table IV's prior column)",
    "gmm": "samples from a Gaussian mixture fitted to each model's training codes",
}
#: The duality figure's panels: the raw metric beside its scale-free counterpart.
DUALITY_PANELS = (
    (D.PIQ, "piq", "PIQ", "PIQ (×10³, lower = smoother; raw)", 1e3),
    (D.PATH_EXCESS, "path_excess", "path excess", "path excess (× straight morph, lower = more direct)", 1.0),
)


def _ordered(models) -> list[str]:
    """The study's model order (shared.catalogue), then any others by name."""
    known = [m for m in A.REGISTRY_MODELS if m in set(models)]
    return known + sorted(set(models) - set(known))


def _points_caption(rep: Report, data: pd.DataFrame, eval_sets: list[str]) -> str:
    return f"{caption(rep, eval_sets)} · one point per model (mean over seeds) · " + collapse_caption(
        rep, data["model"], "grey hollow markers, included in r"
    )


@step(
    "fig_duality", "Raw vs scale-free duality: SSIM against PIQ and path excess", "figure", needs=SCALE_FREE
)
def fig_duality(rep: Report) -> Built:
    """SSIM vs PIQ beside SSIM vs path excess, r, p and n of the duality test in the panel titles."""
    table, data = duality_result(rep), duality_models(rep)
    panels = []
    for label, metric, name, axis, scale in DUALITY_PANELS:
        row = table.loc[label] if label in table.index else pd.Series({"r": math.nan, "p": math.nan, "n": 0})
        panels.append({"metric": metric, "name": name, "label": axis, "scale": scale, **row[["r", "p", "n"]]})
    stated = "; ".join(
        f"SSIM–{p['name']}: r = {p['r']:.2f}, p = {p['p']:.2g}, n = {int(p['n'])}" for p in panels
    )
    cap = f"{duality_caption(rep)} · {stated}"
    fig = P.plot_duality(data, panels, cap, collapsed=rep.collapsed)
    return Built(cap, data, fig)


def _generation_means(rep: Report, sampler: str) -> pd.DataFrame:
    """Model, FD mean over seeds of one sampler's images (nothing where the sampler is absent)."""
    summary = A.generation_summary(rep.metrics)
    column = f"{sampler}_fd_mean"
    return summary[["model", column]].rename(columns={column: "fd"}).dropna()


def fd_sampler(rep: Report) -> str:
    """The sampler of the FD figure: the GMM where any model has it (every model can), else the prior."""
    return "gmm" if len(_generation_means(rep, "gmm")) else "prior"


@step("fig_fd_vs_ssim", "FD of generated digits vs SSIM", "figure", needs=(*MEANS, *GENERATION[1:]))
def fig_fd_vs_ssim(rep: Report) -> Built:
    """FD (MNIST-classifier features) of the GMM sampler's digits (or the prior's) vs SSIM."""
    sampler = fd_sampler(rep)
    data = rep.means[["model", "ssim"]].merge(_generation_means(rep, sampler), on="model")
    data = A.add_model_flags(data, rep.flags, setting=False)
    sets = [PROTOCOL, f"{A.DISTRIBUTION_PREFIX}{sampler}"]
    cap = _join_caption(
        _points_caption(rep, data, sets),
        f"FD of the {A.SAMPLER_LABELS[sampler]} sampler's digits",
        generation_setting(rep),
        vq_prior_statement(rep, data["model"]) if sampler == "prior" else "",
        generation_notes(rep),
    )
    note = "" if len(data) >= 3 else "fewer than 3 models: r is undefined (nan)"
    fig = P.plot_metric_scatter(
        data, "ssim", "fd", cap, f"FD ({A.SAMPLER_LABELS[sampler]} sampler) vs SSIM",
        "SSIM (higher = better)", f"{A.FD_LABEL}, {A.SAMPLER_LABELS[sampler]} sampler (lower = better)",
        collapsed=rep.collapsed,
    )  # fmt: skip
    return Built(cap, data, fig, note=note)


@step("fig_probe_vs_piq", "Linear-probe accuracy vs PIQ", "figure", needs=(*MEANS, *CODES[1:]))
def fig_probe_vs_piq(rep: Report) -> Built:
    """Linear-probe accuracy of the mean codes vs PIQ (one point per model)."""
    probe = A.codes_summary(rep.metrics, kmeans_frame(rep))[["model", "probe_accuracy_mean"]]
    data = rep.means[["model", "piq"]].merge(
        probe.rename(columns={"probe_accuracy_mean": "probe"}), on="model"
    )
    data = A.add_model_flags(data.dropna(), rep.flags, setting=False)
    cap = _points_caption(rep, data, [INTERP, A.CODES_SET])
    cap += (
        " · linear probe: multinomial logistic regression on the standardised mean codes, train → test codes"
    )
    note = "" if len(data) >= 3 else "fewer than 3 models: r is undefined (nan)"
    fig = P.plot_metric_scatter(
        data, "piq", "probe", cap, "Linear-probe accuracy vs PIQ", "PIQ (×10³, lower = smoother)",
        "linear-probe accuracy (higher = better)", x_scale=1e3, collapsed=rep.collapsed,
    )  # fmt: skip
    return Built(cap, data, fig, note=note)


def _sample_runs(rep: Report, sampler: str) -> dict[str, tuple[int, np.ndarray]]:
    """Per model, the lowest ok seed storing ``samples.generated_<sampler>`` and those images."""
    out = {}
    for model in _ordered(rep.results):
        for seed, run in sorted(rep.results[model]["runs"].items()):
            images = (run.get("samples") or {}).get(f"generated_{sampler}")
            if run["status"] == "ok" and images is not None and len(images):
                out[model] = (int(seed), images)
                break
    return out


@step(
    "fig_samples_{sampler}",
    lambda sampler: f"Generated digits: {A.SAMPLER_LABELS[sampler]} sampler",
    "figure",
    needs=GENERATION,
    calls=tuple({"sampler": s} for s in SAMPLERS),
)
def fig_samples(rep: Report, sampler: str = "gmm") -> Built | Skip:
    """The first 8 stored generated digits of each model from one sampler, one row per model."""
    runs = _sample_runs(rep, sampler)
    if not runs:
        return Skip(f"no run stores samples.generated_{sampler}")
    fd = _generation_means(rep, sampler).set_index("model")["fd"]
    grids = {
        f"{_label(rep, m)}\nFD {fd.get(m, math.nan):.2f}": images[:N_SAMPLE_IMAGES]
        for m, (_, images) in runs.items()
    }
    n_stored = sorted({len(images) for _, images in runs.values()})
    without = sorted(m for m, _, _ in ok_blocks(rep, "generation") if m not in runs)
    cap = _join_caption(
        caption(rep, f"{A.DISTRIBUTION_PREFIX}{sampler}"),
        f"first {N_SAMPLE_IMAGES} of the {'/'.join(map(str, n_stored))} stored {SAMPLER_WORDS[sampler]}; "
        f"{_seed_note({m: s for m, (s, _) in runs.items()})}; FD = {A.FD_LABEL}, model mean over seeds",
        _prior_words(rep, runs) if sampler == "prior" else "",
        f"no samples: {', '.join(without)}" if without else "",
        generation_notes(rep),
        collapse_caption(rep, runs, "labelled (collapsed)"),
    )
    fig = P.plot_sample_grids(grids, cap, f"Generated digits, {A.SAMPLER_LABELS[sampler]} sampler")
    return Built(cap, pd.DataFrame({"model": list(runs), "seed": [s for s, _ in runs.values()]}), fig)


def _prior_words(rep: Report, runs) -> str:
    labels = prior_labels(rep)
    shown = sorted({labels[m] for m in runs if m in labels and m not in _vq(rep)})
    text = f"priors: {', '.join(shown)}" if shown else ""
    vq = vq_prior_statement(rep, runs)
    return "; ".join(t for t in (text, vq) if t)


def _vq(rep: Report) -> set[str]:
    return {m for m, _, b in ok_blocks(rep, "generation") if b["prior"] == VQ_PRIOR}


def _join_caption(*parts: str) -> str:
    return " · ".join(p for p in parts if p)
