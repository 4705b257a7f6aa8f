"""The model catalogue: names, display names, families, the study's names, interpolation paths.

Torch-free, so the tables (``shared.analysis``) and the batch runner know the models without
importing pythae; ``shared.registry`` builds its specs on these entries and adds everything that
changes behaviour. One place for each fact: a model is named here once.
"""

from __future__ import annotations

from dataclasses import dataclass

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

#: Interpolation paths between two mean codes (shared.latent.path_codes): the straight line; the
#: great circle of a hypersphere; the Poincaré ball's geodesic; "chord" = the straight line kept as
#: the study's literal protocol where the model's own path is curved; "requantised" = the straight
#: line with every frame's code re-quantised (the codes a VQ-VAE can emit).
INTERPOLATION_PATHS = ("line", "great_circle", "poincare_geodesic", "chord", "requantised")
PATH_LABELS = {
    "line": "straight line",
    "great_circle": "great circle",
    "poincare_geodesic": "Poincaré geodesic",
    "chord": "chord (the study's literal protocol)",
    "requantised": "requantised (codes the model can emit)",
}


@dataclass(frozen=True)
class Entry:
    """What the tables need to know of one model."""

    name: str  # registry name, file-name prefix of its results
    display_name: str
    family: str
    study_name: str = ""  # its name in the study's tables ("" = the same as ``name``)
    in_default_set: bool = True  # False: the study's failed models, runnable on request
    interpolation: str = "line"  # its own path (INTERPOLATION_PATHS)
    extra_interpolations: tuple[str, ...] = ()  # further paths stored as extra metrics

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"{self.name}: unknown family {self.family!r}")
        unknown = {self.interpolation, *self.extra_interpolations} - set(INTERPOLATION_PATHS)
        if unknown:
            raise ValueError(f"{self.name}: unknown interpolation paths {sorted(unknown)}")


_FAILED = "failed in the study"
ENTRIES: tuple[Entry, ...] = (
    Entry("VAE", "VAE", "baseline"),
    Entry("IWAE", "IWAE", "importance weighting"),
    Entry("MIWAE", "MIWAE", "importance weighting"),
    Entry("CIWAE", "CIWAE", "importance weighting"),
    Entry("PIWAE", "PIWAE", "importance weighting"),
    Entry("BetaVAE", "β-VAE", "disentanglement"),
    Entry("BetaTCVAE", "β-TCVAE", "disentanglement"),
    Entry("FactorVAE", "FactorVAE", "disentanglement"),
    Entry("DisentangledBetaVAE", "Disentangled β-VAE", "disentanglement"),
    Entry("VQVAE", "VQ-VAE", "deterministic / weakly regularised", extra_interpolations=("requantised",)),
    Entry("HVAE", "HVAE (Hamiltonian)", "architecture variants"),
    Entry("VAE_IAF", "VAE-IAF", "architecture variants"),
    Entry("VAE_LinNF", "VAE-LinNF", "architecture variants"),
    Entry("WAE_MMD", "WAE", "deterministic / weakly regularised", study_name="WAE"),
    Entry("INFOVAE_MMD", "InfoVAE", "alternative regularisation", study_name="InfoVAE"),
    Entry("RAE_L2", "RAE-L2", "alternative regularisation"),
    Entry("RAE_GP", "RAE-GP", "alternative regularisation"),
    Entry("VAMP", "VAMP", "prior variants"),
    Entry(
        "SVAE",
        "SVAE (hyperspherical)",
        "prior variants",
        interpolation="great_circle",
        extra_interpolations=("chord",),
    ),
    Entry("MSSSIM_VAE", "MS-SSIM-VAE", "specialised losses"),
    Entry("Adversarial_AE", "Adversarial AE", "specialised losses"),
    Entry("AE", "AE", "deterministic / weakly regularised"),
    Entry("VAEGAN", "VAE-GAN", _FAILED, in_default_set=False),
    Entry("RHVAE", "RHVAE", _FAILED, in_default_set=False),
    Entry(
        "PoincareVAE",
        "Poincaré VAE",
        _FAILED,
        in_default_set=False,
        interpolation="poincare_geodesic",
        extra_interpolations=("chord",),
    ),
)

CATALOGUE: dict[str, Entry] = {e.name: e for e in ENTRIES}
MODEL_NAMES: tuple[str, ...] = tuple(e.name for e in ENTRIES if e.in_default_set)  # the study's 22
EXTRA_MODEL_NAMES: tuple[str, ...] = tuple(e.name for e in ENTRIES if not e.in_default_set)
ALL_MODEL_NAMES: tuple[str, ...] = MODEL_NAMES + EXTRA_MODEL_NAMES
#: The study's model names (as in its CSV tables) -> registry names (the 22 of the study).
STUDY_NAME_TO_REGISTRY: dict[str, str] = {e.study_name or e.name: e.name for e in ENTRIES if e.in_default_set}
#: Families as the study groups them, by registry name (the 22).
STUDY_FAMILIES: dict[str, str] = {e.name: e.family for e in ENTRIES if e.in_default_set}
