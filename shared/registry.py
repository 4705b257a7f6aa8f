"""One place that maps a model name to everything needed to build, train and describe it.

Design after pythae's own: one config object per model (the pythae config, filled with the
study's hyper-parameters, METHOD.md §4) and one registry. Each ``ModelSpec`` also holds the
training mode our loop needs and the text rendered into the model's notebook header.

``MODEL_NAMES`` are the study's 22 models (the default set). ``EXTRA_MODEL_NAMES`` are the
study's "failed" models, runnable on request: VAEGAN, RHVAE, PoincareVAE. The study's fourth
failed model, HRQVAE, is not in pythae 0.1.2 and cannot be run here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pythae.models as pm
from torch import nn

from shared import fixes
from shared.backbone import LATENT_DIM, Decoder, Encoder

# Training modes: which optimisers the loop builds and which model outputs each one minimises
# (mirrors pythae/trainers/*: BaseTrainer, CoupledOptimizerTrainer, AdversarialTrainer,
# CoupledOptimizerAdversarialTrainer).
SINGLE = "single"  # one Adam on all parameters, minimises `loss`
COUPLED = "coupled"  # encoder Adam <- `encoder_loss`, decoder Adam <- `decoder_loss`
ADVERSARIAL = (
    "adversarial"  # encoder+decoder Adam <- `autoencoder_loss`, discriminator Adam <- `discriminator_loss`
)
COUPLED_ADVERSARIAL = "coupled_adversarial"  # encoder, decoder and discriminator Adams (VAEGAN)
TRAINING_MODES = (SINGLE, COUPLED, ADVERSARIAL, COUPLED_ADVERSARIAL)

#: Interpolation paths between two mean codes (shared.latent.path_codes): the straight line; the
#: great circle of a hypersphere; the Poincaré ball's geodesic; "chord" = the straight line kept as
#: the study's literal protocol where the model's own path is curved; "requantised" = the straight
#: line with every frame's code re-quantised (the codes a VQ-VAE can emit).
INTERPOLATION_PATHS = ("line", "great_circle", "poincare_geodesic", "chord", "requantised")

FAMILIES = (
    "baseline",
    "deterministic / weakly regularised",
    "disentanglement",
    "importance weighting",
    "architecture variants",
    "alternative regularisation",
    "prior variants",
    "specialised losses",
    "failed in the study",
)

HRQVAE_NOTE = (
    "HRQVAE, the study's fourth failed model, is not part of pythae 0.1.2 (the only pythae on "
    "the package registry), so it cannot be built here."
)


class UnknownModelError(KeyError):
    """A model name that is not in the registry; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


@dataclass(frozen=True)
class ModelSpec:
    """Everything about one model: how to build it, how to train it, how to describe it."""

    name: str
    display_name: str
    family: str
    pythae_name: str  # the pythae class this model is (or subclasses)
    params: dict[str, Any]  # pythae config values that differ from pythae's defaults
    head: str  # encoder head, see shared.backbone
    training_mode: str
    study_setting: str  # the study's own words (METHOD.md §4)
    about: str  # what the model is
    objective: str  # its loss, in words / LaTeX-free math
    caveats: tuple[str, ...] = ()
    deviations: tuple[str, ...] = ()  # where our settings differ from the study, and why
    in_default_set: bool = True
    model_class: Callable[..., nn.Module] | None = None  # a fixing subclass, else pythae's class
    config_hook: Callable[[dict[str, Any], int], dict[str, Any]] | None = None  # epoch-dependent params
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)  # documented alternative settings
    decoder_weight_decay_param: str | None = None  # config field used as the decoder's Adam weight decay
    epoch_metrics: Callable[[nn.Module, Any], dict[str, float]] | None = None  # extra per-epoch history
    config_cls: type | None = None  # a config subclass with extra fields (shared.fixes), else pythae's
    select_on_final_objective: bool = False  # objective changes in training: validate on the last epoch's
    interpolation: str = "line"  # the path between two mean codes (INTERPOLATION_PATHS)
    extra_interpolations: tuple[str, ...] = ()  # further paths stored as extra metrics
    setting_differs: str = ""  # the study's stated setting this model does not use ("" = none)
    variant_setting_differs: dict[str, str] = field(default_factory=dict)  # the same, per variant

    def __post_init__(self) -> None:
        unknown = {self.interpolation, *self.extra_interpolations} - set(INTERPOLATION_PATHS)
        if unknown:
            raise ValueError(f"{self.name}: unknown interpolation paths {sorted(unknown)}")
        if set(self.variant_setting_differs) - set(self.variants):
            raise ValueError(f"{self.name}: variant_setting_differs names an unknown variant")

    def setting_differs_for(self, variant: str | None) -> str:
        """The study setting a run with ``variant`` does not use ("" when it uses the study's)."""
        if variant is None:
            return self.setting_differs
        return self.variant_setting_differs.get(variant, self.setting_differs)

    @property
    def pythae_class(self) -> type:
        return self.model_class or getattr(pm, self.pythae_name)

    @property
    def config_class(self) -> type:
        return self.config_cls or _config_class(self.pythae_name)

    def resolved_params(self, epochs: int, variant: str | None = None) -> dict[str, Any]:
        """The config values this run uses: study's settings, epoch-dependent ones, variant."""
        params = dict(self.params)
        if variant is not None:
            if variant not in self.variants:
                raise ValueError(
                    f"{self.name} has no variant {variant!r}; variants: {sorted(self.variants) or 'none'}"
                )
            params.update(self.variants[variant])
        if self.config_hook is not None:
            params = self.config_hook(params, epochs)
        return params


def _config_class(pythae_name: str) -> type:
    for candidate in (f"{pythae_name}Config", f"{pythae_name}_Config"):
        if hasattr(pm, candidate):
            return getattr(pm, candidate)
    raise LookupError(f"no pythae config class for {pythae_name}")


