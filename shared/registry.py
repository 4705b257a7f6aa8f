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

    @property
    def pythae_class(self) -> type:
        return self.model_class or getattr(pm, self.pythae_name)

    @property
    def config_class(self) -> type:
        return _config_class(self.pythae_name)

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
    """pythae ramps C as C * min(epoch / (warmup_epoch + 1), 1): reach C at the last epoch."""
    return {**params, "warmup_epoch": max(epochs - 1, 0)}


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
        params={"number_samples": 5},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="K = 5 importance samples",
        about="Importance-weighted autoencoder (Burda et al. 2016): a VAE trained on the "
        "K-sample importance-weighted bound, which is tighter than the ELBO.",
        objective="-log (1/K) sum_k p(x, z_k) / q(z_k|x), z_k ~ q(z|x), K = 5.",
        caveats=("pythae's recon_x is a single importance sample, not a weighted average.",),
    ),
    ModelSpec(
        name="MIWAE",
        display_name="MIWAE",
        family="importance weighting",
        pythae_name="MIWAE",
        params={"number_samples": 10, "number_gradient_estimates": 5},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="K = 10 (M gradient estimates, pythae default M = 5)",
        about="Multiply importance-weighted autoencoder (Rainforth et al. 2018, 'Tighter "
        "variational bounds are not necessarily better'): the average of M independent "
        "K-sample IWAE bounds. Not the missing-data MIWAE the study describes.",
        objective="-(1/M) sum_m log (1/K) sum_k w_mk, w_mk = p(x, z_mk) / q(z_mk|x); M = 5, K = 10.",
        caveats=("M x K = 50 decoder passes per image: about 50x the cost of a VAE step.",),
    ),
    ModelSpec(
        name="CIWAE",
        display_name="CIWAE",
        family="importance weighting",
        pythae_name="CIWAE",
        params={"number_samples": 10},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="K = 10 (convex combination, pythae default beta = 0.5)",
        about="Combination importance-weighted autoencoder (Rainforth et al. 2018): a convex "
        "combination of the ELBO and the IWAE bound.",
        objective="-(beta * ELBO + (1 - beta) * IWAE_K), beta = 0.5, K = 10.",
    ),
    ModelSpec(
        name="PIWAE",
        display_name="PIWAE",
        family="importance weighting",
        pythae_name="PIWAE",
        params={"number_samples": 10, "number_gradient_estimates": 5},
        head="gaussian",
        training_mode=COUPLED,
        study_setting="K = 10 (encoder and decoder on separate objectives/optimisers)",
        about="Partially importance-weighted autoencoder (Rainforth et al. 2018): the decoder "
        "is trained on the IWAE bound, the encoder on the MIWAE bound, each with its own Adam.",
        objective="Decoder: -IWAE_{MK}; encoder: -MIWAE_{M,K}; M = 5, K = 10.",
        caveats=("M x K = 50 decoder passes per image: about 50x the cost of a VAE step.",),
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
        caveats=(_VAE_CAVEAT_SAMPLED,),
    ),
    ModelSpec(
        name="BetaTCVAE",
        display_name="β-TCVAE",
        family="disentanglement",
        pythae_name="BetaTCVAE",
        params={"beta": 4.0, "alpha": 1.0, "gamma": 1.0},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="β = 4, α = γ = 1",
        about="β-TCVAE (Chen et al. 2018): the KL term split into index-code mutual "
        "information, total correlation and dimension-wise KL; only the total correlation is "
        "up-weighted.",
        objective="Reconstruction + α MI + β TC + γ dim-KL, estimated with minibatch-"
        "stratified sampling; α = γ = 1, β = 4.",
    ),
    ModelSpec(
        name="FactorVAE",
        display_name="FactorVAE",
        family="disentanglement",
        pythae_name="FactorVAE",
        params={"gamma": 10.0},
        head="gaussian",
        training_mode=ADVERSARIAL,
        study_setting="γ = 10; discriminator lr 1e-4, one update per generator update",
        about="FactorVAE (Kim & Mnih 2018): a VAE plus a total-correlation penalty estimated by "
        "a discriminator that tells codes from dimension-wise permuted codes.",
        objective="VAE loss + γ TC, TC ≈ E[log D(z) / (1 - D(z))]; the discriminator is trained "
        "to separate q(z) from the product of its marginals. γ = 10.",
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
        deviations=("warmup_epoch is set from the run's epoch budget so C reaches 25 at the last epoch.",),
        config_hook=_disentangled_warmup,
    ),
    ModelSpec(
        name="VQVAE",
        display_name="VQ-VAE",
        family="deterministic / weakly regularised",
        pythae_name="VQVAE",
        params={"num_embeddings": 512, "commitment_loss_factor": 0.25, "use_ema": True, "decay": 0.99},
        head="embedding",
        training_mode=SINGLE,
        study_setting="512 codes, commitment 0.25, EMA codebook decay 0.99",
        about="Vector-quantised VAE (van den Oord et al. 2017): the encoder output is replaced "
        "by its nearest codebook vector; the codebook follows the codes by an exponential "
        "moving average.",
        objective="Reconstruction error + 0.25 ||z_e - sg(e)||^2 (commitment); codebook by EMA.",
        caveats=(
            "pythae #138: a flat [B, 16] code is quantised as 16 scalars; see the model-fidelity notes.",
        ),
    ),
    ModelSpec(
        name="HVAE",
        display_name="HVAE (Hamiltonian)",
        family="architecture variants",
        pythae_name="HVAE",
        params={},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="pythae's HVAE",
        about="Hamiltonian VAE (Caterini et al. 2018): the posterior sample is refined by "
        "tempered Hamiltonian (leapfrog) dynamics. It is NOT the hierarchical / ladder VAE the "
        "study describes.",
        objective="Negative ELBO of the extended (position, momentum) space after n_lf = 3 "
        "leapfrog steps with tempering β0 = 0.3.",
        caveats=("Its forward pass needs gradients (leapfrog uses ∇ log p), also at evaluation.",),
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
        params={"flows": ["Planar", "Radial", "Planar", "Radial"]},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="4 linear (planar/radial) flow layers",
        about="VAE with linear normalising flows (Rezende & Mohamed 2015): the posterior sample "
        "passes through planar and radial flows.",
        objective="Reconstruction - log p(z_K) + log q(z_0|x) - sum log|det ∂z_k/∂z_{k-1}|.",
        deviations=("The study does not say which 4 flows; we alternate Planar, Radial, Planar, Radial.",),
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
        params={"alpha": 0.5},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="α = 0.5 (pythae's alpha/lbd/kernel)",
        about="InfoVAE, MMD variant (Zhao et al. 2019): the ELBO with a down-weighted KL and an "
        "MMD term between the aggregate posterior and the prior.",
        objective="Reconstruction + (1 - α) KL + (α + λ - 1) MMD(q(z), p(z)).",
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
    ),
    ModelSpec(
        name="RAE_GP",
        display_name="RAE-GP",
        family="alternative regularisation",
        pythae_name="RAE_GP",
        params={},
        head="embedding",
        training_mode=SINGLE,
        study_setting="gradient-penalty weight λ = 10",
        about="Regularised autoencoder with a gradient penalty on the decoder (Ghosh et al. "
        "2020). Not the 'robust divergence' model the study describes.",
        objective="Reconstruction + β ||z||^2 + λ ||∇_z Decoder(z)||^2.",
        variants={"study_literal": {"reg_weight": 10.0}},
    ),
    ModelSpec(
        name="VAMP",
        display_name="VAMP",
        family="prior variants",
        pythae_name="VAMP",
        params={"number_components": 500},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="500 pseudo-inputs",
        about="VAE with a VampPrior (Tomczak & Welling 2018): the prior is a mixture of the "
        "posteriors of 500 learned pseudo-inputs.",
        objective="Reconstruction + E_q[log q(z|x) - log (1/500) sum_k q(z|u_k)].",
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
        about="Hyperspherical VAE (Davidson et al. 2018): a von Mises–Fisher posterior on the "
        "unit sphere S^15 with a uniform prior.",
        objective="Reconstruction + KL(vMF(μ, κ) || Uniform(S^15)).",
    ),
    ModelSpec(
        name="MSSSIM_VAE",
        display_name="MS-SSIM-VAE",
        family="specialised losses",
        pythae_name="MSSSIM_VAE",
        params={"window_size": 11},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="5-scale MS-SSIM loss, weights [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]",
        about="VAE whose reconstruction term is the multi-scale structural dissimilarity "
        "(Snell et al. 2017) instead of the squared error.",
        objective="(1 - MS-SSIM(x, x̂)) + β KL, β = 1, 5 scales.",
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
        params={},
        head="gaussian",
        training_mode=COUPLED_ADVERSARIAL,
        study_setting="failed in the study",
        about="VAE-GAN (Larsen et al. 2016): a VAE whose reconstruction error is measured in a "
        "discriminator's feature space, trained jointly with a GAN discriminator.",
        objective="Encoder: KL + feature-space reconstruction; decoder: feature reconstruction "
        "- GAN loss; discriminator: GAN loss; equilibrium/margin gating.",
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
        caveats=("Slow: about 23 s per epoch of 4,000 images on this CPU.",),
        in_default_set=False,
    ),
    ModelSpec(
        name="PoincareVAE",
        display_name="Poincaré VAE",
        family="failed in the study",
        pythae_name="PoincareVAE",
        params={},
        head="gaussian",
        training_mode=SINGLE,
        study_setting="failed in the study",
        about="Poincaré-ball VAE (Mathieu et al. 2019): wrapped-normal posterior and prior on "
        "the hyperbolic Poincaré ball.",
        objective="Negative ELBO with wrapped-normal distributions on the ball, curvature 1.",
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
    names = [n.strip() for n in text.split(",") if n.strip()]
    for n in names:
        get_spec(n)
    return names


def build_config(name: str, epochs: int = 100, variant: str | None = None):
    """The pythae config for ``name`` with the study's settings (plain pythae dataclass)."""
    spec = get_spec(name)
    params = spec.resolved_params(epochs, variant)
    return spec.config_class(input_dim=(1, 28, 28), latent_dim=LATENT_DIM, **params)


def build_model(name: str, epochs: int = 100, variant: str | None = None) -> nn.Module:
    """Build ``name`` on the shared backbone. Seed torch *before* calling: init is random."""
    spec = get_spec(name)
    config = build_config(name, epochs, variant)
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
