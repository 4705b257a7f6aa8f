"""Template of ``notebooks/evaluation.ipynb``: every table and figure of the study.

The notebook stays thin: a parameters cell, a bootstrap cell that finds the project and loads the
results, then one cell per table or figure calling :mod:`shared.report` and showing its output,
with a markdown cell saying what each one is (what is paired, what n is, the rules of Table III,
the ISS scale, the study's identical rows). Regenerate with ``python tools/make_notebooks.py``.
"""

from __future__ import annotations

from tools.templates.bootstrap import BOOTSTRAP

INTRO = """
# Evaluation: every table and figure of the study, from the results that exist

This notebook reads the results files `[MODEL]_MNIST.pkl` (one per model, every seed inside;
format in `shared/results.py`, loaded by a safe reader that refuses anything but plain data) and
builds the study's tables and figures from them: Tables I–III, significance against the VAE
baseline, 95% confidence intervals, correlations between metrics, a model-by-model comparison
with the study's published figures, a run summary, Figs 1–6, t-SNE of latent codes and training
curves; then, beyond the study, Table IV (generation: FD in the MNIST classifier's features,
precision, recall), Table V (what the codes know), scale-free smoothness and the duality test with
its generated conclusion, and their figures.

- **Tables** go to `tables/` (CSV at full precision, Markdown and LaTeX, each with its caption);
  Tables I and II also as `*_values.csv` (the numbers behind "mean ± std").
- **Figures** go to `figures/` (PNG and PDF).
- **Partial results are fine**: whatever models and seeds exist are used; the overview below says
  what is missing, and a table or figure that cannot be built says why instead of failing.
- **Every caption** states the profile (smoke / quick / paper), the data the models were trained
  on, and how many seeds are behind it (said once: "mean ± std over n = 3 seeds"; with one seed the
  cells hold the mean alone). Bold marks each column's best value among models that did not collapse.
- **Deterministic**: the same results give byte-identical tables.

Run it headless (from the project folder):

```
papermill notebooks/evaluation.ipynb notebooks/executed/evaluation.ipynb \\
    -p results_dir paper_results -p figures_dir figures -p tables_dir tables
```

Generated from `tools/templates/evaluation.py`; edit that file, not this notebook.
"""

PARAMETERS = """
# Parameters (papermill -p NAME VALUE). None means the project's default.
results_dir = "auto"  # type: str folder of [MODEL]_MNIST.pkl files; "auto": paper_results/ if it has results, else the newest results/<profile>/
figures_dir = None  # type: Optional[str] figures as PNG and PDF (None: figures/ for paper_results, else <results_dir>/figures)
tables_dir = None  # type: Optional[str] tables as CSV, Markdown, LaTeX (None: tables/ for paper_results, else <results_dir>/tables)
models = None  # type: Optional[str] comma list, e.g. "VAE,AE,BetaVAE" (None: every model found)
seeds = None  # type: Optional[str] comma list, e.g. "42,123" (None: every seed found)
tsne_models = None  # type: Optional[str] up to 4 models for the t-SNE figure (None: chosen from the data)
"""

LOAD = """
import pandas as pd
from IPython.display import Markdown, display

from shared import report

for _opt, _val in (("max_rows", 200), ("max_columns", 40), ("max_colwidth", 90), ("width", 200)):
    pd.set_option(f"display.{_opt}", _val)
rep = report.load_report(results_dir, figures_dir, tables_dir, models=models, seeds=seeds)
display(Markdown(report.overview(rep)))
"""

RUNS_MD = """
## Run summary

One row per model and seed: status, epochs run, best epoch (whose weights were kept), the epoch at
which early stopping ended training (empty if it ran to its epoch budget), wall time, device,
profile and data. **Failed runs** (a NaN/inf loss; the study lists VAEGAN, RHVAE, PVAE and HRQVAE
as failing) are listed with their reason and **excluded from every other table**. The coverage grid
shows, for every expected model and seed, whether a result exists.
"""

