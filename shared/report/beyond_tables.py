"""The report's tables beyond the study (docs/PROTOCOL.md#10-beyond-the-study; results schema v2),
one :func:`~shared.report.steps.step` each: Table IV (generation: FD, precision, recall of each
sampler), Table V (what the codes know: linear probe, k-means), the scale-free smoothness table
and the duality test, plus the generated reading of the duality test for the notebook.

Every block they read is optional in the results files: a step whose block no run has is skipped
with a note (results written before schema v2), and a table built from some models says which
lack the block. Same conventions as Tables I and II: units and ↑/↓ in the headers, the best
value bold (never a collapsed model), collapsed models flagged, n said once in the caption.
"""

from __future__ import annotations

import pandas as pd

from shared import analysis as A
from shared.analysis import duality as D
from shared.report.core import INTERP, PROTOCOL, Report, caption, collapse_caption, n_items, plural
from shared.report.steps import CODES, GENERATION, METRICS, SCALE_FREE, Built, needs_scale_free, step
from shared.report.tables import BOLD_CAPTION, spread_caption

GENERATION_EVAL_SETS = [f"{A.DISTRIBUTION_PREFIX}{s}" for s in ("prior", "gmm", "reconstruction_mean")]
#: What FD is not; the only place the word FID may appear in the report (tests check).
FD_DISCLAIMER = "not comparable with Inception FID (Inception-v3 features of photographs, not digits)"
FD_CAPTION = (
    f"{A.FD_LABEL} = Fréchet distance between Gaussians fitted to the penultimate-layer features "
    f"of the project's MNIST classifier, {FD_DISCLAIMER}"
)
VQ_PRIOR = "code_frequencies"
VQ_PRIOR_CAPTION = (
    "{models}: the “prior” is the training-set code frequencies drawn position by position "
    "(a product of marginals: VQ-VAE learns no prior of its own)"
)
SCALE_FREE_CAPTION = (
    "raw (the study's): PIQ, ISS; the path's scale: endpoint distance = mean over pixels of "
    "(f_K − f_1)², no arrow (neither better nor worse); scale-free: path excess = PIQ ÷ "
    "(endpoint distance / (K − 1)²), i.e. PIQ relative to the straight constant-speed pixel morph "
    "between the same end frames (≥ 1, 1 = that morph; lower = more direct), step CV = std ÷ mean "
    "of the step lengths √d_i (0 = constant speed)"
)
DUALITY_SSIM = (
    "SSIM = the protocol's SSIM of Tables I and III and Figs 2–6 (the study's 100 test images, "
    "x̂ = Decoder(z), z ~ q(z|x): eval set protocol_sampled)"
)
DUALITY_CAPTION = (
    "one point per model (mean over seeds): Pearson r (two-sided p) of SSIM against each "
    "smoothness metric across models, and partial correlations given endpoint distance "
    "(pingouin); every smoothness metric is higher = rougher, so r > 0 reads “better "
    "reconstruction, rougher path”"
)


# --------------------------------------------------------------------------- stored blocks


def ok_blocks(rep: Report, key: str) -> list[tuple[str, int, dict]]:
    """``(model, seed, metrics[key])`` of every ok run that stores the block ``key``."""
    out = []
    for model in sorted(rep.results):
        for seed, run in sorted(rep.results[model]["runs"].items()):
            block = (run["metrics"] or {}).get(key) if run["status"] == "ok" else None
            if block is not None:
                out.append((model, int(seed), block))
    return out


def lacking(rep: Report, key: str) -> list[str]:
    """Models with an evaluated ok run but without the block ``key`` in any (older results)."""
    have = {m for m, _, _ in ok_blocks(rep, key)}
    evaluated = set(rep.metrics["model"])
    return sorted(evaluated - have)


def lacking_note(rep: Report, key: str) -> str:
    missing_models = lacking(rep, key)
    if not missing_models:
        return ""
    return f"no metrics.{key} for {', '.join(missing_models)} (results written before schema v2): not in this table"


def _values(blocks: list[tuple[str, int, dict]], field: str) -> str:
    """The distinct values of one field of the blocks, ", "-joined (one value: just it)."""
    found = sorted({str(b[field]) for _, _, b in blocks if field in b})
    return ", ".join(found) if found else "n/a"


def _count(blocks: list[tuple[str, int, dict]], field: str) -> str:
    found = sorted({int(b[field]) for _, _, b in blocks if field in b})
    return ", ".join(f"{v:,}" for v in found) if found else "n/a"


