"""The step mechanism: every table and figure of the report is one function decorated with
:func:`step`, which names it, skips it with a note when the report lacks what it ``needs``, saves
what its body returns (a :class:`Built`, or a :class:`Skip` with the reason) and records the
:class:`~shared.report.core.Output`. :data:`STEPS` lists the steps in the order they are defined,
which is the order :func:`~shared.report.build.build_report` runs them in.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
from matplotlib.figure import Figure

from shared import analysis as A
from shared import plotting as P
from shared.report.core import Output, Report

# --------------------------------------------------------------------------- what a body returns


@dataclass
class Built:
    """What a step's body made: the caption, the frame (a table as saved, or the data behind a
    figure), the figure, a compact view for the notebook, the numbers behind a table (saved as
    ``<name>_values.csv``), the paper layout its .md and .tex print when the frame is the full
    data (``paper``), and a note on anything incomplete."""

    caption: str
    frame: pd.DataFrame | None = None
    figure: Figure | None = None
    view: pd.DataFrame | None = None
    values: pd.DataFrame | None = None
    note: str = ""
    paper: pd.DataFrame | None = None


@dataclass
class Skip:
    """A step's body found nothing to build: why."""

    note: str


# --------------------------------------------------------------------------- what a step needs


def no_metrics(rep: Report) -> str:
    return "no evaluated runs in the results" if rep.empty else "no successful run has metrics"


def needs_runs(rep: Report) -> str | None:
    """At least one run, failed or not."""
    return "no runs in the results" if rep.empty else None


def needs_metrics(rep: Report) -> str | None:
    """At least one successful run with evaluation metrics."""
    return None if rep.has_metrics else no_metrics(rep)


def needs_ssim_and_piq(rep: Report) -> str | None:
    """At least one model mean with both SSIM and PIQ (ranks, Pareto, Figs 1-6)."""
    if rep.means.reindex(columns=["ssim", "piq"]).dropna().empty:
        return "no model has both SSIM and PIQ"
    return None


def needs_baseline(rep: Report) -> str | None:
    """The baseline has a successful evaluated run (the significance tests)."""
    if A.BASELINE not in set(rep.metrics["model"]):
        return f"the baseline {A.BASELINE} has no successful evaluated run: no test against it"
    return None


BEYOND_NOTE = (
    "results written before schema v2 (docs/PROTOCOL.md#10-beyond-the-study) do not have them; "
    "re-evaluating the stored weights (shared.reevaluate) adds them"
)


def needs_generation(rep: Report) -> str | None:
    """A successful run with generation metrics (``metrics.generation``, schema v2)."""
    sets = [f"{A.DISTRIBUTION_PREFIX}{s}" for s in A.GENERATION_SETS]
    if not A.has_values(rep.metrics, sets, A.DISTRIBUTION_METRICS):
        return f"no run has the generation metrics (metrics.generation): {BEYOND_NOTE}"
    return None


def needs_codes(rep: Report) -> str | None:
    """A successful run with the codes metrics (``metrics.codes``, schema v2)."""
    if not A.has_values(rep.metrics, [A.CODES_SET], ("probe_accuracy", "kmeans_accuracy")):
        return f"no run has the codes metrics (metrics.codes): {BEYOND_NOTE}"
    return None


def needs_scale_free(rep: Report) -> str | None:
    """A successful run with the scale-free interpolation metrics (schema v2)."""
    if not A.has_values(rep.metrics, ["interpolation"], A.SCALE_FREE_METRICS):
        return f"no run has the scale-free interpolation metrics ({', '.join(A.SCALE_FREE_METRICS)}): {BEYOND_NOTE}"
    return None


RUNS = (needs_runs,)
METRICS = (needs_metrics,)
MEANS = (needs_metrics, needs_ssim_and_piq)
BASELINE = (needs_metrics, needs_baseline)
GENERATION = (needs_metrics, needs_generation)
CODES = (needs_metrics, needs_codes)
SCALE_FREE = (needs_metrics, needs_scale_free)


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Step:
    """A registered step: the function, its kind, the calls :func:`build_report` makes of it
    (keyword arguments, one dict a call) and which of its parameters take a build option."""

    func: Callable[..., Output]
    kind: str
    calls: tuple[Mapping[str, object], ...] = ({},)
    options: Mapping[str, str] = field(default_factory=dict)


STEPS: list[Step] = []


def _text(template: str | Callable[..., str], arguments: Mapping[str, object]) -> str:
    """A name or title: a template filled with the step's arguments, or a function of them."""
    return template(**arguments) if callable(template) else template.format(**arguments)


