"""Each figure function of shared.plotting writes a PNG and a PDF for synthetic data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from shared import analysis as A
from shared import plotting as P

CAPTION = "profile smoke · data: synthetic · 3 seeds"
RNG = np.random.default_rng(0)
MODELS = ["VAE", "AE", "WAE_MMD", "SVAE", "VAMP", "IWAE", "RAE_L2", "HVAE"]


@pytest.fixture(scope="module")
def means() -> pd.DataFrame:
    """Model means with SSIM and PIQ (and the other metrics) for eight models."""
    n = len(MODELS)
    return pd.DataFrame(
        {
            "model": MODELS,
            "ssim": np.linspace(0.6, 0.9, n) + RNG.normal(0, 0.01, n),
            "piq": np.linspace(1e-3, 4e-3, n)[::-1] * 0 + RNG.uniform(1e-3, 4e-3, n),
            "mse": RNG.uniform(0.01, 0.04, n),
            "iss": RNG.uniform(1e-7, 5e-7, n),
            "issim": RNG.uniform(0.94, 0.98, n),
        }
    )


def check_saved(fig: Figure, out: Path, name: str) -> None:
    """The figure is a Figure and both files exist and are non-trivial."""
    assert isinstance(fig, Figure)
    paths = P.save_figure(fig, out, name)
    assert set(paths) == {"png", "pdf", "caption"}
    assert paths["caption"].name == f"{name}.caption.md"
    assert paths["caption"].read_text(encoding="utf-8").strip() == CAPTION
    assert "\n" not in fig.get_suptitle() and CAPTION not in fig.get_suptitle()
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths["pdf"].read_bytes()[:5] == b"%PDF-"
    assert all(paths[ext].stat().st_size > 1000 for ext in ("png", "pdf"))


def test_reconstruction_grid(tmp_path: Path) -> None:
    originals = RNG.uniform(size=(8, 28, 28)).astype(np.float16)
    recs = {m: RNG.uniform(size=(8, 28, 28)) for m in ("AE", "VAE", "SVAE")}
    check_saved(P.plot_reconstruction_grid(originals, recs, CAPTION), tmp_path, "fig1")


def test_ssim_by_family(tmp_path: Path, means: pd.DataFrame) -> None:
    fig = P.plot_ssim_by_family(means, A.STUDY_FAMILIES, CAPTION)
    check_saved(fig, tmp_path, "fig2")


def test_interpolation_strips(tmp_path: Path) -> None:
    strips = {m: RNG.uniform(size=(10, 28, 28)) for m in ("AE", "VAE")}
    check_saved(P.plot_interpolation_strips(strips, CAPTION), tmp_path, "fig3")


def test_top_combined(tmp_path: Path, means: pd.DataFrame) -> None:
    fig = P.plot_top_combined(A.combined_rank(means), CAPTION, k=5)
    check_saved(fig, tmp_path, "fig4")


def test_ssim_vs_piq(tmp_path: Path, means: pd.DataFrame) -> None:
    fig = P.plot_ssim_vs_piq(means, CAPTION)
    assert "Pearson r =" in fig.get_suptitle() and CAPTION not in fig.get_suptitle()
    check_saved(fig, tmp_path, "fig5")


def test_pareto(tmp_path: Path, means: pd.DataFrame) -> None:
    check_saved(P.plot_pareto(A.assign_regimes(means), CAPTION), tmp_path, "fig6")


def test_latent_tsne(tmp_path: Path) -> None:
    latents = {m: (RNG.normal(size=(60, 16)), RNG.integers(0, 10, 60)) for m in ("AE", "VAE")}
    fig = P.plot_latent_tsne(latents, CAPTION, n_points=50, random_state=0)
    check_saved(fig, tmp_path, "tsne")


def test_training_curves(tmp_path: Path) -> None:
    def history(n: int) -> dict[str, list[float]]:
        loss = list(100 / np.arange(1, n + 1))
        return {
            "epoch": list(range(1, n + 1)),
            "train_loss": loss,
            "val_loss": [v + 1 for v in loss],
        }

    histories = {
        "VAE": history(12),
        "AE": [history(8), history(10)],
        "SVAE": history(1),
    }
    check_saved(P.plot_training_curves(histories, CAPTION), tmp_path, "curves")


def test_select_representatives_is_deterministic_and_data_driven(
    means: pd.DataFrame,
) -> None:
    chosen = P.select_representatives(means)
    best = means.sort_values("ssim", ascending=False)["model"].iloc[0]
    worst_piq = means.sort_values("piq")["model"].iloc[-1]
    assert chosen[0] == best and "VAE" in chosen and worst_piq in chosen
    assert len(chosen) == 6 and len(set(chosen)) == 6
    assert chosen == P.select_representatives(means.iloc[::-1])
    assert P.select_representatives(means.head(2), max_models=6) == sorted(
        means.head(2)["model"], key=lambda m: -means.set_index("model").loc[m, "ssim"]
    )


def test_montage_tiles_digits_with_white_gaps_and_empty_cells() -> None:
    digits = [np.full((28, 28), v, dtype=np.float32) for v in (0.0, 0.5, 1.0)]
    grid = P.montage(digits, ncols=2, n_cells=4)  # 2 x 2 cells, the last one empty
    assert grid.shape == (2 * 28 + 2, 2 * 28 + 2)
    assert (grid[:28, :28] == 0.0).all() and (grid[:28, 30:] == 0.5).all() and (grid[30:, :28] == 1.0).all()
    assert np.isnan(grid[28:30]).all() and np.isnan(grid[:, 28:30]).all()  # the gaps (drawn white)
    assert np.isnan(grid[30:, 30:]).all()  # the empty cell