def prior_labels(rep: Report) -> dict[str, str]:
    """Model -> what its prior sampler draws from (``prior_label``; "; "-joined if seeds differ)."""
    labels: dict[str, set[str]] = {}
    for model, _, block in ok_blocks(rep, "generation"):
        labels.setdefault(model, set()).add(str(block.get("prior_label", block["prior"])))
    return {m: "; ".join(sorted(v)) for m, v in labels.items()}


def generation_notes(rep: Report) -> str:
    """ "no samples: AE, RAE_L2 (prior: none (trained without a prior)); ..." from the stored notes."""
    grouped: dict[tuple[str, str], set[str]] = {}
    for model, _, block in ok_blocks(rep, "generation"):
        for sampler, note in (block.get("notes") or {}).items():
            grouped.setdefault((A.SAMPLER_LABELS.get(sampler, sampler), str(note)), set()).add(model)
    if not grouped:
        return ""
    parts = [
        f"{', '.join(sorted(models))} ({sampler}: {note})"
        for (sampler, note), models in sorted(grouped.items())
    ]
    return "no samples from " + "; ".join(parts)


def vq_prior_statement(rep: Report, models) -> str:
    """The VQ-VAE sentence, where a model of ``models`` samples its prior from code frequencies."""
    hit = sorted(
        {m for m, _, b in ok_blocks(rep, "generation") if b["prior"] == VQ_PRIOR and m in set(models)}
    )
    return VQ_PRIOR_CAPTION.format(models=", ".join(hit)) if hit else ""


def generation_setting(rep: Report) -> str:
    """The caption's statement of how the generation metrics were measured (from the blocks)."""
    blocks = ok_blocks(rep, "generation")
    return (
        f"{FD_CAPTION} (feature network {_values(blocks, 'feature_net')}); precision / recall: "
        f"k-nearest-neighbour manifolds (Kynkäänniemi et al. 2019), k = {_values(blocks, 'k')}, "
        f"n_pr = {_count(blocks, 'n_pr')} points per set; real set: n_real = "
        f"{_count(blocks, 'n_real')} test images; {_count(blocks, 'n_samples')} samples per sampler; "
        f"prior = the model's own prior (column prior); GMM = a {_values(blocks, 'gmm_components')}-"
        "component full-covariance Gaussian mixture fitted to the training images' mean codes"
    )


