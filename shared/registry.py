"""One place that maps a model name to everything needed to build, train and describe it.

Design after pythae's own: one config object per model (the pythae config, filled with the
study's hyper-parameters, docs/PROTOCOL.md#4-models-and-settings) and one registry. Each
``ModelSpec`` holds what changes behaviour (classes, settings, variants, training mode, paths);
what a model is and why it is set up so is prose on its page, ``docs/models/<NAME>.md``,
rendered into the model's notebook header by ``tools/make_notebooks.py``.

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
from shared.catalogue import (  # noqa: F401 (re-exported: callers read names and families here)
    ALL_MODEL_NAMES,
    CATALOGUE,
    EXTRA_MODEL_NAMES,
    FAMILIES,
    INTERPOLATION_PATHS,
    MODEL_NAMES,
    Entry,
)
from shared.cli import comma_list
from shared.protocol import STUDY

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
    """Everything that changes how one model is built, trained and evaluated (prose: its page)."""

    name: str  # a catalogue name (shared.catalogue): display name, family, paths live there
    pythae_name: str  # the pythae class this model is (or subclasses)
    params: dict[str, Any]  # pythae config values that differ from pythae's defaults
    head: str  # encoder head, see shared.backbone
    training_mode: str
    model_class: Callable[..., nn.Module] | None = None  # a fixing subclass, else pythae's class
    config_hook: Callable[[dict[str, Any], int], dict[str, Any]] | None = None  # epoch-dependent params
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)  # documented alternative settings
    decoder_weight_decay_param: str | None = None  # config field used as the decoder's Adam weight decay
    epoch_metrics: Callable[[nn.Module, Any], dict[str, float]] | None = None  # extra per-epoch history
    config_cls: type | None = None  # a config subclass with extra fields (shared.fixes), else pythae's
    mean_code: str = "embedding"  # how shared.latent gets the deterministic code (MEAN_CODES)
    sampled_recon: str = "forward"  # "forward" (the model's own pass) | "encoder_gaussian" (one draw)
    needs_autograd: bool = False  # its forward needs autograd from the caller, also at evaluation
    cost_hint: int = 1  # training cost relative to a VAE step: run_all starts costly runs first
    profile_budgets: dict[str, dict[str, Any]] = field(default_factory=dict)  # profile -> budget keys
    select_on_final_objective: bool = False  # objective changes in training: validate on the last epoch's
    setting_differs: str = ""  # the study's stated setting this model does not use ("" = none)
    variant_setting_differs: dict[str, str] = field(default_factory=dict)  # the same, per variant
    prior: str = "normal"  # what generation samples from (PRIORS; shared.generation)
    # state-dict prefixes a results file need not keep: evaluation never runs them (training only)
    unused_weights: tuple[str, ...] = ()
    # methods that run in float32 when training under bf16 autocast (shared.precision.keep_float32)
    float32_methods: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.name not in CATALOGUE:
            raise ValueError(f"{self.name}: not in shared.catalogue")
        if self.mean_code not in MEAN_CODES or self.sampled_recon not in SAMPLED_RECONS:
            raise ValueError(f"{self.name}: unknown mean_code or sampled_recon")
        if self.prior not in PRIORS:
            raise ValueError(f"{self.name}: unknown prior {self.prior!r}")
        if set(self.profile_budgets) - set(PROFILE_NAMES):
            raise ValueError(f"{self.name}: profile_budgets names an unknown profile")
        if set(self.variant_setting_differs) - set(self.variants):
            raise ValueError(f"{self.name}: variant_setting_differs names an unknown variant")

    def setting_differs_for(self, variant: str | None) -> str:
        """The study setting a run with ``variant`` does not use ("" when it uses the study's)."""
        if variant is None:
            return self.setting_differs
        return self.variant_setting_differs.get(variant, self.setting_differs)

    @property
    def entry(self) -> Entry:
        return CATALOGUE[self.name]

    @property
    def display_name(self) -> str:
        return self.entry.display_name

    @property
    def family(self) -> str:
        return self.entry.family

    @property
    def in_default_set(self) -> bool:
        return self.entry.in_default_set

    @property
    def interpolation(self) -> str:
        return self.entry.interpolation

    @property
    def extra_interpolations(self) -> tuple[str, ...]:
        return self.entry.extra_interpolations

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


#: Deterministic codes (shared.latent.encode_mean): the encoder's embedding (Gaussian mean); the IAF
#: flow / planar flows applied to the mean, so the code lives where the decoder reads; SVAE's unit
#: direction; VQ-VAE's quantised code; PoincareVAE's location exp_0(embedding) in the ball.
MEAN_CODES = ("embedding", "iaf_flow", "planar_flows", "unit_direction", "quantised", "ball_location")
#: Sampled reconstructions (shared.latent.reconstruct_sampled): the model's own forward pass, or one
#: z ~ q(z|x) drawn straight from the Gaussian encoder (FactorVAE's forward splits the batch; the
#: IWAE family decodes K or M x K samples only to return the first: the same draw at up to 50x), or,
#: for the deterministic autoencoders, Decoder(E(x)) without the forward's training-only terms (the
#: forward's own x_hat, bit for bit; RAE-GP's forward also takes a double-backward penalty that held
#: ~0.3 GB per evaluation batch).
SAMPLED_RECONS = ("forward", "encoder_gaussian", "deterministic")
#: Priors that generation samples from (shared.generation): N(0, I); VAMP's mixture of its
#: pseudo-inputs' posteriors; the uniform distribution on SVAE's hypersphere; VQ-VAE's codes drawn
#: from the training set's code frequencies, position by position (it learns no prior of its own);
#: the Poincaré VAE's wrapped normal at the origin; "none" for autoencoders trained without one.
PRIORS = ("normal", "vamp", "uniform_sphere", "code_frequencies", "poincare_wrapped_normal", "none")
#: Profiles (shared.experiment) a spec may give its own budget in.
PROFILE_NAMES = ("smoke", "quick", "reference", "paper")
# The quick profile on a CPU: M x K = 50 decoder passes per image make MIWAE / PIWAE ~60x / ~120x a
# VAE step; with 2 x 5 samples one epoch fits. The paper profile keeps the study's 5 x 10.
_IW_2X5 = {"number_gradient_estimates": 2, "number_samples": 5}
_QUICK_IW = {"quick": {"epochs": 1, "model_params": _IW_2X5}}
# The reference profile (2 epochs by default) gives the models that cost 2-100x a VAE epoch
# (benchmarks/reference_budget_results.md) one epoch, and MIWAE / PIWAE (400 / 830 s a full epoch
# even with 2 x 5 samples) one pass over the first 25,000 / 12,500 training images.
_REFERENCE_ONE_EPOCH = {"reference": {"epochs": 1}}
# What pythae 0.1.2 trains under the study's "K = 10" (docs/models/MIWAE.md): ten 5-sample bounds.
_PYTHAE_AXES = {"pythae_axes": {"number_gradient_estimates": 10, "number_samples": 5}}
_PYTHAE_AXES_DIFFERS = {"pythae_axes": "M = 10 bounds of K = 5 samples (study: K = 10, M = 5)"}


_SPECS: list[ModelSpec] = [
    ModelSpec(
        name="VAE",
        pythae_name="VAE",
        params={},
        head="gaussian",
        training_mode=SINGLE,
    ),
    ModelSpec(
        name="IWAE",
        pythae_name="IWAE",
        model_class=fixes.IWAE,
        params={"number_samples": 5},
        head="gaussian",
        training_mode=SINGLE,
        sampled_recon="encoder_gaussian",
        cost_hint=3,
        profile_budgets=_REFERENCE_ONE_EPOCH,
    ),
    ModelSpec(
        name="MIWAE",
        pythae_name="MIWAE",
        model_class=fixes.MIWAE,
        params={"number_samples": 10, "number_gradient_estimates": 5},
        head="gaussian",
        training_mode=SINGLE,
        sampled_recon="encoder_gaussian",
        cost_hint=50,
        profile_budgets={**_QUICK_IW, "reference": {"epochs": 1, "n_train": 25_000, "model_params": _IW_2X5}},
        variants=_PYTHAE_AXES,
        variant_setting_differs=_PYTHAE_AXES_DIFFERS,
    ),
    ModelSpec(
        name="CIWAE",
        pythae_name="CIWAE",
        model_class=fixes.CIWAE,
        params={"number_samples": 10},
        head="gaussian",
        training_mode=SINGLE,
        sampled_recon="encoder_gaussian",
        cost_hint=10,
        profile_budgets={"quick": {"epochs": 2}, **_REFERENCE_ONE_EPOCH},  # K = 10 samples: ~10x a VAE step
    ),
    ModelSpec(
        name="PIWAE",
        pythae_name="PIWAE",
        model_class=fixes.PIWAE,
        params={"number_samples": 10, "number_gradient_estimates": 5},
        variants=_PYTHAE_AXES,
        variant_setting_differs=_PYTHAE_AXES_DIFFERS,
        head="gaussian",
        training_mode=COUPLED,
        sampled_recon="encoder_gaussian",
        cost_hint=50,
        profile_budgets={**_QUICK_IW, "reference": {"epochs": 1, "n_train": 12_500, "model_params": _IW_2X5}},
    ),
    ModelSpec(
        name="BetaVAE",
        pythae_name="BetaVAE",
        params={"beta": 4.0},
        head="gaussian",
        training_mode=SINGLE,
    ),
    ModelSpec(
        name="BetaTCVAE",
        pythae_name="BetaTCVAE",
        model_class=fixes.BetaTCVAE,
        params={"beta": 4.0, "alpha": 1.0, "gamma": 1.0},
        head="gaussian",
        training_mode=SINGLE,
    ),
    ModelSpec(
        name="FactorVAE",
        pythae_name="FactorVAE",
        model_class=fixes.FactorVAE,
        epoch_metrics=fixes.factor_vae_metrics,
        params={"gamma": 10.0},
        head="gaussian",
        training_mode=ADVERSARIAL,
        sampled_recon="encoder_gaussian",
        # 4 x 1000 x 1000 weights (17 of a run's 18 MB), used only by the training objective
        unused_weights=("discriminator.",),
    ),
    ModelSpec(
        name="DisentangledBetaVAE",
        pythae_name="DisentangledBetaVAE",
        params={"C": 25.0},
        head="gaussian",
        training_mode=SINGLE,
        config_hook=_disentangled_warmup,
        select_on_final_objective=True,
    ),
    ModelSpec(
        name="VQVAE",
        pythae_name="VQVAE",
        model_class=fixes.VQVAE,
        config_cls=fixes.VQVAEConfig,
        epoch_metrics=fixes.vq_metrics,
        params={"num_embeddings": 512, "commitment_loss_factor": 0.25, "use_ema": True, "decay": 0.99},
        variants={"one_code": {"code_layout": "vector"}},
        variant_setting_differs={"one_code": "one 16-d code per image (study: pythae's 16 scalar positions)"},
        head="embedding",
        training_mode=SINGLE,
        prior="code_frequencies",
        mean_code="quantised",
    ),
    ModelSpec(
        name="HVAE",
        pythae_name="HVAE",
        model_class=fixes.HVAE,
        epoch_metrics=fixes.hvae_metrics,
        params={},
        variants={"learned": {"learn_eps_lf": True, "learn_beta_zero": True}},
        variant_setting_differs={"learned": "ε and β0 learned (study: fixed ε = 0.001, β0 = 0.3)"},
        head="gaussian",
        training_mode=SINGLE,
        cost_hint=8,
        profile_budgets=_REFERENCE_ONE_EPOCH,
    ),
    ModelSpec(
        name="VAE_IAF",
        pythae_name="VAE_IAF",
        params={"n_made_blocks": 2, "hidden_size": 128},
        head="gaussian",
        training_mode=SINGLE,
        mean_code="iaf_flow",
    ),
    ModelSpec(
        name="VAE_LinNF",
        pythae_name="VAE_LinNF",
        model_class=fixes.VAE_LinNF,
        params={"flows": ["Planar", "Radial", "Planar", "Radial"]},
        head="gaussian",
        training_mode=SINGLE,
        mean_code="planar_flows",
    ),
    ModelSpec(
        name="WAE_MMD",
        pythae_name="WAE_MMD",
        params={"kernel_choice": "rbf", "reg_weight": 10.0},
        head="embedding",
        training_mode=SINGLE,
    ),
    ModelSpec(
        name="INFOVAE_MMD",
        pythae_name="INFOVAE_MMD",
        params={"alpha": 0.5, "lbd": 10.5},
        head="gaussian",
        training_mode=SINGLE,
        setting_differs="λ = 10.5 (study: pythae's 1e-3, a negative MMD weight)",
    ),
    ModelSpec(
        name="RAE_L2",
        pythae_name="RAE_L2",
        params={},
        head="embedding",
        training_mode=COUPLED,
        # pythae's RAE_L2 model has no L2 term of its own: pythae's docs put reg_weight on the
        # decoder optimiser as weight_decay (CoupledOptimizerTrainer), as we do here.
        prior="none",
        sampled_recon="deterministic",
        decoder_weight_decay_param="reg_weight",
    ),
    ModelSpec(
        name="RAE_GP",
        pythae_name="RAE_GP",
        model_class=fixes.RAE_GP,
        params={},
        head="embedding",
        training_mode=SINGLE,
        prior="none",
        sampled_recon="deterministic",
        cost_hint=3,
        profile_budgets=_REFERENCE_ONE_EPOCH,
        variants={"study_literal": {"reg_weight": 10.0}},
        setting_differs="λ = 1e-7 (study: 10)",
        variant_setting_differs={"study_literal": ""},
    ),
    ModelSpec(
        name="VAMP",
        pythae_name="VAMP",
        model_class=fixes.VAMP,
        params={"number_components": 500},
        head="gaussian",
        training_mode=SINGLE,
        prior="vamp",
        cost_hint=2,
        profile_budgets=_REFERENCE_ONE_EPOCH,
    ),
    ModelSpec(
        name="SVAE",
        pythae_name="SVAE",
        params={},
        head="concentration",
        training_mode=SINGLE,
        prior="uniform_sphere",
        mean_code="unit_direction",
        # under bf16 autocast, pythae/models/svae/svae_model.py `_acc_rej_steps` writes float32
        # draws into a bf16 tensor (an index-put dtype error) and `_compute_kl`'s Bessel function
        # (svae_utils.py `ive`) goes through numpy, which has no bf16; the acceptance-rejection
        # sampler of w near 1 needs float32's resolution anyway
        float32_methods=("_sample_von_mises", "_compute_kl"),
    ),
    ModelSpec(
        name="MSSSIM_VAE",
        pythae_name="MSSSIM_VAE",
        model_class=fixes.MSSSIM_VAE,
        params={"window_size": 11, "beta": 1.0 / 784},
        head="gaussian",
        training_mode=SINGLE,
        cost_hint=2,
        # MS-SSIM's local variances are differences of means of squares: in bf16 they go negative
        # and (cs + 1) / 2 ** w gives -inf (every bf16 run failed in epoch 1); the loss in float32
        float32_methods=("loss_function",),
        profile_budgets=_REFERENCE_ONE_EPOCH,
        variants={"pythae_beta": {"beta": 1.0}},
        setting_differs="β = 1/784 (study: none given, pythae: 1); 4 scales (study: 5)",
        variant_setting_differs={"pythae_beta": "4 scales (study: 5)"},
    ),
    ModelSpec(
        name="Adversarial_AE",
        pythae_name="Adversarial_AE",
        params={},
        head="gaussian",
        training_mode=ADVERSARIAL,
    ),
    ModelSpec(
        name="AE",
        pythae_name="AE",
        params={},
        head="embedding",
        prior="none",
        sampled_recon="deterministic",
        training_mode=SINGLE,
    ),
    # The study's failed models: runnable, not in the default set.
    ModelSpec(
        name="VAEGAN",
        pythae_name="VAEGAN",
        model_class=fixes.VAEGAN,
        params={"reconstruction_layer": 1},
        head="gaussian",
        training_mode=COUPLED_ADVERSARIAL,
    ),
    ModelSpec(
        name="RHVAE",
        pythae_name="RHVAE",
        params={},
        head="gaussian",
        training_mode=SINGLE,
        needs_autograd=True,
        cost_hint=8,
    ),
    ModelSpec(
        name="PoincareVAE",
        pythae_name="PoincareVAE",
        model_class=fixes.PoincareVAE,
        epoch_metrics=fixes.poincare_fraction_outside,
        params={},
        head="gaussian",
        training_mode=SINGLE,
        prior="poincare_wrapped_normal",
        mean_code="ball_location",
    ),
]

REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}
if tuple(REGISTRY) != ALL_MODEL_NAMES:  # one spec per catalogue entry, in its order
    raise RuntimeError("shared.registry and shared.catalogue list different models")


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
    names = comma_list(text)
    for n in names:
        get_spec(n)
    return names


def build_config(
    name: str, epochs: int = STUDY.epochs, variant: str | None = None, overrides: dict[str, Any] | None = None
) -> Any:
    """The pythae config for ``name`` with the study's settings (plain pythae dataclass).

    ``overrides`` replace config values last (a profile's budget, e.g. fewer importance samples).
    """
    spec = get_spec(name)
    params = {**spec.resolved_params(epochs, variant), **(overrides or {})}
    return spec.config_class(input_dim=(1, 28, 28), latent_dim=LATENT_DIM, **params)


def build_model(
    name: str, epochs: int = STUDY.epochs, variant: str | None = None, overrides: dict[str, Any] | None = None
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
