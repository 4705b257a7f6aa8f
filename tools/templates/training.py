"""The one template of the 22 training notebooks: header from the registry and the model's page
(docs/models/<NAME>.md), then a fixed body."""

from __future__ import annotations

import json

from shared.backbone import LATENT_DIM
from shared.params import parameters_cell
from shared.protocol import STUDY
from shared.registry import ModelSpec, build_config, config_as_dict
from tools.model_pages import read_page
from tools.templates.bootstrap import BOOTSTRAP


def _param_table(spec: ModelSpec) -> str:
    defaults = config_as_dict(build_config(spec.name, epochs=STUDY.epochs))
    skip = {"name", "input_dim", "uses_default_encoder", "uses_default_decoder"}
    rows = [f"| `{k}` | `{json.dumps(v)}` |" for k, v in defaults.items() if k not in skip]
    head = f"| pythae config field | value (paper profile, {STUDY.epochs} epochs) |\n|---|---|\n"
    return head + "\n".join(rows)


def header(spec: ModelSpec) -> str:
    page = read_page(spec.name)
    variants = "".join(f"\n- variant `{k}`: `{json.dumps(v)}`" for k, v in spec.variants.items())
    return f"""
# {spec.display_name} — training notebook (`{spec.name}`)

**Family:** {spec.family} · **pythae class:** `{spec.pythae_name}` · **training mode:** `{spec.training_mode}`

**What it is.** {page["What it is"]}

**Objective.** {page["Objective"]}

**Study's setting.** {page["Study's setting"]}

**Hyper-parameters used** (everything else: pythae 0.1.2 defaults; the exact values of each run are
stored in its results file):

{_param_table(spec)}
{variants}

**Where we differ from the study, and why:**

{page["Where we differ from the study, and why"]}

**Caveats:**

{page["Caveats"]}

Shared protocol ([docs/PROTOCOL.md](../docs/PROTOCOL.md), sections
[2](../docs/PROTOCOL.md#2-backbone)–[6](../docs/PROTOCOL.md#6-evaluation-protocol)): the common conv
backbone, latent {LATENT_DIM}, Adam lr {f"{STUDY.lr:.0e}".replace("e-0", "e-")}, batch {STUDY.batch_size}, early stopping on
validation loss (patience {STUDY.patience}, best weights restored). The `profile` parameter picks
the budget: `smoke` (a code test), `quick` (the first CPU run), `reference` (the published CPU run:
full MNIST, 3 seeds, 1–2 epochs), `paper` (the study's protocol: full MNIST, ≤ {STUDY.epochs} epochs,
seeds {"/".join(map(str, STUDY.seeds))}). Generated from
`tools/templates/training.py`, `shared/registry.py` and this model's page
[docs/models/{spec.name}.md](../docs/models/{spec.name}.md) — do not edit by hand.
"""


PARAMETERS = parameters_cell()  # shared/params.py declares them (names, types, checks)


