"""The study's protocol constants, defined once (docs/PROTOCOL.md#3-training, #1-data).

Torch-free, so tables, templates and the batch runner read the same numbers the training loop
uses as defaults. A profile (shared.experiment) may depart from them; every departure is
recorded per run as a deviation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StudyProtocol:
    """Training budget, optimiser, data split and seeds of the reproduced study."""

    epochs: int = 100
    patience: int = 10  # early stopping on the validation loss, best weights restored
    lr: float = 1e-4  # Adam, encoder/decoder
    discriminator_lr: float = 1e-4  # Adam, the adversarial models' discriminators
    batch_size: int = 64
    n_train: int = 50_000  # the first 50,000 of MNIST's 60,000 training images
    n_val: int = 10_000  # the last 10,000 of them
    n_test: int = 10_000  # MNIST's test set
    seeds: tuple[int, ...] = (42, 123, 456)


STUDY = StudyProtocol()
#: Profiles whose runs are published: results in paper_results/, tables and figures at the top
#: level, full MNIST and the study's seeds required (shared.experiment.PROFILES)
PUBLISHED_PROFILES = ("reference", "paper")
