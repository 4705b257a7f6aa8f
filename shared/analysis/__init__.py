"""Statistics and tables of the benchmark, computed from the tidy frames of ``shared.results``.

Everything here is pure pandas / numpy / scipy (no torch) and deterministic: ties are always broken
by model name, so the same results give the same tables byte for byte. The frames it expects:

- metrics frame: one row per model x seed x eval_set x metric, columns
  ``[model, seed, status, profile, data_source, eval_set, metric, value]`` (value = the run's mean);
- per-item frame: columns ``[model, seed, item, metric, value]`` for one eval_set (item = test image
  or interpolation sequence, the same items for every model);
- runs frame: one row per model x seed with status, failure reason, epochs and timing, and (newer
  files) the posterior-collapse verdict ``collapsed`` and the ``setting_differs`` text.

"Model means" (see :func:`model_means`) are one row per model with one column per metric, the mean
over seeds; most model-level analyses (correlations, Pareto, ranks, Table III) start from it.

The modules, by job (every public name is also here, ``from shared import analysis as A``):
:mod:`.common` (metrics, directions, labels), :mod:`.summaries` (mean ± std over seeds or items,
model means, 95% intervals), :mod:`.stats` (paired t-tests, Bonferroni, correlations),
:mod:`.ranking` (combined rank, Pareto, regimes, Table III), :mod:`.study` (the study's tables,
identical rows, comparison, rank agreement), :mod:`.tables` (display tables, Markdown / LaTeX /
CSV), :mod:`.paths` (extra interpolation paths), :mod:`.runs` (run summary, failures) and
:mod:`.flags` (collapse, setting differs); beyond the study (results schema v2): :mod:`.beyond`
(Table IV generation, Table V codes, scale-free smoothness, the duality test's input) and
:mod:`.duality` (the duality test itself, imported from there).
"""

from __future__ import annotations

from shared.analysis.beyond import (
    CODES_SET,
    DISTRIBUTION_PREFIX,
    DUALITY_INPUT_COLUMNS,
    FD_LABEL,
    GENERATION_SETS,
    SAMPLER_LABELS,
    SCALE_FREE_TABLE_METRICS,
    TABLE_IV_COLUMNS,
    TABLE_V_COLUMNS,
    UNDEFINED_COLUMN,
    codes_n_statement,
    codes_summary,
    duality_input,
    generation_summary,
    has_values,
    headline_lines,
    sample_title,
    scale_free_summary,
    table_codes,
    table_generation,
    table_scale_free,
    undefined_statement,
)
from shared.analysis.common import (
    ALPHA,
    BASELINE,
    CODES_METRICS,
    DISTRIBUTION_METRICS,
    HIGHER_IS_BETTER,
    INTERPOLATION_METRICS,
    METRIC_LABELS,
    RECONSTRUCTION_METRICS,
    REGISTRY_MODELS,
    SCALE_FREE_METRICS,
)
from shared.analysis.flags import (
    COLLAPSED_COLUMN,
    FLAG_COLUMNS,
    SETTING_COLUMN,
    add_model_flags,
    collapse_statement,
    collapsed_models,
    model_flags,
)
from shared.analysis.paths import (
    DEFAULT_MAIN_PATH_LABEL,
    EXTRA_PATH_LABELS,
    EXTRA_PATH_PREFIX,
    INTERPOLATION_PATHS_COLUMNS,
    MAIN_INTERPOLATION_SET,
    PATH_NAME_LABELS,
    interpolation_paths_table,
    main_path_label,
)
from shared.analysis.ranking import (
    APPLICATIONS,
    REGIME_RULE,
    REGIMES,
    assign_regimes,
    combined_rank,
    pareto_mask,
    table_iii,
)
from shared.analysis.runs import failed_runs, run_summary
from shared.analysis.stats import (
    STUDY_CORRELATIONS,
    bonferroni,
    metric_correlations,
    pearson,
    significance_across_seeds,
    significance_per_item,
)
from shared.analysis.study import (
    REFERENCE_DIR,
    STUDY_COLUMNS,
    STUDY_FAMILIES,
    STUDY_NAME_TO_REGISTRY,
    STUDY_TABLE_I,
    STUDY_TABLE_II,
    compare_with_study,
    identical_study_rows,
    load_study_tables,
    rank_agreement,
    study_identity_flags,
    study_values,
)
from shared.analysis.summaries import (
    ci_halfwidth_normal,
    ci_halfwidth_t,
    confidence_intervals,
    model_means,
    summarise,
    summarise_items,
    summary_long,
    value_in_interval,
)
from shared.analysis.tables import (
    BEST_ATTR,
    HEADERS_ATTR,
    TABLE_I_COLUMNS,
    TABLE_II_COLUMNS,
    arrow,
    best_mask,
    display_header,
    display_view,
    format_mean_std,
    metric_table,
    n_statement,
    save_table,
    table_interpolation,
    table_reconstruction,
    table_study_comparison,
    to_latex,
    to_markdown,
)

__all__ = [
    "ALPHA", "APPLICATIONS", "BASELINE", "BEST_ATTR", "CODES_METRICS", "CODES_SET",
    "COLLAPSED_COLUMN", "DEFAULT_MAIN_PATH_LABEL", "DISTRIBUTION_METRICS",
    "DISTRIBUTION_PREFIX", "DUALITY_INPUT_COLUMNS", "EXTRA_PATH_LABELS", "EXTRA_PATH_PREFIX",
    "FD_LABEL", "FLAG_COLUMNS", "GENERATION_SETS", "HEADERS_ATTR", "HIGHER_IS_BETTER",
    "INTERPOLATION_METRICS", "INTERPOLATION_PATHS_COLUMNS", "MAIN_INTERPOLATION_SET",
    "METRIC_LABELS", "PATH_NAME_LABELS", "RECONSTRUCTION_METRICS", "REFERENCE_DIR", "REGIMES",
    "REGIME_RULE", "REGISTRY_MODELS", "SAMPLER_LABELS", "SCALE_FREE_METRICS",
    "SCALE_FREE_TABLE_METRICS", "SETTING_COLUMN", "STUDY_COLUMNS", "STUDY_CORRELATIONS",
    "STUDY_FAMILIES", "STUDY_NAME_TO_REGISTRY", "STUDY_TABLE_I", "STUDY_TABLE_II",
    "TABLE_II_COLUMNS", "TABLE_IV_COLUMNS", "TABLE_I_COLUMNS", "TABLE_V_COLUMNS",
    "UNDEFINED_COLUMN", "add_model_flags", "arrow", "assign_regimes", "best_mask", "bonferroni",
    "ci_halfwidth_normal", "ci_halfwidth_t", "codes_n_statement", "codes_summary",
    "collapse_statement", "collapsed_models", "combined_rank", "compare_with_study",
    "confidence_intervals", "display_header", "display_view", "duality_input", "failed_runs",
    "format_mean_std", "generation_summary", "has_values", "headline_lines",
    "identical_study_rows", "interpolation_paths_table", "load_study_tables", "main_path_label",
    "metric_correlations", "metric_table", "model_flags", "model_means", "n_statement",
    "pareto_mask", "pearson", "rank_agreement", "run_summary", "sample_title", "save_table",
    "scale_free_summary", "significance_across_seeds", "significance_per_item",
    "study_identity_flags", "study_values", "summarise", "summarise_items", "summary_long",
    "table_codes", "table_generation", "table_iii", "table_interpolation",
    "table_reconstruction", "table_study_comparison", "table_scale_free", "to_latex", "to_markdown",
    "undefined_statement", "value_in_interval",
]  # fmt: skip