def _flags(rep: Report, table: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    flagged = A.add_model_flags(table, rep.flags, setting=False)
    return flagged, collapse_caption(rep, table["model"], "flagged, never bold, figures unchanged")


def _join(*parts: str) -> str:
    return " · ".join(p for p in parts if p)


# --------------------------------------------------------------------------- Table IV


@step("table_iv_generation", "Table IV: generation quality per sampler", "table", needs=GENERATION)
def table_iv(rep: Report) -> Built:
    """Table IV: FD ↓ / precision ↑ / recall ↑ of the prior and GMM samplers, and FD of the
    mean-code reconstructions as a reference, mean ± std over seeds; ranked by the GMM's FD."""
    summary = A.generation_summary(rep.metrics)
    table, flag_text = _flags(rep, A.table_generation(summary, prior_labels(rep), rep.collapsed))
    values = summary.set_index("model").loc[table["model"]].reset_index()
    cap = _join(
        caption(rep, GENERATION_EVAL_SETS),
        spread_caption(values[["model", *(c for c in values if c.startswith(("prior_", "gmm_")))]], "seeds"),
        generation_setting(rep),
        vq_prior_statement(rep, table["model"]),
        generation_notes(rep),
        "mean-code reconstructions of the test images: what the decoder reaches from real codes (reference)",
        BOLD_CAPTION,
        flag_text,
    )
    return Built(cap, table, view=A.display_view(table), values=values, note=lacking_note(rep, "generation"))


# --------------------------------------------------------------------------- Table V


def kmeans_frame(rep: Report) -> pd.DataFrame:
    """The stored per-restart k-means accuracies: model, seed, restart, value."""
    rows = [
        (model, seed, r, float(v))
        for model, seed, block in ok_blocks(rep, "codes")
        for r, v in enumerate(block["kmeans_accuracy"])
    ]
    return pd.DataFrame(rows, columns=["model", "seed", "restart", "value"])


def codes_spread(summary: pd.DataFrame) -> str:
    """ "linear probe: mean ± std over n = 3 seeds; k-means: mean ± std over 5 restarts × 3 seeds"."""
    said = A.codes_n_statement(summary)
    if not said:
        return "mean ± std; the numbers differ between rows: columns n (seeds), k-means n (restarts × seeds)"
    parts = []
    for part in said.split("; "):
        what, _, n = part.partition(": ")
        one = n == "n = 1 seed"
        parts.append(
            f"{what}: {'mean over n = 1 seed (no std from one run)' if one else f'mean ± std over {n}'}"
        )
    return "; ".join(parts)


@step("table_v_codes", "Table V: what the mean codes know about the digit", "table", needs=CODES)
def table_v(rep: Report) -> Built:
    """Table V: linear-probe accuracy ↑ (over seeds) and k-means accuracy ↑ (mean ± std over
    restarts and seeds) of the test images' mean codes; ranked by the probe."""
    summary = A.codes_summary(rep.metrics, kmeans_frame(rep))
    table, flag_text = _flags(rep, A.table_codes(summary, rep.collapsed))
    values = summary.set_index("model").loc[table["model"]].reset_index()
    blocks = ok_blocks(rep, "codes")
    cap = _join(
        caption(rep, A.CODES_SET),
        codes_spread(summary),
        "linear probe: multinomial logistic regression on the standardised mean codes, trained on "
        f"{_count(blocks, 'n_train_codes')} training codes, accuracy on {_count(blocks, 'n_test_codes')} "
        "test codes; k-means: 10 clusters on the standardised test codes, each matched to one digit "
        f"(Hungarian algorithm), {_count(blocks, 'restarts')} restarts per run (n_init = 1, random_state = "
        "seed + restart); 10 balanced digits give chance ≈ 0.1",
        BOLD_CAPTION,
        flag_text,
    )
    return Built(cap, table, view=A.display_view(table), values=values, note=lacking_note(rep, "codes"))


# --------------------------------------------------------------------------- scale-free smoothness


@step(
    "table_scale_free_smoothness", "Interpolation smoothness, raw and scale-free", "table", needs=SCALE_FREE
)
def table_scale_free(rep: Report) -> Built:
    """PIQ, ISS, endpoint distance, path excess and step CV per model (mean ± std pooled over
    sequences and seeds, as Table II); ranked by path excess."""
    summary = A.scale_free_summary(rep.per_item(INTERP))
    table, flag_text = _flags(rep, A.table_scale_free(summary, rep.collapsed))
    values = summary.set_index("model").loc[table["model"]].reset_index()
    without = sorted(set(rep.means["model"]) - set(summary["model"]))
    cap = _join(
        caption(rep, INTERP, metrics=A.SCALE_FREE_METRICS),
        f"{n_items(rep, INTERP)} per run; {spread_caption(values, 'sequences and seeds')}",
        SCALE_FREE_CAPTION,
        A.undefined_statement(summary),
        BOLD_CAPTION,
        flag_text,
    )
    note = (
        f"no scale-free metrics for {', '.join(without)} (results written before schema v2)"
        if without
        else ""
    )
    return Built(cap, table, view=A.display_view(table), values=values, note=note)


# --------------------------------------------------------------------------- the duality test


def duality_models(rep: Report) -> pd.DataFrame:
    """The duality test's input: one row per model (``analysis.duality_input``)."""
    return A.duality_input(rep.means, rep.flags)


def duality_result(rep: Report) -> pd.DataFrame:
    """``shared.analysis.duality.duality_table`` of the report's model means (cached)."""
    if "duality" not in rep._cache:
        rep._cache["duality"] = D.duality_table(duality_models(rep))
    return rep._cache["duality"]


def duality_caption(rep: Report) -> str:
    """What the duality test and figure rest on: runs, SSIM's eval set, the rule, collapse."""
    return _join(
        caption(rep, [PROTOCOL, INTERP]),
        DUALITY_SSIM,
        DUALITY_CAPTION,
        collapse_caption(rep, duality_models(rep)["model"], "left out of every correlation"),
    )


@step("duality_test", "Duality test: SSIM against raw and scale-free smoothness", "table", needs=SCALE_FREE)
def duality_test(rep: Report) -> Built:
    """r, p and n of SSIM against PIQ, ISS (raw), path excess, step CV (scale-free) and the
    partial correlations given endpoint distance (``shared.analysis.duality``)."""
    table = duality_result(rep)
    frame = table.reset_index()
    undefined = frame.loc[frame["r"].isna(), "smoothness"].tolist()
    note = f"r undefined for: {', '.join(undefined)} (see column note)" if undefined else ""
    return Built(duality_caption(rep), frame, view=frame.set_index("smoothness"), note=note)


def duality_conclusion(rep: Report) -> str:
    """The duality test's reading, generated from its numbers (``duality.duality_conclusion``),
    as Markdown for the notebook; a sentence saying why when the test cannot be run."""
    why = METRICS[0](rep) or needs_scale_free(rep)
    if why is not None:
        return "> No duality conclusion: " + why.replace("_", r"\_")  # as display_output shows notes
    n = len(duality_models(rep))
    text = D.duality_conclusion(duality_result(rep))
    return f"**Generated from the duality test's numbers** ({plural(n, 'model')}): {text}"