def _disentangled_warmup(params: dict[str, Any], epochs: int) -> dict[str, Any]:
    """warmup_epoch = N - 1, so C reaches its target at the last epoch N.

    pythae (disentangled_beta_vae_model.py) uses C * min(epoch / (warmup_epoch + 1), 1) and its
    trainers, like our loop, pass epoch = 1..N: C(e) = C e / N, a linear ramp from 0 (before
    the first epoch) to C. tests/test_fidelity_models.py checks the schedule.
    """
    return {**params, "warmup_epoch": max(epochs - 1, 0)}


_FIDELITY_NOTE = (
    "Model fidelity: shared/fixes.py holds the corrected pythae classes, "
    "tests/test_fidelity_*.py checks each against an independent computation of the paper's formula."
)
_IW_SAMPLED_RECON = (
    "Sampled reconstruction: one z ~ q(z|x) drawn straight from the encoder (shared.latent), the "
    "same draw pythae's recon_x returns (its first importance sample, not a weighted average) "
    "without decoding all K (MIWAE/PIWAE: M x K) samples."
)
_IW_BOUND_VALUE = (
    "pythae (iwae/iwae_model.py, ciwae/ciwae_model.py) reports the gradient surrogate "
    "-sum_k sg(w~_k) log w_k: the bound's gradient, not its value (it is off by log K - H(w~)). "
    "shared.fixes reports the bound itself, with the same gradient, because the validation loss "
    "picks the best epoch."
)
_MIWAE_AXIS = (
    "pythae (miwae/miwae_model.py, piwae/piwae_model.py) builds log-weights [B, M, K] but "
    "normalises and sums them over axis 1 (the M estimates) and averages over K: "
    "number_samples and number_gradient_estimates swap roles (it trains 10 estimates of a "
    "5-sample bound). shared.fixes normalises over K as Rainforth et al. (2018) define "
    "MIWAE_{M,K} and reports the bound's value. Variant 'pythae_axes' (M = 10, K = 5) uses the "
    "axes pythae trained with for the study."
)
_MIWAE_COST = (
    "M x K = 50 decoder passes per image: about 37x the CPU time of a VAE epoch (fidelity sweep, "
    "one core: 200 s per 4,000-image epoch, VAE 5.4 s); the sweep runs it for 5 epochs against a "
    "5-epoch VAE."
)
_IW_SLOW_START = (
    "Slow start, growing with K (not a loss error): early in training the encoder learns "
    "more slowly the more samples each bound has (Rainforth et al. 2018: the inference network's "
    "gradient signal-to-noise ratio falls with K), and the reconstruction from the mean code lags. "
    "Measured (benchmarks/fidelity_sweep_results.md), 5 epochs at lr 1e-4 on 4,000 digits, "
    "mean-code validation MSE (mean image "
    "0.067): VAE 0.051, IWAE K = 5 0.059, IWAE K = 10 0.082, MIWAE (M = 5, K = 10) 0.086, PIWAE "
    "0.119, MIWAE as pythae trains it (M = 10, K = 5, variant 'pythae_axes') 0.058. "
    "After 20 epochs: MIWAE 0.031, level with the VAE (0.031); PIWAE 0.042 (under the mean "
    "image from epoch 16, still falling). Short budgets (the quick profile) "
    "therefore under-train the importance-weighted models more than the others. The encoder stays "
    "a broad proposal (mean posterior σ 0.82): one posterior draw reconstructs far worse than the "
    "mean code (MIWAE after 20 epochs: 0.082 vs 0.031), which the study's sampled-z metrics show."
)
# What pythae 0.1.2 trains under the study's "K = 10" (see _MIWAE_AXIS): ten 5-sample bounds.
_PYTHAE_AXES = {"pythae_axes": {"number_gradient_estimates": 10, "number_samples": 5}}
_PYTHAE_AXES_DIFFERS = {"pythae_axes": "M = 10 bounds of K = 5 samples (study: K = 10, M = 5)"}

_VAE_CAVEAT_SAMPLED = (
    "Reconstruction metrics use a sampled z ~ q(z|x) as the study does; the notebook also "
    "reports the reconstruction from the mean code."
)