TABLE_I_MD = """
## Table I: reconstruction

Per test image x: x̂ = Decoder(z) with z ~ q(z|x) drawn with a fixed seed (the study's protocol;
deterministic models use their code). MSE and MAE are means over the 784 pixels; PSNR =
10·log10(1/MSE) dB; SSIM uses a Gaussian 11×11 window (σ = 1.5), c1 = 0.01², c2 = 0.03², data
range 1, averaged over the valid region (exactly scikit-image's `structural_similarity` with
`gaussian_weights=True`). Each run's value is its mean over the images; the table gives the
**mean ± std (ddof = 1) of those run means over seeds**, ranked by SSIM (with one seed: the mean
alone, said in the caption). Two versions: the study's **100 fixed test images** (the same for every model) and the
**full test split**.

Model notes (what pythae's classes really are): HVAE is the *Hamiltonian* VAE (Caterini et al.
2018), not a hierarchical VAE; MIWAE / CIWAE / PIWAE are the multiply / combination / partially
importance-weighted bounds of Rainforth et al. 2018; RAE-L2 / RAE-GP are the regularised
deterministic autoencoders of Ghosh et al. 2020.
"""

TABLE_II_MD = """
## Table II: interpolation

For 25 fixed pairs of test images: z1, z2 = mean codes, 10 frames decoded along the path each
model's registry entry declares between them (the straight line; SVAE: the great circle of its
sphere; PoincareVAE: the ball's geodesic); d_i = **per-pixel mean** of the squared difference of consecutive frames (the only
reading consistent with the study's PIQ ≈ 10⁻³). PIQ = mean of d_i (lower = smoother), ISS =
variance of d_i (lower = more uniform speed), I-SSIM = mean SSIM of consecutive frames (higher =
more consistent). **Mean ± std pooled over the 25 sequences and all seeds**, as the study
describes, ranked by PIQ. **ISS is in plain units**: the study's table labels its ISS "×10", which
contradicts its own text (≈ 5·10⁻⁴), so ISS values are not converted when compared with it.
"""

PATHS_MD = """
Where a model also stores **extra interpolation paths** (SVAE: the study's literal straight line,
the chord, which leaves the unit sphere; VQ-VAE: each frame's code re-quantised), the next table
puts PIQ, ISS and I-SSIM on them beside the main path that Table II uses, as extra − main.
"""

SIGNIFICANCE_MD = """
## Significance against the VAE baseline

Two paired t-tests (scipy `ttest_rel`, two-sided) of every model against the VAE, per metric:

1. **Paired by seed**: the pair is (run mean of the model, run mean of the VAE) *for the same
   seed*; **n = number of seeds both have** (3 in the paper profile). With fewer than 2 seeds no
   test is possible, and the table is replaced by one line saying so. This is the test across
   independent trainings.
2. **Paired by item**: the pair is (model, VAE) on the *same test image* (reconstruction: the 100
   protocol images) or the *same interpolation sequence* (25), each value averaged over the seeds
   both models have; **n = 100 images / 25 sequences**. It says whether the difference holds on
   these images for these trained networks, not across trainings.

Bonferroni: p_B = min(1, p·m) with **m = the number of models compared with the VAE** for that
metric (21 with all 22 models; the study used α = 0.05/22); significant when p_B < 0.05. The full
tables are saved; the grids below show Δ = model − VAE, p_B and the verdict.
"""

CI_MD = """
## 95% confidence intervals of the model means

Over seeds (n = number of seeds): the study's interval mean ± 1.96·SD/√n, and the correct
small-sample interval mean ± t₀.₉₇₅,ₙ₋₁·SD/√n (with n = 3, t = 4.30, so the study's interval is
about 2.2 times too narrow). None with one seed.
"""

CORRELATIONS_MD = """
## Correlations between metrics across models

Pearson r with two-sided p over the model means (one point per model, mean over seeds; protocol
reconstruction and interpolation), for the pairs the study reports, beside its values. The study
prints a positive r for SSIM–MSE although higher SSIM goes with lower MSE, so it probably reports
|r|: both r and |r| are given.
"""

TABLE_III_MD = """
## Table III: which model for which application

**Computed, not typed in.** For each application one criterion (SSIM, MSE, PIQ, ISS, I-SSIM or
the combined rank = mean of the SSIM rank and the PIQ rank): **recommended = the best k models on
it, avoid = the worst k**, k = 3 (fewer when there are fewer than 6 models), ties broken by name.
The rule is written in each row.
"""

