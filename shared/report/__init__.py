"""The evaluation report: every table and figure of the study, built from whatever results exist.

The evaluation notebook (``notebooks/evaluation.ipynb``) is a thin shell around this package: it
calls :func:`load_report` once, then one step function per table or figure, and shows each
result with :func:`display_output`. :func:`build_report` runs the same steps in the same order
without a notebook (tests, benchmarks, scripts)::

    rep = load_report("paper_results", "figures", "tables")      # load, filter, say what's missing
    out = table_i(rep, "protocol")                                 # -> Output (frame, files, caption)
    rep = build_report("paper_results", "figures", "tables")       # everything at once

Every step returns an :class:`Output`: its title, a caption that states the profile, data source
and number of seeds behind it, the frame or figure, the files written and, where something could
not be built, a note saying why. Nothing raises on partial results: a step that lacks what it needs
(no results, no baseline VAE, fewer than three models for a correlation, ...) is skipped with a note.
Statistics and drawing are :mod:`shared.analysis` and :mod:`shared.plotting`; this package only
selects data, names files and writes captions. Tables are written as CSV (full precision), Markdown
and LaTeX; Tables I and II also as ``*_values.csv`` (the numbers behind the "mean ± std" text).
Figures are written as PNG and PDF. Same results in, same table files out, byte for byte.

Models whose posterior collapsed (:mod:`shared.collapse`; any ok seed) are flagged in every table
that lists models (column ``collapsed``), left out of Table III's rankings and kept off the Pareto
frontier, and drawn grey in Figs 4-6; captions state the rule. Tables I, II and the comparison with
the study also say which study setting a model does not use (``setting differs from study``).

Tables I, II and every other table use each model's main interpolation path; the extra paths some
models store (SVAE's chord, VQ-VAE's re-quantised frames) appear only in ``interpolation_paths``.

Beyond the study (results schema v2, docs/PROTOCOL.md#10-beyond-the-study): Table IV (generation:
FD in the MNIST classifier's features, never called FID, precision and recall per sampler), Table V
(linear probe and k-means on the mean codes), raw vs scale-free smoothness, the duality test and
its generated conclusion (:func:`duality_conclusion`), and the figures built on them. Results
written before schema v2 lack those blocks: the steps are then skipped with a note.

The modules: :mod:`.core` (Report, Output, loading, what is missing, captions), :mod:`.steps` (the
``@step`` decorator and registry, writing and displaying outputs), :mod:`.tables` and
:mod:`.figures` (the study's steps), :mod:`.beyond_tables` and :mod:`.beyond_figures` (the steps
beyond the study) and :mod:`.build` (everything at once, the index).
"""

from __future__ import annotations

from shared.report.beyond_figures import (
    N_SAMPLE_IMAGES,
    fig_duality,
    fig_fd_vs_ssim,
    fig_probe_vs_piq,
    fig_samples,
)
from shared.report.beyond_tables import (
    FD_DISCLAIMER,
    duality_conclusion,
    duality_test,
    table_iv,
    table_scale_free,
    table_v,
)
from shared.report.build import FIGURE_STEPS, TABLE_STEPS, build_report, index
from shared.report.core import (
    DEFAULT_FIGURES_DIR,
    DEFAULT_RESULTS_DIR,
    DEFAULT_TABLES_DIR,
    FULL,
    HOW_TO_PRODUCE,
    INTERP,
    PROJECT_ROOT,
    PROTOCOL,
    Output,
    Report,
    caption,
    describe,
    load_report,
    missing,
    overview,
    parse_list,
)
from shared.report.figures import (
    MAX_TSNE_MODELS,
    N_DIGITS,
    N_REPRESENTATIVES,
    TSNE_POINTS,
    fig1_reconstructions,
    fig2_ssim_by_family,
    fig3_interpolations,
    fig4_top_combined,
    fig5_ssim_vs_piq,
    fig6_pareto,
    fig_training_curves,
    fig_tsne,
    representatives,
    tsne_selection,
)
from shared.report.steps import STEPS, Built, Skip, Step, display_output, step
from shared.report.tables import (
    PATHS_CAPTION,
    confidence_intervals,
    correlations,
    coverage,
    failures,
    identical_rows,
    interpolation_paths,
    pareto_regimes,
    rank_agreement,
    run_table,
    run_table_by_model,
    significance_items,
    significance_seeds,
    study_comparison,
    table_i,
    table_ii,
    table_iii,
)

__all__ = [
    "DEFAULT_FIGURES_DIR", "DEFAULT_RESULTS_DIR", "DEFAULT_TABLES_DIR", "FD_DISCLAIMER",
    "FIGURE_STEPS", "FULL", "N_SAMPLE_IMAGES", "duality_conclusion", "duality_test", "fig_duality",
    "fig_fd_vs_ssim", "fig_probe_vs_piq", "fig_samples", "table_iv", "table_scale_free", "table_v",
    "HOW_TO_PRODUCE", "INTERP", "MAX_TSNE_MODELS", "N_DIGITS", "N_REPRESENTATIVES", "PATHS_CAPTION",
    "PROJECT_ROOT", "PROTOCOL", "STEPS", "TABLE_STEPS", "TSNE_POINTS", "Built", "Output", "Report",
    "Skip", "Step", "build_report", "caption", "confidence_intervals", "correlations", "coverage",
    "describe", "display_output", "failures", "fig1_reconstructions", "fig2_ssim_by_family",
    "fig3_interpolations", "fig4_top_combined", "fig5_ssim_vs_piq", "fig6_pareto",
    "fig_training_curves", "fig_tsne", "identical_rows", "index", "interpolation_paths",
    "load_report", "missing", "overview", "pareto_regimes", "parse_list", "rank_agreement",
    "representatives", "run_table", "run_table_by_model", "significance_items", "significance_seeds",
    "step", "study_comparison", "table_i", "table_ii", "table_iii", "tsne_selection",
]  # fmt: skip