_SPECS: list[ModelSpec] = [
    ModelSpec(
        name="VAE",
        display_name="VAE",
        family="baseline",
        pythae_name="VAE",
        params={},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="plain ELBO",
        about="The variational autoencoder (Kingma & Welling 2014): a Gaussian encoder q(z|x), "
        "a decoder p(x|z) and a standard-normal prior.",
        objective="Negative ELBO: reconstruction error (sum of squared errors, pythae's 'mse') "
        "+ KL(q(z|x) || N(0, I)).",
        caveats=(_VAE_CAVEAT_SAMPLED,),
    ),
    ModelSpec(
        name="IWAE",
        display_name="IWAE",
        family="importance weighting",
        pythae_name="IWAE",
        model_class=fixes.IWAE,
        params={"number_samples": 5},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="K = 5 importance samples",
        about="Importance-weighted autoencoder (Burda et al. 2016): a VAE trained on the "
        "K-sample importance-weighted bound, which is tighter than the ELBO.",
        objective="-log (1/K) sum_k p(x, z_k) / q(z_k|x), z_k ~ q(z|x), K = 5 (the reported loss "
        "is this bound's value).",
        caveats=(_IW_SAMPLED_RECON,),
        deviations=(_IW_BOUND_VALUE,),
    ),
    ModelSpec(
        name="MIWAE",
        display_name="MIWAE",
        family="importance weighting",
        pythae_name="MIWAE",
        model_class=fixes.MIWAE,
        params={"number_samples": 10, "number_gradient_estimates": 5},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="K = 10 (M gradient estimates, pythae default M = 5)",
        about="Multiply importance-weighted autoencoder (Rainforth et al. 2018, 'Tighter "
        "variational bounds are not necessarily better'): the average of M independent "
        "K-sample IWAE bounds. Not the missing-data MIWAE the study describes.",
        objective="-(1/M) sum_m log (1/K) sum_k w_mk, w_mk = p(x, z_mk) / q(z_mk|x); M = 5, K = 10.",
        variants=_PYTHAE_AXES,
        variant_setting_differs=_PYTHAE_AXES_DIFFERS,
        caveats=(_MIWAE_COST, _IW_SLOW_START, _IW_SAMPLED_RECON),
        deviations=(_MIWAE_AXIS,),
    ),
    ModelSpec(
        name="CIWAE",
        display_name="CIWAE",
        family="importance weighting",
        pythae_name="CIWAE",
        model_class=fixes.CIWAE,
        params={"number_samples": 10},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="K = 10 (convex combination, pythae default beta = 0.5)",
        about="Combination importance-weighted autoencoder (Rainforth et al. 2018): a convex "
        "combination of the ELBO and the IWAE bound.",
        objective="-(beta * ELBO + (1 - beta) * IWAE_K), beta = 0.5, K = 10 (the reported loss is "
        "this bound's value).",
        caveats=(_IW_SAMPLED_RECON,),
        deviations=(_IW_BOUND_VALUE,),
    ),
    ModelSpec(
        name="PIWAE",
        display_name="PIWAE",
        family="importance weighting",
        pythae_name="PIWAE",
        model_class=fixes.PIWAE,
        params={"number_samples": 10, "number_gradient_estimates": 5},
        variants=_PYTHAE_AXES,
        variant_setting_differs=_PYTHAE_AXES_DIFFERS,
        head="gaussian",
        training_mode=COUPLED,
        study_setting="K = 10 (encoder and decoder on separate objectives/optimisers)",
        about="Partially importance-weighted autoencoder (Rainforth et al. 2018): the decoder "
        "is trained on the IWAE bound, the encoder on the MIWAE bound, each with its own Adam.",
        objective="Decoder: -IWAE_{MK}; encoder: -MIWAE_{M,K}; M = 5, K = 10. The reported loss "
        "(validation, best epoch) is -IWAE_{MK}, the model's fit.",
        caveats=(
            _MIWAE_COST + " The decoder's loss takes a second decoder pass: about twice MIWAE's "
            "time per step (pythae's PIWAE: ~1.5x).",
            _IW_SLOW_START,
            _IW_SAMPLED_RECON,
        ),
        deviations=(
            _MIWAE_AXIS,
            "pythae's encoder also receives the decoder's IWAE gradient: with the coupled trainer "
            "(trainers/coupled_optimizer_trainer: enc.zero_grad; encoder_loss.backward; "
            "dec.zero_grad; decoder_loss.backward; steps) decoder_loss's backward lands in the "
            "encoder's gradients, so the encoder trains on MIWAE + IWAE. Rainforth et al. update the "
            "encoder with grad MIWAE only and the decoder with grad IWAE only; shared.fixes.PIWAE "
            "computes the decoder's loss on detached samples so each reaches its own network.",
        ),
    ),
    ModelSpec(
        name="BetaVAE",
        display_name="β-VAE",
        family="disentanglement",
        pythae_name="BetaVAE",
        params={"beta": 4.0},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="β = 4",
        about="β-VAE (Higgins et al. 2017): a VAE whose KL term is weighted by β > 1 to favour "
        "disentangled codes at the cost of reconstruction.",
        objective="Reconstruction error + β KL(q(z|x) || N(0, I)), β = 4.",
        caveats=(
            _VAE_CAVEAT_SAMPLED,
            "β = 4 on pythae's 0.5 x SSE likelihood (a unit-variance Gaussian decoder) makes the "
            "posterior collapse to the prior: in the fidelity sweep (20 epochs, lr 1e-4, embedded "
            "data) the mean-code MSE is 0.065, barely below the mean image's 0.067 (VAE: 0.031), "
            "and the quick profile (4 epochs, lr 1e-3) gives 0.065 too: reconstructions are the "
            "same blurred average digit and interpolations are flat (PIQ ≈ 0). The objective "
            "predicts this (4 KL nats cost more than the ~15 nats of likelihood a code can buy "
            "here); the study's β-VAE row (identical to its CIWAE row) is not reproduced. By the "
            "collapse rule (shared/collapse.py) such runs are flagged collapsed in every table and "
            "figure and kept out of Table III and off the Pareto frontier: their near-zero PIQ is "
            "the smoothness of a constant image.",
        ),
    ),
    ModelSpec(
        name="BetaTCVAE",
        display_name="β-TCVAE",
        family="disentanglement",
        pythae_name="BetaTCVAE",
        model_class=fixes.BetaTCVAE,
        params={"beta": 4.0, "alpha": 1.0, "gamma": 1.0},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="β = 4, α = γ = 1",
        about="β-TCVAE (Chen et al. 2018): the KL term split into index-code mutual "
        "information, total correlation and dimension-wise KL; only the total correlation is "
        "up-weighted.",
        objective="Reconstruction + α MI + β TC + γ dim-KL, estimated with minibatch-"
        "stratified sampling; α = γ = 1, β = 4.",
        deviations=(
            "pythae (beta_tc_vae/beta_tc_vae_model.py, _log_importance_weight_matrix) copies the "
            "authors' stratified-sampling weights with a stride bug (rtqichen/beta-tcvae PR #1, "
            "YannDubs/disentangling-vae #58): 1/N lands in column 0 instead of on the diagonal, so "
            "each code's own image gets weight 1/M and image 0 gets 1/N. shared.fixes.BetaTCVAE puts "
            "1/N on the diagonal (each row sums to 1), as Chen et al. define the estimator.",
        ),
    ),
    ModelSpec(
        name="FactorVAE",
        display_name="FactorVAE",
        family="disentanglement",
        pythae_name="FactorVAE",
        model_class=fixes.FactorVAE,
        epoch_metrics=fixes.factor_vae_metrics,
        params={"gamma": 10.0},
        head="gaussian",
        training_mode=ADVERSARIAL,
        study_setting="γ = 10; discriminator lr 1e-4, one update per generator update",
        about="FactorVAE (Kim & Mnih 2018): a VAE plus a total-correlation penalty estimated by "
        "a discriminator that tells codes from dimension-wise permuted codes.",
        objective="VAE loss + γ TC, TC ≈ E[log D(z) / (1 - D(z))]; the discriminator is trained "
        "to separate q(z) from the product of its marginals. γ = 10.",
        caveats=(
            "The discriminator's loss sits near ln 2 = 0.693 when it cannot tell codes from "
            "dimension-wise permuted codes, which is what a strong γ·TC term aims at. To tell that "
            "apart from a discriminator that learns nothing, every epoch logs its accuracy on "
            "validation codes vs their permutation (disc_accuracy) and its TC estimate "
            "(tc_estimate). Fidelity sweep (20 epochs, after the fix): held-out accuracy 0.49-0.56; "
            "in an earlier run of the same setting the discriminator's training loss stayed at "
            "0.689-0.694. It is not dead: in that run a fresh discriminator trained offline on the "
            "final codes told them from permuted codes 60 % of the time (67 % for a plain VAE's codes), so q(z) is close to factorised, as "
            "γ = 10 asks, and the in-loop discriminator (Adam 1e-4, one step per batch, the study's "
            "setting) learns slowly.",
        ),
        deviations=(
            "pythae (factor_vae/factor_vae_model.py, loss_function) scores the un-detached z in the "
            "discriminator's loss; with the adversarial trainer's step (ae.zero_grad; "
            "autoencoder_loss.backward; disc.zero_grad; discriminator_loss.backward; ae.step; "
            "disc.step) that loss's gradient also trains the encoder, towards codes that are easier "
            "to tell from permuted ones, against the γ·TC term. Kim & Mnih (Alg. 2) train the "
            "discriminator on its own loss only: shared.fixes.FactorVAE detaches z there. The rest "
            "(density-ratio TC, permuted codes from the other half-batch, separate Adam) is "
            "pythae's and matches the paper.",
        ),
    ),
    ModelSpec(
        name="DisentangledBetaVAE",
        display_name="Disentangled β-VAE",
        family="disentanglement",
        pythae_name="DisentangledBetaVAE",
        params={"C": 25.0},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="capacity C from 0 to 25 over training",
        about="β-VAE with controlled capacity increase (Burgess et al. 2018): the KL is pulled "
        "towards a target capacity C that grows during training.",
        objective="Reconstruction + β |KL(q(z|x) || N(0, I)) - C(epoch)|, β = 10 (pythae "
        "default), C ramps linearly from 0 to 25.",
        caveats=(
            "C is constant within an epoch: C(e) = 25 e / N for epochs e = 1..N (pythae's "
            "C min(e / (warmup_epoch + 1), 1) with warmup_epoch = N - 1; pythae's trainers also "
            "count epochs from 1), i.e. a linear ramp from C = 0 before training to 25 at the last "
            "epoch: 1.25, 2.5, ..., 25 for N = 20. If early stopping ends a run at epoch e < N, C "
            "only reached 25 e / N.",
            "Best epoch and early stopping: the validation loss of every epoch is computed with "
            "the final capacity C = 25 (shared.training.selection_epoch), not that epoch's C: "
            "losses under different C are different objectives and cannot pick a best epoch. "
            "The training loss keeps each epoch's C.",
        ),
        deviations=(
            "warmup_epoch is set from the run's epoch budget (N - 1) so C reaches 25 at the last "
            "epoch; pythae's default warmup_epoch = 25 would end a 20-epoch run at C = 19.2 and hold "
            "C = 25 from epoch 25 of a 100-epoch run.",
        ),
        config_hook=_disentangled_warmup,
        select_on_final_objective=True,
    ),
    ModelSpec(
        name="VQVAE",
        display_name="VQ-VAE",
        family="deterministic / weakly regularised",
        pythae_name="VQVAE",
        model_class=fixes.VQVAE,
        config_cls=fixes.VQVAEConfig,
        epoch_metrics=fixes.vq_metrics,
        params={"num_embeddings": 512, "commitment_loss_factor": 0.25, "use_ema": True, "decay": 0.99},
        variants={"one_code": {"code_layout": "vector"}},
        extra_interpolations=("requantised",),
        variant_setting_differs={"one_code": "one 16-d code per image (study: pythae's 16 scalar positions)"},
        head="embedding",
        training_mode=SINGLE,
        study_setting="512 codes, commitment 0.25, EMA codebook decay 0.99",
        about="Vector-quantised VAE (van den Oord et al. 2017): each of the 16 latent positions of "
        "the encoder's output is replaced by its nearest entry in a codebook of 512 learned "
        "scalars (pythae's layout of a flat code: 16 positions x 9 bits per image); the codebook "
        "follows the codes by an exponential moving average. Variant 'one_code': one 16-d "
        "codebook vector per image instead (at most 512 distinct reconstructions).",
        objective="Reconstruction error (SSE) + 0.25 ||z_e - sg(e)||^2, squared L2 per latent "
        "position summed over the 16 positions, per image; codebook by EMA (decay 0.99).",
        caveats=(
            "Every epoch logs the codebook entries used by the validation images and the perplexity "
            "of their frequencies (codes_used, perplexity; history columns val_codes_used, "
            "val_perplexity); the fidelity sweep reports both layouts "
            "(benchmarks/fidelity_sweep_results.md).",
            "pythae's EMA quantiser (vq_vae/vq_vae_utils.py) starts the codebook at +-1/512 and "
            "divides the moving sums of unused codes by a Laplace-smoothed count of ~1e-5, which "
            "throws them far from the data, so few codes stay in use. Kept as pythae (and Sonnet's "
            "VQ-EMA) has it; the usage is reported, not tuned.",
            "Interpolation: the study's path (a straight line between the two quantised codes, "
            "decoded as is: frames between codebook entries) is the main metric; the path the model "
            "can emit (each frame's code re-quantised) is stored as extra metrics "
            "(interpolation_requantised).",
        ),
        deviations=(
            "Commitment loss (pythae #124, fixed upstream in #125, after 0.1.2): pythae averages "
            "(z_e - sg(e))^2 over the code's coordinates and the batch, i.e. 1/16 of the paper's "
            "squared L2 norm relative to the per-image SSE. shared.fixes.VQVAE uses the squared "
            "norm per image, averaged over the batch like the reconstruction term.",
        ),
    ),
    ModelSpec(
        name="HVAE",
        display_name="HVAE (Hamiltonian)",
        family="architecture variants",
        pythae_name="HVAE",
        model_class=fixes.HVAE,
        epoch_metrics=fixes.hvae_metrics,
        params={},
        variants={"learned": {"learn_eps_lf": True, "learn_beta_zero": True}},
        variant_setting_differs={"learned": "ε and β0 learned (study: fixed ε = 0.001, β0 = 0.3)"},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="pythae's HVAE (n_lf = 3, eps_lf = 0.001, beta_zero = 0.3, fixed)",
        about="Hamiltonian VAE (Caterini et al. 2018): the posterior sample z0 ~ q(z|x) and a "
        "momentum ρ0 ~ N(0, I/β0) are moved by n_lf = 3 leapfrog steps of Hamiltonian dynamics "
        "on U(z) = -log p(x, z), with the momentum cooled after each step (quadratic tempering "
        "from β0 = 0.3 to 1); the decoder reconstructs from the final position z_K. It is NOT the "
        "hierarchical / ladder VAE the study describes.",
        objective="Negative extended-space ELBO: -[log p(x, z_K) + log N(ρ_K; 0, I) - log q(z0|x) "
        "- log N(ρ0; 0, I/β0) + (D/2) log β0], gradients through the dynamics; step size "
        "ε = 0.001 and β0 = 0.3 fixed (variant 'learned': a step size per dimension and β0 "
        "learned, as in the paper).",
        caveats=(
            "With the study's ε = 0.001 the three leapfrog steps barely move the sample (every epoch "
            "logs flow_shift = mean ||z_K - z_0|| beside posterior_spread = mean ||z_0 - μ||; "
            "fidelity sweep: well under 1 % of the spread), so the model trains like a VAE whose "
            "KL is estimated by Monte Carlo. Variant 'learned' lets the step sizes grow.",
            "Its forward pass differentiates U(z) (leapfrog uses ∇ log p); shared.fixes.HVAE does "
            "that under torch.enable_grad, so evaluation runs it under no_grad like the other models.",
        ),
        deviations=(
            "pythae 0.1.2 (hvae/hvae_model.py) is not a bound: it samples z0 with std = "
            "softplus(log_var) but scores its entropy as -1/2 Σ log_var; its position update uses "
            "the old momentum instead of the half-step one; the tempered momentum is overwritten "
            "on the next line (no tempering); grad(U, z) has no create_graph (no gradient through "
            "the dynamics); the ρ0 and (D/2) log β0 terms are missing. With ε = 0 and β0 = 1 its "
            "loss is not the ELBO of the Gaussian it samples from (tests/test_fidelity_hvae.py). "
            "shared.fixes.HVAE implements Caterini et al.'s algorithm and bound.",
        ),
    ),
    ModelSpec(
        name="VAE_IAF",
        display_name="VAE-IAF",
        family="architecture variants",
        pythae_name="VAE_IAF",
        params={"n_made_blocks": 2, "hidden_size": 128},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="2 IAF layers, hidden 128",
        about="VAE with an inverse autoregressive flow posterior (Kingma et al. 2016): the "
        "Gaussian sample is transformed by 2 MADE-based IAF layers.",
        objective="Reconstruction - log p(z_K) + log q(z_0|x) - sum log|det ∂z_k/∂z_{k-1}|.",
    ),
    ModelSpec(
        name="VAE_LinNF",
        display_name="VAE-LinNF",
        family="architecture variants",
        pythae_name="VAE_LinNF",
        model_class=fixes.VAE_LinNF,
        params={"flows": ["Planar", "Radial", "Planar", "Radial"]},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="4 linear (planar/radial) flow layers",
        about="VAE with linear normalising flows (Rezende & Mohamed 2015): the posterior sample "
        "passes through planar and radial flows.",
        objective="Reconstruction - log p(z_K) + log q(z_0|x) - sum log|det ∂z_k/∂z_{k-1}|.",
        deviations=(
            "The study does not say which 4 flows; we alternate Planar, Radial, Planar, Radial.",
            "pythae's planar flow (normalizing_flows/planar_flow/planar_flow_model.py) does not "
            "enforce invertibility: with u, w ~ N(0, I) at initialisation u^T w < -1 for many layers, "
            "where the map folds space and the change-of-variables density is wrong. "
            "shared.fixes.InvertiblePlanarFlow uses Rezende & Mohamed's u^ (App. A.1), which keeps "
            "u^T w > -1; the radial flows already constrain β ≥ -α.",
        ),
    ),
    ModelSpec(
        name="WAE_MMD",
        display_name="WAE",
        family="deterministic / weakly regularised",
        pythae_name="WAE_MMD",
        params={"kernel_choice": "rbf", "reg_weight": 10.0},
        head="embedding",
        training_mode=SINGLE,
        study_setting="MMD with RBF kernel, reg weight λ = 10",
        about="Wasserstein autoencoder, MMD variant (Tolstikhin et al. 2018): a deterministic "
        "encoder whose aggregate code distribution is matched to N(0, I) by an MMD penalty.",
        objective="Reconstruction error + λ MMD_RBF(q(z), N(0, I)), λ = 10.",
    ),
    ModelSpec(
        name="INFOVAE_MMD",
        display_name="InfoVAE",
        family="alternative regularisation",
        pythae_name="INFOVAE_MMD",
        params={"alpha": 0.5, "lbd": 10.5},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="α = 0.5 (pythae's alpha/lbd/kernel)",
        setting_differs="λ = 10.5 (study: pythae's 1e-3, a negative MMD weight)",
        about="InfoVAE, MMD variant (Zhao et al. 2019): the ELBO with a down-weighted KL and an "
        "MMD term between the aggregate posterior and the prior.",
        objective="Reconstruction + (1 - α) KL + (α + λ - 1) MMD_IMQ(q(z), p(z)); α = 0.5, "
        "λ = 10.5: KL weight 0.5, MMD weight 10 (pythae's multi-scale IMQ kernel).",
        deviations=(
            "λ (pythae's lbd) = 10.5, which the study does not give. pythae weights the MMD by "
            "alpha + lbd - 1 (info_vae/info_vae_model.py); with the study's α = 0.5 and pythae's "
            "default lbd = 1e-3 that weight is -0.499, so the model is rewarded for a large MMD. "
            "Zhao et al. need both weights non-negative (KL 1 - α, divergence α + λ - 1); we choose "
            "λ so that the MMD weight is 10, the weight the study gives WAE's MMD penalty on the same "
            "latent space.",
        ),
    ),
    ModelSpec(
        name="RAE_L2",
        display_name="RAE-L2",
        family="alternative regularisation",
        pythae_name="RAE_L2",
        params={},
        head="embedding",
        training_mode=COUPLED,
        study_setting="pythae defaults",
        # pythae's RAE_L2 model has no L2 term of its own: pythae's docs put reg_weight on the
        # decoder optimiser as weight_decay (CoupledOptimizerTrainer), as we do here.
        decoder_weight_decay_param="reg_weight",
        about="Regularised autoencoder with an L2 penalty on the decoder weights (Ghosh et al. "
        "2020): a deterministic autoencoder with a code penalty; sampling by ex-post density "
        "estimation. Not the 'robust divergence' model the study describes.",
        objective="Reconstruction + β ||z||^2 (embedding_weight 1e-4) for the encoder; "
        "decoder weight decay λ = 1e-7 on the decoder's optimiser.",
        caveats=(
            "pythae's CoupledOptimizerTrainer logs encoder_loss + decoder_loss, which for RAE-L2 "
            "are the same tensor: twice the objective. Our loop logs the model's `loss`, the "
            "objective once. The decoder's L2 term lives in its optimiser (weight decay) and is in "
            "no logged loss.",
        ),
    ),
    ModelSpec(
        name="RAE_GP",
        display_name="RAE-GP",
        family="alternative regularisation",
        pythae_name="RAE_GP",
        model_class=fixes.RAE_GP,
        params={},
        head="embedding",
        training_mode=SINGLE,
        study_setting="gradient-penalty weight λ = 10",
        about="Regularised autoencoder with a gradient penalty on the decoder (Ghosh et al. "
        "2020). Not the 'robust divergence' model the study describes.",
        objective="Reconstruction (SSE) + β ½||z||^2 + λ ||∇_z sum_pixels Decoder(z)||^2, the "
        "gradient at the code, per image; β = 1e-4, λ = 1e-7 (pythae's defaults).",
        variants={"study_literal": {"reg_weight": 10.0}},
        setting_differs="λ = 1e-7 (study: 10)",
        variant_setting_differs={"study_literal": ""},
        caveats=(
            "With λ = 1e-7 (the authors' own MNIST setting is 0.5e-7, ParthaEth/"
            "Regularized_autoencoders-RAE- configurations/config.py) the penalty is a tiny share of "
            "the loss: on MNIST, RAE-GP is close to an autoencoder with a weak code-norm penalty.",
        ),
        deviations=(
            "λ: the study's 'λ = 10' is not a value from the RAE paper's range (the authors use "
            "0.5e-7 on MNIST; 10 is the study's WAE weight) and, read as pythae's reg_weight, does "
            "not train: with pythae's penalty the validation loss explodes, the best epoch is the "
            "4th and the mean-code MSE stays above the mean image's (probe, 20 epochs: 0.072 vs "
            "0.067). The default keeps pythae's 1e-7; variant 'study_literal' runs 10. With the "
            "corrected penalty below, λ = 10 trains for ~13 epochs, then the codes grow without "
            "bound (||z||^2 from ~35 to ~4,000: a spread-out code flattens the decoder's gradient, "
            "and β = 1e-4 cannot stop it) and reconstructions collapse; the best-epoch checkpoint "
            "reaches MSE 0.042 (probe).",
            "pythae (rae_gp/rae_gp_model.py, _compute_gp) differentiates the reconstruction w.r.t. "
            "the input image x, through encoder and decoder. Ghosh et al.'s L_GP = "
            "||∇_{E(x)} D(E(x))||^2 is the decoder's gradient at the code, as the authors' code "
            "computes it; shared.fixes.RAE_GP differentiates w.r.t. z, and on a decoder pass with "
            "BatchNorm on running statistics: in training mode the gradient of a batch-normalised "
            "batch's summed output mixes images and nearly vanishes, so pythae's penalty was ~0.1 "
            "in training and ~50 at validation; now both measure the per-image gradient.",
        ),
    ),
    ModelSpec(
        name="VAMP",
        display_name="VAMP",
        family="prior variants",
        pythae_name="VAMP",
        model_class=fixes.VAMP,
        params={"number_components": 500},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="500 pseudo-inputs",
        about="VAE with a VampPrior (Tomczak & Welling 2018): the prior is a mixture of the "
        "posteriors of 500 learned pseudo-inputs.",
        objective="Reconstruction + E_q[log q(z|x) - log (1/500) sum_k q(z|u_k)].",
        deviations=(
            "pythae (vamp/vamp_model.py, _log_p_z) passes the 500 pseudo-inputs through the encoder "
            "in training mode at every step, so BatchNorm's running statistics track the pseudo-"
            "inputs as much as the data and evaluation-mode results fall far behind training-mode "
            "ones (probe: MSE 0.090 vs 0.059 after 20 epochs). shared.fixes.VAMP encodes the "
            "pseudo-inputs with BatchNorm on its running statistics and without updating them: the "
            "prior (1/C) sum_k q(z|u_k) uses the encoder that evaluation uses (fidelity sweep, eval "
            "mode, 20 epochs: mean-code MSE 0.035).",
        ),
    ),
    ModelSpec(
        name="SVAE",
        display_name="SVAE (hyperspherical)",
        family="prior variants",
        pythae_name="SVAE",
        params={},
        head="concentration",
        training_mode=SINGLE,
        study_setting="von Mises–Fisher posterior, hyperspherical prior",
        interpolation="great_circle",
        extra_interpolations=("chord",),
        about="Hyperspherical VAE (Davidson et al. 2018): a von Mises–Fisher posterior on the "
        "unit sphere S^15 with a uniform prior.",
        objective="Reconstruction + KL(vMF(μ, κ) || Uniform(S^15)).",
        caveats=(
            "Interpolation follows the great circle between the two mean directions (slerp): "
            "every frame is a unit vector, as in training. The study's straight line (the chord) "
            "feeds the decoder codes it never saw (norm 0.71 at the midpoint of a 90° pair); it "
            "is stored as extra metrics labelled as the study's literal protocol "
            "(interpolation_chord).",
        ),
    ),
    ModelSpec(
        name="MSSSIM_VAE",
        display_name="MS-SSIM-VAE",
        family="specialised losses",
        pythae_name="MSSSIM_VAE",
        model_class=fixes.MSSSIM_VAE,
        params={"window_size": 11, "beta": 1.0 / 784},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="5-scale MS-SSIM loss, weights [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]",
        about="VAE whose reconstruction term is the multi-scale structural dissimilarity "
        "(Snell et al. 2017) instead of the squared error.",
        objective="(1 - MS-SSIM(x, x̂)) per image + β KL, β = 1/784; on 28 x 28 images 4 scales "
        "with weights (0.3117, 0.3384, 0.2675, 0.0824).",
        variants={"pythae_beta": {"beta": 1.0}},
        setting_differs="β = 1/784 (study: none given, pythae: 1); 4 scales (study: 5)",
        variant_setting_differs={"pythae_beta": "4 scales (study: 5)"},
        caveats=(
            "The study's 5 scales with weights (0.0448, ..., 0.1333) need images of at least 32 px: "
            "pythae (and shared.fixes) use 4 scales with re-normalised weights on 28 x 28 digits. "
            "Window, zero padding and pythae's (v + 1) / 2 mapping of each factor are pythae's.",
        ),
        deviations=(
            "pythae (msssim_vae/msssim_vae_utils.py, from jorge-pessoa/pytorch-msssim) computes "
            "prod(pow1[:-1] * pow2[-1]): the last scale's SSIM is raised to (M - 1) w_M instead of "
            "w_M, and one MS-SSIM is pooled over the whole batch. shared.fixes.MSSSIM_VAE computes "
            "Wang et al.'s product per image.",
            "β = 1/784 instead of pythae's default 1 (the study gives none). 1 - MS-SSIM is a "
            "per-image score in [0, 1] while the KL is in nats per image: with β = 1 any code costs "
            "more than the whole reconstruction term can gain, and the posterior collapses (probe: "
            "KL -> 0.05 nats, mean-code MSE 0.096, worse than the mean image, after 4 epochs). "
            "β = 1/784 weighs the KL per pixel, as the structural loss is an average over pixels "
            "(probe: MSE 0.016 after 20 epochs). Variant 'pythae_beta' runs β = 1.",
        ),
    ),
    ModelSpec(
        name="Adversarial_AE",
        display_name="Adversarial AE",
        family="specialised losses",
        pythae_name="Adversarial_AE",
        params={},
        head="gaussian",
        training_mode=ADVERSARIAL,
        study_setting="discriminator lr 1e-4",
        about="Adversarial autoencoder (Makhzani et al. 2016): the code distribution is pushed "
        "towards the prior by a discriminator instead of a KL term.",
        objective="Reconstruction + 0.5 x adversarial loss (generator side); the discriminator "
        "separates prior samples from codes.",
    ),
    ModelSpec(
        name="AE",
        display_name="AE",
        family="deterministic / weakly regularised",
        pythae_name="AE",
        params={},
        head="embedding",
        training_mode=SINGLE,
        study_setting="reconstruction loss only",
        about="A plain deterministic autoencoder, the reconstruction upper reference.",
        objective="Mean squared reconstruction error.",
    ),
    # The study's failed models: runnable, not in the default set.
    ModelSpec(
        name="VAEGAN",
        display_name="VAE-GAN",
        family="failed in the study",
        pythae_name="VAEGAN",
        model_class=fixes.VAEGAN,
        params={"reconstruction_layer": 1},
        head="gaussian",
        training_mode=COUPLED_ADVERSARIAL,
        study_setting="failed in the study",
        about="VAE-GAN (Larsen et al. 2016): a VAE whose reconstruction error is measured in a "
        "discriminator's feature space, trained jointly with a GAN discriminator.",
        objective="Encoder: KL + feature-space reconstruction (discriminator layer 1, 256 ReLU "
        "features); decoder: 0.5 feature reconstruction - 0.5 GAN loss; discriminator: GAN loss on "
        "data vs prior samples; pythae's equilibrium/margin gating.",
        caveats=(
            "pythae's GAN loss uses prior samples Dec(z_p) as fakes; Larsen et al. also use the "
            "reconstructions. Kept as pythae has it.",
            "Still fails, for a recorded reason (fidelity sweep, 20 epochs): no divergence, but the "
            "posterior collapses (mean posterior σ 0.98, |μ| 0.15 per dimension) and the mean-code "
            "MSE (0.069) is no better than the mean image's (0.067). The learned-similarity term on "
            "the 256 ReLU features of pythae's default one-hidden-layer MLP discriminator is ~5 per "
            "image, too weak to pay for any KL; Larsen et al. use a convolutional discriminator. "
            "The summed validation loss also picks epoch 6 as the best. Making it work needs a "
            "different discriminator or a weighted feature term, i.e. a model the study did not "
            "specify; not done.",
        ),
        deviations=(
            "reconstruction_layer = 1. pythae's default (-1 = the discriminator's depth, its last "
            "layer) makes the 'learned similarity' compare the discriminator's real/fake "
            "probabilities D(x) and D(x^): one number per image, so the decoder is trained as a "
            "plain generator and reconstructions need not resemble their inputs. Larsen et al.'s "
            "Dis_l is a hidden layer; pythae's default discriminator has one (256 units).",
            "pythae (vae_gan/vae_gan_model.py) computes the discriminator's loss on un-detached "
            "Dec(z_p); with the coupled adversarial trainer's step (trainers/"
            "coupled_optimizer_adversarial_trainer) its backward adds +grad L_GAN to the decoder, "
            "whose own loss has -0.5 grad L_GAN: the decoder ends up helping the discriminator. "
            "The decoder's feature term also reaches the encoder a second time. shared.fixes.VAEGAN "
            "gives each network its own loss's gradient only (Larsen et al., Alg. 1).",
        ),
        in_default_set=False,
    ),
    ModelSpec(
        name="RHVAE",
        display_name="RHVAE",
        family="failed in the study",
        pythae_name="RHVAE",
        params={},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="failed in the study",
        about="Riemannian Hamiltonian VAE (Chadebec et al. 2020): Hamiltonian dynamics on a "
        "learned Riemannian metric of the latent space.",
        objective="Negative ELBO of the extended space after leapfrog steps on the learned metric.",
        caveats=(
            "Slow, but trains: fidelity sweep, 20 epochs with our loop on 4,000 digits, mean-code "
            "validation MSE 0.041 (mean image 0.067), no divergence; 3,011 s wall on a core shared "
            "with two other jobs (the first probe, pythae's trainer on a free core: ~23 s per "
            "epoch). Leapfrog steps with a learned metric need gradients inside the forward pass, "
            "also at evaluation. No loss-level trap was found; the study's failure is not "
            "reproduced by a loss error.",
            "Its loss is not a bound with a meaningful zero (validation loss -1.9 after 20 epochs): "
            "pythae (rhvae/rhvae_model.py, loss_function) takes log q(z_0|x) from "
            "MultivariateNormal.log_prob, with the 2π constants, while log p(x, z_K) and log p(ρ_K) "
            "leave them out (commented out), and log p(ρ_K) carries -½ log det G(z_K) of the "
            "learned metric. The missing constants are a fixed offset: training and the choice of the "
            "best epoch are unaffected.",
        ),
        in_default_set=False,
    ),
    ModelSpec(
        name="PoincareVAE",
        display_name="Poincaré VAE",
        family="failed in the study",
        pythae_name="PoincareVAE",
        model_class=fixes.PoincareVAE,
        epoch_metrics=fixes.poincare_fraction_outside,
        interpolation="poincare_geodesic",
        extra_interpolations=("chord",),
        params={},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="failed in the study",
        about="Poincaré-ball VAE (Mathieu et al. 2019): wrapped-normal posterior and prior on "
        "the hyperbolic Poincaré ball.",
        objective="Negative ELBO with wrapped-normal distributions on the ball, curvature 1; "
        "posterior location exp_0(encoder output).",
        deviations=(
            "pythae (pvae/pvae_model.py, forward) uses the encoder's raw output as the wrapped "
            "normal's location: nothing maps it into the unit ball, and WrappedNormal "
            "(pvae/pvae_utils.py) calls _check_point_on_manifold but ignores the answer. Trained "
            "encoders put 97-99.8 % of the locations outside the ball (probe), the samples are off "
            "the manifold and the loss runs negative without an error. shared.fixes.PoincareVAE maps "
            "the encoder output with the exponential map at the origin (Mathieu et al. 2019); "
            "shared.latent's mean code is that location. Every epoch logs the share of locations "
            "outside the ball (frac_outside_ball, 0 by construction). Fidelity sweep (20 epochs): "
            "trains, loss positive, mean-code MSE 0.043 (mean image 0.067).",
        ),
        in_default_set=False,
    ),
]

REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}
MODEL_NAMES: tuple[str, ...] = tuple(s.name for s in _SPECS if s.in_default_set)
EXTRA_MODEL_NAMES: tuple[str, ...] = tuple(s.name for s in _SPECS if not s.in_default_set)
ALL_MODEL_NAMES: tuple[str, ...] = MODEL_NAMES + EXTRA_MODEL_NAMES


def get_spec(name: str) -> ModelSpec:
    """The registry entry for ``name``; an unknown name lists the valid ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}. Valid models: {', '.join(MODEL_NAMES)}; "
            f"also runnable (failed in the study): {', '.join(EXTRA_MODEL_NAMES)}. {HRQVAE_NOTE}"
        ) from None


def parse_model_list(text: str) -> list[str]:
    """'VAE,AE' -> ['VAE', 'AE'], validating every name ('all' = the 22 default models)."""
    if text.strip() in ("", "all"):
        return list(MODEL_NAMES)
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))  # drop repeats
    for n in names:
        get_spec(n)
    return names


def build_config(
    name: str, epochs: int = 100, variant: str | None = None, overrides: dict[str, Any] | None = None
) -> Any:
    """The pythae config for ``name`` with the study's settings (plain pythae dataclass).

    ``overrides`` replace config values last (a profile's budget, e.g. fewer importance samples).
    """
    spec = get_spec(name)
    params = {**spec.resolved_params(epochs, variant), **(overrides or {})}
    return spec.config_class(input_dim=(1, 28, 28), latent_dim=LATENT_DIM, **params)


def build_model(
    name: str, epochs: int = 100, variant: str | None = None, overrides: dict[str, Any] | None = None
) -> nn.Module:
    """Build ``name`` on the shared backbone. Seed torch *before* calling: init is random."""
    spec = get_spec(name)
    config = build_config(name, epochs, variant, overrides)
    return spec.pythae_class(
        model_config=config,
        encoder=Encoder(head=spec.head, latent_dim=LATENT_DIM),
        decoder=Decoder(latent_dim=LATENT_DIM),
    )


def config_as_dict(config: Any) -> dict[str, Any]:
    """A pythae config as plain data for the results file."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out