STUDY_MD = """
## Reproduction vs the study

Our mean ± std over seeds (protocol reconstruction, interpolation) beside the study's printed
value (`shared/reference_data/`), the difference (ours − study, plain units), our t-based 95%
interval, and whether the study's value lies inside it and inside the study-style 1.96·SD/√n
interval (with one seed there is no interval: the caption says so). ISS is not converted (see Table II). Rank agreement is
Spearman's ρ between our model means and the study's, over the models both have.

**The study's identical rows**: in its tables several different models carry identical figures to
every digit (IWAE = MIWAE = PIWAE = MS-SSIM-VAE = Disentangled β-VAE; RAE-GP = RAE-L2; InfoVAE =
FactorVAE; β-VAE = CIWAE). Genuinely different models cannot do that; each affected row is flagged
(`study_row_identical_to`), and the last table lists such groups in the study's tables and in ours.
The notebook shows SSIM and PIQ; the saved table has every metric.
"""

PARETO_MD = """
## Pareto frontier, combined rank and regimes (data of Figs 4 and 6)

A model is Pareto-optimal when no other model has both higher-or-equal SSIM and lower-or-equal PIQ
(one strictly). Regime, from the ranks: tilt = (PIQ rank − SSIM rank)/(models − 1);
tilt > 1/3 → reconstruction-first, tilt < −1/3 → smoothness-first, else balanced.
"""

FIGURES_MD = """
## Figures

Figs 1 and 3 show representative models chosen from the data: best and worst SSIM, the VAE
baseline, best and worst PIQ and the median-SSIM model (each from its lowest available seed).
"""

TSNE_MD = """
### t-SNE of latent codes

Mean codes of up to 1,000 fixed test images per model, embedded by scikit-learn's t-SNE
(random_state 0, perplexity 30 or less), coloured by digit. Models: the `tsne_models` parameter,
else up to four chosen like the figures above.
"""

BEYOND_MD = """
## Beyond the study

The study measures reconstructions and interpolations only. Every run of this project also stores
(results schema v2; [protocol §10](../docs/PROTOCOL.md#10-beyond-the-study)) how well the model
*generates* new digits, what its mean codes *know* about the digit, and how smooth its
interpolations are once their *scale* is taken out. Results written before these metrics existed
lack them: each table or figure below then says so instead of being built.
"""

TABLE_IV_MD = """
### Table IV: generation

Two samplers per model: its **prior** (what it was trained to match; the `prior` column says which:
N(0, I) for most, VAMP's pseudo-input mixture, the uniform sphere for SVAE; **VQ-VAE learns no
prior**, so its "prior" is the training-set code frequencies drawn position by position; AE, RAE-L2
and RAE-GP have none) and a 10-component **Gaussian mixture (GMM)** fitted to the training images'
mean codes, which every model has. Their images are compared with the test images in the features
of the project's own MNIST classifier: **FD (MNIST-classifier features)**, the Fréchet distance of
Gaussians fitted to those features (lower = closer), is *not* FID and not comparable with Inception
FID values; **precision** (share of generated digits that fall on the real digits' manifold:
fidelity) and **recall** (share of real digits the generated ones cover: diversity) use k-nearest-
neighbour balls. The mean-code reconstructions of the test images give the FD a decoder reaches
from real codes: the reference. The caption names the feature network, k and the set sizes.
"""

TABLE_V_MD = """
### Table V: what the codes know

Judged on the encoder's mean codes of the test images, not on any image: **linear-probe accuracy**
(a logistic regression trained on the training codes predicts the digit of each test code: is the
digit linearly decodable?) and **k-means accuracy** (10 clusters on the test codes, each matched to
one digit by the Hungarian algorithm: do the digits form clumps without being told the labels?),
mean ± std over the k-means restarts. Chance is about 0.1.
"""

SCALE_FREE_MD = """
### Smoothness without the scale

PIQ and ISS grow with the distance the frames travel: a sharper model moves further between the
same two digits, which raises PIQ without making the path any less smooth. **Endpoint distance**
(mean over pixels of (f_K − f_1)²) is that scale; **path excess** = PIQ ÷ the PIQ of the straight
constant-speed pixel morph between the same end frames (≥ 1; 1 = that morph) and **step CV** (how
unevenly the path is paced; 0 = constant speed) do not change when every frame's deviation is
scaled. Path excess is undefined where the two end frames are identical; the caption counts them.
"""