def body(name: str) -> list[tuple[str, str]]:
    return [
        ("code", BOOTSTRAP),
        (
            "code",
            f'''from shared import params

params.check_training_parameters(globals(), "{name}")  # one line for a misspelt or bad parameter

import warnings

from IPython.display import display

from shared import evaluation, experiment, plotting, results, runlock
from shared.training import train_model

MODEL = "{name}"
budget = experiment.run_budget(
    MODEL, profile, epochs=epochs, patience=patience, n_train=n_train, lr=lr, precision=precision,
    fuse_output=fuse_output, fuse_input=fuse_input, fused_adam=fused_adam,
)
custom = experiment.is_custom(MODEL, profile, budget, variant)  # stored as profile "custom"
identity = experiment.run_identity(MODEL, profile, budget, variant)  # custom runs: their own folder
results_dir = experiment.results_dir_for(profile, identity, results_dir)
print(f"{{MODEL}}, seed {{seed}}, profile {{profile}}{{f' (custom: {{identity}})' if custom else ''}}: budget {{budget}}")
print(f"results: {{results_dir}}")
results.check_can_store(results_dir, MODEL, seed, "custom" if custom else profile, identity)
runlock.hold(results_dir, MODEL, seed)  # one process per (model, seed): a second one stops here, in one line
''',
        ),
        ("markdown", "## Data"),
        (
            "code",
            """
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    splits = experiment.load_data(budget, data_dir, profile)
for w in caught:
    print("WARNING:", w.message)
print(experiment.used_sizes(budget, splits))
""",
        ),
        ("markdown", "## Model and training"),
        (
            "code",
            """
checkpoint = results_dir / "checkpoints" / f"{MODEL}_seed{seed}.pt"  # per epoch: an interrupted run resumes
settings = experiment.settings_for(
    budget, seed, device, threads, variant=variant, debug_nan_epoch=debug_nan_epoch, checkpoint=str(checkpoint)
)
result = train_model(MODEL, splits, settings)
print(f"status: {result.status}; epochs run: {result.epochs_run}; best epoch: {result.best_epoch}; "
      f"early stopped: {result.early_stopped}; {result.wall_seconds:.1f} s on {result.device}")
if result.failure:
    print("FAILED:", result.failure)
if result.history["epoch"]:  # saved now (no metrics yet): an error in the evaluation cannot lose it
    results.save_run(results_dir, MODEL, seed, experiment.run_record(MODEL, profile, budget, splits, result, None))
""",
        ),
        (
            "code",
            """
caption = f"{MODEL}, seed {seed}, profile {profile}, data: {splits.source}"
if result.history["epoch"]:  # at least one finished epoch
    fig = plotting.plot_training_curves({MODEL: result.history}, caption=caption)
    plotting.show(fig)
""",
        ),
        (
            "code",
            """
# the model's own per-epoch diagnostics (registry epoch_metrics), if it logs any
diagnostics = [k for k in result.history if k not in ("epoch", "seconds") and not k.startswith(("train_", "val_"))]
if diagnostics and result.history["epoch"]:
    import pandas as pd
    display(pd.DataFrame({k: result.history[k] for k in ["epoch", *diagnostics]}).set_index("epoch").round(4))
""",
        ),
        ("markdown", "## Evaluation ([protocol §6](../docs/PROTOCOL.md#6-evaluation-protocol))"),
        (
            "code",
            """
# on the training device (CUDA's metrics equal the CPU's within float tolerance, not bit for bit:
# re-evaluate a CUDA run on CUDA to reproduce its stored numbers exactly; PROTOCOL.md#6-evaluation-protocol)
ev = evaluation.evaluate_model(result.model, splits, seed=seed, device=result.device) if result.status == "ok" else None
if ev is not None:
    import pandas as pd
    rec = ev["metrics"]["reconstruction"]
    table = pd.DataFrame({name: block["mean"] for name, block in rec.items()}).T
    display(table.round(4))
    display(pd.Series(ev["metrics"]["interpolation"]["mean"], name="interpolation (25 pairs)").to_frame().T)
""",
        ),
        (
            "code",
            """
if ev is not None:
    s = ev["samples"]
    fig = plotting.plot_reconstruction_grid(
        s["originals"][:8],
        {"sampled z": s["reconstructions_sampled"][:8], "mean code": s["reconstructions_mean"][:8]},
        caption=caption,
    )
    plotting.show(fig)
    fig = plotting.plot_interpolation_strips(
        {f"pair {i + 1}": s["interpolations"][i] for i in range(min(5, len(s["interpolations"])))},
        caption=caption,
    )
    plotting.show(fig)
""",
        ),
        (
            "markdown",
            "### Beyond the study ([protocol §10](../docs/PROTOCOL.md#10-beyond-the-study))\n\n"
            "Digits generated from the model's prior (where it has one) and from a Gaussian mixture "
            "fitted to its training codes; FD is in the features of the project's MNIST classifier "
            "(not Inception FID); the probe and k-means judge the mean codes of the test images.",
        ),
        (
            "code",
            """
if ev is not None:
    from shared import analysis

    generation = ev["metrics"].get("generation")
    for sampler in ("prior", "gmm"):
        images = ev["samples"].get(f"generated_{sampler}")
        if images is not None:
            title = analysis.sample_title(MODEL, sampler, generation, len(images))
            plotting.show(plotting.plot_samples(images, caption=caption, title=title))
    for line in analysis.headline_lines(ev["metrics"]):
        print(line)
""",
        ),
        ("markdown", "## Save"),
        (
            "code",
            """
record = experiment.run_record(MODEL, profile, budget, splits, result, ev)
path = results.save_run(results_dir, MODEL, seed, record)
runlock.release(results_dir, MODEL, seed)
print(f"saved seed {seed} ({result.status}) to {path}")
""",
        ),
    ]


def cells(spec: ModelSpec) -> list[tuple[str, str]]:
    return [("markdown", header(spec)), ("parameters", PARAMETERS), *body(spec.name)]