def step(
    name: str | Callable[..., str],
    title: str | Callable[..., str],
    kind: str,
    needs: Sequence[Callable[[Report], str | None]] = (),
    calls: tuple[Mapping[str, object], ...] = ({},),
    options: Mapping[str, str] | None = None,
) -> Callable:
    """Register a report step ``body(rep, ...) -> Built | Skip`` of ``kind`` "table" or "figure".

    ``name`` (the files' name) and ``title`` are templates filled with the step's arguments (or
    functions of them). The first of ``needs`` that returns a reason skips the step with that
    note, before the body runs. ``calls`` are the keyword arguments :func:`build_report` runs it
    with, one call each; ``options`` maps parameters to :func:`build_report` options.
    """

    def decorate(body: Callable[..., Built | Skip]) -> Callable[..., Output]:
        signature = inspect.signature(body)

        @functools.wraps(body)
        def run(rep: Report, *args, **kwargs) -> Output:
            bound = signature.bind(rep, *args, **kwargs)
            bound.apply_defaults()
            arguments = dict(list(bound.arguments.items())[1:])
            out_name, out_title = _text(name, arguments), _text(title, arguments)
            reason = next((why for need in needs if (why := need(rep)) is not None), None)
            made = Skip(reason) if reason is not None else body(rep, *args, **kwargs)
            if isinstance(made, Skip):
                _remove_stale(rep, kind, out_name)
                out = Output(name=out_name, title=out_title, kind=kind, note=made.note)
            elif kind == "table":
                out = _save_table(rep, out_name, out_title, made)
            else:
                out = _save_figure(rep, out_name, out_title, made)
            rep.outputs.append(out)
            return out

        STEPS.append(Step(run, kind, calls, dict(options or {})))
        return run

    return decorate


# --------------------------------------------------------------------------- writing and showing


#: The files a step writes, by kind: what a skipped step removes of an earlier build.
OUTPUT_SUFFIXES = {"table": (".csv", ".md", ".tex", "_values.csv"), "figure": (".png", ".pdf", ".caption.md")}


def _remove_stale(rep: Report, kind: str, name: str) -> None:
    """Delete the files an earlier build of this step wrote (only those names), so a table or
    figure that is no longer built does not survive beside the new ones (#18 item 5)."""
    folder = rep.tables_dir if kind == "table" else rep.figures_dir
    for suffix in OUTPUT_SUFFIXES[kind]:
        (folder / f"{name}{suffix}").unlink(missing_ok=True)


def _save_table(rep: Report, name: str, title: str, made: Built) -> Output:
    """Write the table as CSV/Markdown/LaTeX (caption on top of the .md and .tex), and its values."""
    paths = A.save_table(
        made.frame, rep.tables_dir, name, heading=f"{title}. {made.caption}.", shown=made.paper
    )
    out_paths = [paths["csv"], paths["md"], paths["tex"]]
    if made.values is not None:
        values_path = rep.tables_dir / f"{name}_values.csv"
        made.values.to_csv(values_path, index=False)
        out_paths.append(values_path)
    return Output(name, title, "table", made.caption, made.frame, made.view, paths=out_paths, note=made.note)


def _save_figure(rep: Report, name: str, title: str, made: Built) -> Output:
    """Write the figure as PNG and PDF, and its caption (not drawn in it) as ``name.caption.md``."""
    # the caption file opens with the title in bold, as a table's Markdown does (the appendix lists both)
    paths = P.save_figure(made.figure, rep.figures_dir, name, caption=f"**{title}.** {made.caption}")
    return Output(
        name, title, "figure", made.caption, frame=made.frame, figure=made.figure,
        paths=[paths["png"], paths["pdf"], *([paths["caption"]] if "caption" in paths else [])],
        note=made.note,
    )  # fmt: skip


def display_output(out: Output) -> None:
    """Display an output in a notebook: title and caption (as Markdown; a figure's caption is the
    text of its ``.caption.md``, not drawn in the image), then the table or the saved PNG."""
    from IPython.display import Image, Markdown, display

    text = f"**{out.title}** — {out.caption}" if out.caption else f"**{out.title}**"
    if out.note:
        text += f"\n\n> {out.note}"
    if not out.built:
        text += "\n\n_(not built)_"
    display(Markdown(text.replace("_", r"\_").replace(r"\_(not built)\_", "_(not built)_")))
    if out.built and out.kind == "table":
        display(out.view if out.view is not None else out.frame)
    elif out.built:
        display(Image(filename=str(out.paths[0])))