DUALITY_MD = """
### The duality test

Does "better reconstructions, rougher interpolations" (the study's SSIM–PIQ correlation) survive
when smoothness is measured scale-free? Across the models that did not collapse: Pearson r of SSIM
(the protocol's, as in Table I) against PIQ and ISS (raw), path excess and step CV (scale-free), and
the partial correlations of SSIM with PIQ and with path excess given endpoint distance. The
paragraph after the table is **generated from its numbers** (`shared.analysis.duality`), not typed in.
"""

BEYOND_FIGURES_MD = """
### Figures beyond the study

The duality drawn (SSIM against PIQ beside SSIM against path excess, the test's r and p in the
panel titles), FD of the GMM sampler's digits against SSIM, linear-probe accuracy against PIQ, and
the first 8 generated digits of every model per sampler (from its lowest available seed).
"""

END_MD = """
## What was built

Every output of this run, its files, and why any was skipped.
"""


def _display(call: str) -> str:
    return f"report.display_output({call})"


def cells() -> list[tuple[str, str]]:
    """The evaluation notebook as (kind, source) cells."""
    return [
        ("markdown", INTRO),
        ("parameters", PARAMETERS),
        ("code", BOOTSTRAP),
        ("code", LOAD),
        ("markdown", RUNS_MD),
        ("code", _display("report.run_table(rep)")),
        ("code", _display("report.run_table_by_model(rep)")),
        ("code", _display("report.failures(rep)")),
        ("code", _display("report.coverage(rep)")),
        ("markdown", TABLE_I_MD),
        ("code", _display('report.table_i(rep, "protocol")')),
        ("code", _display('report.table_i(rep, "full")')),
        ("markdown", TABLE_II_MD),
        ("code", _display("report.table_ii(rep)")),
        ("markdown", PATHS_MD),
        ("code", _display("report.interpolation_paths(rep)")),
        ("markdown", SIGNIFICANCE_MD),
        ("code", _display("report.significance_seeds(rep)")),
        ("code", _display("report.significance_items(rep)")),
        ("markdown", CI_MD),
        ("code", _display("report.confidence_intervals(rep)")),
        ("markdown", CORRELATIONS_MD),
        ("code", _display("report.correlations(rep)")),
        ("markdown", TABLE_III_MD),
        ("code", _display("report.table_iii(rep)")),
        ("markdown", STUDY_MD),
        ("code", _display("report.study_comparison(rep)")),
        ("code", _display("report.rank_agreement(rep)")),
        ("code", _display("report.identical_rows(rep)")),
        ("markdown", PARETO_MD),
        ("code", _display("report.pareto_regimes(rep)")),
        ("markdown", FIGURES_MD),
        ("code", _display("report.fig1_reconstructions(rep)")),
        ("code", _display("report.fig2_ssim_by_family(rep)")),
        ("code", _display("report.fig3_interpolations(rep)")),
        ("code", _display("report.fig4_top_combined(rep)")),
        ("code", _display("report.fig5_ssim_vs_piq(rep)")),
        ("code", _display("report.fig6_pareto(rep)")),
        ("markdown", TSNE_MD),
        ("code", _display("report.fig_tsne(rep, tsne_models)")),
        ("code", _display("report.fig_training_curves(rep)")),
        ("markdown", BEYOND_MD),
        ("markdown", TABLE_IV_MD),
        ("code", _display("report.table_iv(rep)")),
        ("markdown", TABLE_V_MD),
        ("code", _display("report.table_v(rep)")),
        ("markdown", SCALE_FREE_MD),
        ("code", _display("report.table_scale_free(rep)")),
        ("markdown", DUALITY_MD),
        ("code", _display("report.duality_test(rep)")),
        ("code", "display(Markdown(report.duality_conclusion(rep)))"),
        ("markdown", BEYOND_FIGURES_MD),
        ("code", _display("report.fig_duality(rep)")),
        ("code", _display("report.fig_fd_vs_ssim(rep)")),
        ("code", _display("report.fig_probe_vs_piq(rep)")),
        ("code", _display('report.fig_samples(rep, "prior")')),
        ("code", _display('report.fig_samples(rep, "gmm")')),
        ("markdown", END_MD),
        ("code", "report.index(rep)"),
    ]
