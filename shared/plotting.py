"""Figures of the benchmark (the study's Figs 1-6, t-SNE of latent codes, training curves; beyond
the study: metric scatters, the raw vs scale-free duality panels, grids of generated digits).

Every function builds a :class:`matplotlib.figure.Figure` directly, without pyplot: files are
rendered by Agg whatever the active backend, nothing opens a window, no global figure state leaks
between calls, and the module never changes the backend a notebook chose (a notebook displays the
returned figure as usual). Each figure carries a short one-line title; the full ``caption`` (profile,
data source, seeds) is not drawn but kept on the figure (:func:`caption_of`) and written beside it
by :func:`save_figure` (PNG, PDF and ``<name>.caption.md``). Labels of scatter points are placed by
adjustText (fixed iteration count, so the same inputs give the same positions); regime colours are
the Okabe-Ito colour-blind-safe palette.
"""

from __future__ import annotations

import textwrap
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from adjustText import adjust_text
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Bbox

from shared.analysis import combined_rank, pearson

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency
OKABE_ITO: dict[str, str] = {
    "orange": "#E69F00", "sky blue": "#56B4E9", "bluish green": "#009E73", "yellow": "#F0E442",
    "blue": "#0072B2", "vermillion": "#D55E00", "reddish purple": "#CC79A7", "black": "#000000",
}  # fmt: skip
REGIME_COLOURS: dict[str, str] = {
    "reconstruction-first": OKABE_ITO["blue"],
    "balanced": OKABE_ITO["orange"],
    "smoothness-first": OKABE_ITO["reddish purple"],
}
REGIME_MARKERS: dict[str, str] = {"reconstruction-first": "o", "balanced": "s", "smoothness-first": "^"}
POINT_COLOUR = OKABE_ITO["blue"]
MAX_TITLE_CHARS = 70
LABEL_ITERATIONS = 400  # adjustText iterations: a count, not a time limit, so the result is reproducible
LABEL_ROUNDS = 4  # adjustText rounds at most, each from the last one's positions, until no labels touch
COLLAPSED_GREY = "#9e9e9e"
COLLAPSED_LABEL = "collapsed (excluded from the frontier)"


def caption_of(fig: Figure) -> str:
    """The caption a figure function was given (not drawn in the figure)."""
    return getattr(fig, "_benchmark_caption", "")


def save_figure(
    fig: Figure, out_dir: str | Path, name: str, dpi: int = 150, caption: str | None = None
) -> dict[str, Path]:
    """Write ``name.png`` and ``name.pdf`` (tight bounding box), and ``name.caption.md`` with
    ``caption`` (default: the figure's own, :func:`caption_of`) when there is one."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {ext: out / f"{name}.{ext}" for ext in ("png", "pdf")}
    for ext, path in paths.items():
        fig.savefig(path, dpi=dpi, bbox_inches="tight", format=ext, metadata=_metadata(ext))
    text = caption_of(fig) if caption is None else caption
    if text:
        paths["caption"] = out / f"{name}.caption.md"
        paths["caption"].write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    return paths


def show(fig: Figure, dpi: int = 100) -> None:
    """Display a pyplot-free figure as a PNG in Jupyter (works in papermill-executed notebooks)."""
    import io

    from IPython.display import Image, display

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    display(Image(data=buffer.getvalue(), format="png"))


def _metadata(ext: str) -> dict[str, object]:
    """Drop creation dates so that re-running gives the same files."""
    return {"CreationDate": None} if ext == "pdf" else {}


def _figure(width: float, height: float) -> Figure:
    """A new figure with constrained layout (no pyplot involved)."""
    return Figure(figsize=(width, height), layout="constrained")


def _title(fig: Figure, title: str, caption: str) -> None:
    """A short one-line title; the caption is kept on the figure for :func:`save_figure`, not drawn."""
    title = " ".join(title.split())
    if len(title) > MAX_TITLE_CHARS:
        title = textwrap.shorten(title, MAX_TITLE_CHARS, placeholder=" …")
    fig.suptitle(title, fontsize=11)
    fig._benchmark_caption = caption or ""  # type: ignore[attr-defined]


GAP_PX = 2  # white pixels between the digits of a montage


def _image(ax: Axes, img: np.ndarray) -> None:
    """Show an image in [0, 1] in grey (NaN = a montage's white gap), without ticks."""
    grey = matplotlib.colormaps["gray"].with_extremes(bad="white")
    ax.imshow(np.ma.masked_invalid(np.asarray(img, dtype=np.float32)), cmap=grey, vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)


def montage(images: Sequence[np.ndarray], ncols: int, n_cells: int | None = None) -> np.ndarray:
    """Images [28, 28] tiled ``ncols`` to a row, GAP_PX apart, as one array (NaN in the gaps and
    in the ``n_cells`` - len(images) empty cells): one imshow per panel instead of one axes per
    digit, which made the sample figures slow to lay out (176 axes for 22 models)."""
    n_cells = max(n_cells or len(images), len(images))
    nrows = -(-n_cells // ncols)
    h, w = np.asarray(images[0]).shape
    out = np.full((nrows * (h + GAP_PX) - GAP_PX, ncols * (w + GAP_PX) - GAP_PX), np.nan, np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        out[r * (h + GAP_PX) : r * (h + GAP_PX) + h, c * (w + GAP_PX) : c * (w + GAP_PX) + w] = img
    return out


def _image_rows(fig: Figure, rows: Mapping[str, Sequence[np.ndarray]], n: int) -> None:
    """One labelled axes per row, each a strip of up to ``n`` images (missing ones left empty)."""
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, (label, images) in zip(axes, rows.items(), strict=True):
        _image(ax, montage(list(images)[:n], n, n))
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)


def _grid_axes(fig: Figure, n: int, ncols: int, sharey: bool = False) -> list:
    """n axes in a grid of ``ncols`` columns; unused cells are hidden."""
    nrows = max(1, -(-n // ncols))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False, sharey=sharey)).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return list(axes[:n])


# --------------------------------------------------------------------------- Fig 1 and Fig 3


def plot_reconstruction_grid(
    originals: np.ndarray,
    reconstructions: Mapping[str, np.ndarray],
    caption: str,
    title: str = "Original test digits and reconstructions",
) -> Figure:
    """Fig 1: a row of originals ([n, 28, 28]) and one row of reconstructions per model."""
    rows = {"original": originals, **reconstructions}
    n = len(originals)
    fig = _figure(0.8 * n + 1.5, 0.85 * len(rows) + 0.8)
    _image_rows(fig, rows, n)
    _title(fig, title, caption)
    return fig


def plot_interpolation_strips(
    strips: Mapping[str, np.ndarray],
    caption: str,
    title: str = "Latent interpolation (10 frames between two test digits)",
) -> Figure:
    """Fig 3: one row per model of the decoded frames ([10, 28, 28]) of one interpolation."""
    n = max(len(frames) for frames in strips.values())
    fig = _figure(0.8 * n + 1.5, 0.85 * len(strips) + 0.8)
    _image_rows(fig, strips, n)
    _title(fig, title, caption)
    return fig


# --------------------------------------------------------------------------- Fig 2


def plot_ssim_by_family(
    values: pd.DataFrame,
    families: Mapping[str, str],
    caption: str,
    metric: str = "ssim",
    title: str = "SSIM by architectural family",
    collapsed: Collection[str] = (),
) -> Figure:
    """Fig 2: box plot of ``values[metric]`` (one row per model, or per model x seed) by family.

    Families are ordered by their median, best first; models missing from ``families`` go to
    "other"; each family's tick label lists its members. Each point is one row of ``values``,
    drawn over the boxes; ``collapsed`` models are grey hollow markers (still in the boxes: the
    figure shows the families as measured).
    """
    data = values[["model", metric]].dropna().copy()
    data["family"] = data["model"].map(lambda m: families.get(m, "other"))
    medians = data.groupby("family")[metric].median()
    order = sorted(medians.index, key=lambda f: (-medians[f], f))
    labels = [_family_label(f, sorted(set(data.loc[data["family"] == f, "model"]))) for f in order]
    n_lines = sum(label.count("\n") + 1 for label in labels)
    fig = _figure(9.0, max(0.55 * len(order), 0.3 * n_lines) + 1.4)
    ax = fig.subplots()
    groups = [data.loc[data["family"] == f, metric].to_numpy() for f in order]
    ax.boxplot(
        groups,
        positions=np.arange(len(order)),
        orientation="horizontal",
        showfliers=False,
        manage_ticks=False,
        widths=0.6,
        patch_artist=True,
        boxprops={"facecolor": "#c6dbef"},
        medianprops={"color": "black"},
        zorder=1,
    )
    grey = data["model"].isin(set(collapsed))
    sns.stripplot(
        data=data[~grey], x=metric, y="family", order=order, color="#08306b", size=4, jitter=0.15, ax=ax,
        zorder=3,
    )  # fmt: skip
    for coll in ax.collections:  # seaborn may not pass zorder on: the points go over the boxes
        coll.set_zorder(3)
    if grey.any():
        rows = data[grey]
        ax.scatter(
            rows[metric], [order.index(f) for f in rows["family"]], facecolors="none",
            edgecolors=COLLAPSED_GREY, s=30, zorder=4, label="collapsed",
        )  # fmt: skip
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(np.arange(len(order)), labels, fontsize=8)
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.set_xlabel(f"{metric.upper()} (model mean; higher = better)")
    ax.set_ylabel("")
    ax.grid(axis="x", alpha=0.3)
    _title(fig, title, caption)
    return fig


def _family_label(family: str, members: Sequence[str], width: int = 42) -> str:
    """ "family" over its members in brackets, wrapped to ``width`` characters a line."""
    return "\n".join([family, *textwrap.wrap(f"({', '.join(members)})", width)])


# --------------------------------------------------------------------------- collapsed models


def collapsed_in(frame: pd.DataFrame, collapsed: Collection[str] | None = None) -> set[str]:
    """The collapsed models to grey out: ``collapsed`` if given, else the rows whose boolean
    ``collapsed`` column (``analysis.assign_regimes``) is True; text labels count as not given."""
    if collapsed is not None:
        return {str(m) for m in collapsed}
    if "collapsed" not in frame.columns:
        return set()
    flag = frame["collapsed"].map(lambda v: isinstance(v, (bool, np.bool_)) and bool(v))
    return set(frame.loc[flag.astype(bool), "model"])


def _scatter_collapsed(
    ax: Axes, data: pd.DataFrame, label: str, x: str = "piq", y: str = "ssim", x_scale: float = 1e3,
    y_scale: float = 1.0,
) -> None:  # fmt: skip
    """Grey hollow markers for collapsed models, so they are visibly set apart from the rest."""
    if len(data):
        ax.scatter(
            data[x] * x_scale,
            data[y] * y_scale,
            facecolors="none",
            edgecolors=COLLAPSED_GREY,
            linewidths=1.5,
            label=label,
            zorder=3,
        )


# --------------------------------------------------------------------------- Fig 4


def plot_top_combined(
    ranked: pd.DataFrame,
    caption: str,
    k: int = 10,
    title: str = "Top {k} models by combined rank (longer bar = better)",
    collapsed: Collection[str] | None = None,
) -> Figure:
    """Fig 4: horizontal bars for the best k models (best on top) that grow with quality: the
    bar is N + 1 − combined rank (N models ranked), so the best model has the longest bar.

    ``ranked`` is :func:`shared.analysis.combined_rank` output (model, ssim_rank, piq_rank,
    combined_rank, sorted best first). Collapsed models (``collapsed``, see :func:`collapsed_in`)
    get grey bars and "(collapsed)" after their name: their rank is kept, but flagged.
    """
    top = ranked.head(k)
    n = len(ranked)
    score = n + 1 - top["combined_rank"].astype(float)
    grey = collapsed_in(ranked, collapsed)
    is_grey = top["model"].isin(grey).to_numpy()
    fig = _figure(8.0, 0.4 * len(top) + 1.4)
    ax = fig.subplots()
    y = np.arange(len(top))
    ax.barh(y, score, color=np.where(is_grey, COLLAPSED_GREY, POINT_COLOUR))
    ax.set_yticks(y, [f"{m} (collapsed)" if g else m for m, g in zip(top["model"], is_grey, strict=True)])
    ax.invert_yaxis()
    for yi, s, (_, row) in zip(y, score, top.iterrows(), strict=True):
        ax.text(
            s,
            yi,
            f"  rank {row['combined_rank']:g} (SSIM #{row['ssim_rank']:g}, PIQ #{row['piq_rank']:g})",
            va="center",
            fontsize=8,
        )
    ax.set_xlabel(f"{n} + 1 − combined rank (mean of SSIM and PIQ ranks; longer = better)")
    ax.set_xlim(0, float(score.max()) * 1.6 if len(top) else 1)
    _title(fig, title.format(k=len(top)), caption)
    return fig


# --------------------------------------------------------------------------- Fig 5 and Fig 6


def _label_points(ax: Axes, x: Sequence[float], y: Sequence[float], labels: Sequence[str]) -> list:
    """Text labels of scatter points, placed by adjustText so that they do not overlap each other
    or the points; models at the same point share one label. Returns the text artists.

    The figure is laid out first (Agg canvas), adjustText runs a fixed number of iterations (its
    random shifts use a fixed seed), and the layout is then frozen so the saved files keep the
    positions it found.
    """
    merged: dict[tuple[float, float], list[str]] = {}
    for xi, yi, label in zip(x, y, labels, strict=True):
        merged.setdefault((float(xi), float(yi)), []).append(str(label))
    if not merged:
        return []
    fig = ax.get_figure(root=True)
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    ax.margins(x=0.12, y=0.18)  # room above and below for the labels of points at the edge
    texts = [
        ax.text(xi, yi, " = ".join(sorted(names)), fontsize=7, zorder=5) for (xi, yi), names in merged.items()
    ]
    fig.draw_without_rendering()
    points = np.array(list(merged))
    avoid = np.vstack([points, _points_along_lines(ax)])
    markers = _marker_boxes(ax)
    for _ in range(LABEL_ROUNDS):  # another round, from where the last one left them, while two touch
        _, arrows = adjust_text(
            texts,
            x=avoid[:, 0],
            y=avoid[:, 1],  # the points and the drawn lines (Fig 6's frontier): no label crosses them
            objects=markers,  # the markers' areas, not only their centres (a short label sat on them)
            target_x=points[:, 0],  # the arrows point at the points, not at the last round's positions
            target_y=points[:, 1],
            ax=ax,
            iter_lim=LABEL_ITERATIONS,
            expand=(1.25, 1.5),
            force_text=(0.5, 0.8),
            force_static=(0.3, 0.5),
            arrowprops={"arrowstyle": "-", "color": "0.45", "lw": 0.5},
        )
        if not _touching(texts):
            break
        for arrow in arrows:
            arrow.remove()
    fig.set_layout_engine("none")  # keep the laid-out geometry the labels were placed for
    return texts


def _touching(texts: list) -> bool:
    """Whether any two labels' boxes overlap (adjustText stops after its iterations, not when
    none overlap: the duality figure's WAE_MMD and VQVAE labels touched after one round)."""
    renderer = texts[0].get_figure(root=True).canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in texts]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[:i])


def _points_along_lines(ax: Axes, per_segment: int = 10) -> np.ndarray:
    """Points spread along each line drawn in ``ax`` (not its ends: those are markers), in data
    coordinates, for adjustText to keep labels off the line (it repels from points, not lines)."""
    steps = np.linspace(0.0, 1.0, per_segment + 1)[1:-1, None]
    parts = [np.empty((0, 2))]
    for line in ax.get_lines():
        xy = np.column_stack([np.asarray(v, dtype=float) for v in line.get_data()])
        parts += [a + steps * (b - a) for a, b in zip(xy[:-1], xy[1:], strict=True)]
    return np.vstack(parts)


def _marker_boxes(ax: Axes) -> list[Bbox]:
    """Boxes of every scatter marker in ``ax`` (size in points² -> pixels), in data coordinates:
    adjustText 1.4 maps the boxes it is given through ``transData`` itself."""
    boxes = []
    scale, to_data = ax.get_figure(root=True).dpi / 72, ax.transData.inverted()
    for collection in ax.collections:
        if not isinstance(collection, PathCollection):
            continue
        sizes = collection.get_sizes()
        centres = collection.get_offset_transform().transform(collection.get_offsets())
        for i, (cx, cy) in enumerate(centres):
            r = np.sqrt(sizes[i % len(sizes)] if len(sizes) else 36.0) / 2 * scale
            boxes.append(Bbox(to_data.transform([(cx - r, cy - r), (cx + r, cy + r)])))
    return boxes


def plot_ssim_vs_piq(
    means: pd.DataFrame,
    caption: str,
    title: str = "SSIM vs PIQ",
    collapsed: Collection[str] | None = None,
) -> Figure:
    """Fig 5: model means of SSIM against PIQ (×10³), with Pearson r and two-sided p in the title.

    Collapsed models (see :func:`collapsed_in`) are drawn as grey hollow markers; r still counts
    every model, as the correlation table does, and the legend says so.
    """
    data = means[["model", "ssim", "piq"]].dropna()
    r, p = pearson(data["ssim"], data["piq"])
    grey = data["model"].isin(collapsed_in(means, collapsed))
    fig = _figure(7.5, 5.5)
    ax = fig.subplots()
    ax.scatter(data.loc[~grey, "piq"] * 1e3, data.loc[~grey, "ssim"], color=POINT_COLOUR, zorder=3)
    _scatter_collapsed(ax, data[grey], "collapsed (still counted in r)")
    ax.set_xlabel("PIQ (×10³, lower = smoother)")
    ax.set_ylabel("SSIM (higher = better)")
    if grey.any():
        ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False)
    ax.grid(alpha=0.3)
    _title(fig, f"{title}: Pearson r = {r:.3f}, p = {p:.2g}, n = {len(data)}", caption)
    _label_points(ax, data["piq"] * 1e3, data["ssim"], data["model"])
    return fig


def plot_pareto(
    regimes: pd.DataFrame,
    caption: str,
    title: str = "Pareto frontier (SSIM ↑, PIQ ↓) and regimes",
    collapsed: Collection[str] | None = None,
) -> Figure:
    """Fig 6: models coloured by regime, Pareto-optimal ones ringed and joined by a line;
    collapsed models as grey hollow markers ("collapsed (excluded from the frontier)").

    ``regimes`` is :func:`shared.analysis.assign_regimes` output (model, ssim, piq,
    pareto_optimal, regime, collapsed). The frontier is not recomputed here, so a collapsed
    model marked Pareto-optimal is an error: pass the collapsed models to ``assign_regimes``.
    """
    grey = regimes["model"].isin(collapsed_in(regimes, collapsed))
    wrong = regimes.loc[grey & regimes["pareto_optimal"].astype(bool), "model"].tolist()
    if wrong:
        raise ValueError(
            f"collapsed models on the frontier ({', '.join(wrong)}): use assign_regimes(..., collapsed)"
        )
    fig = _figure(9.0, 5.5)
    ax = fig.subplots()
    for regime, colour in REGIME_COLOURS.items():
        part = regimes[(regimes["regime"] == regime) & ~grey]
        ax.scatter(
            part["piq"] * 1e3,
            part["ssim"],
            color=colour,
            marker=REGIME_MARKERS[regime],
            label=regime,
            zorder=3,
        )
    _scatter_collapsed(ax, regimes[grey], COLLAPSED_LABEL)
    front = regimes[regimes["pareto_optimal"].astype(bool)].sort_values(["piq", "ssim"])
    ax.plot(
        front["piq"] * 1e3,
        front["ssim"],
        color="black",
        lw=1,
        ls="--",
        zorder=2,
        label=f"Pareto frontier ({len(front)} models)",
    )
    ax.scatter(
        front["piq"] * 1e3,
        front["ssim"],
        s=120,
        facecolors="none",
        edgecolors="black",
        zorder=4,
    )
    ax.set_xlabel("PIQ (×10³, lower = smoother)")
    ax.set_ylabel("SSIM (higher = better)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="regime", title_fontsize=8)
    ax.grid(alpha=0.3)
    _title(fig, title, caption)
    _label_points(ax, regimes["piq"] * 1e3, regimes["ssim"], regimes["model"])
    return fig


# --------------------------------------------------------------------------- t-SNE, training


def plot_latent_tsne(
    latents: Mapping[str, tuple[np.ndarray, np.ndarray]],
    caption: str,
    n_points: int = 1000,
    random_state: int = 0,
    ncols: int = 3,
    title: str = "t-SNE of latent codes of test images",
) -> Figure:
    """t-SNE (sklearn, fixed ``random_state``) of the first ``n_points`` codes of each model,
    coloured by digit label; one panel per model. ``latents`` maps model -> (codes, labels)."""
    from sklearn.manifold import TSNE

    fig = _figure(4.0 * min(ncols, len(latents)), 3.8 * -(-len(latents) // ncols) + 0.8)
    axes = _grid_axes(fig, len(latents), min(ncols, len(latents)))
    for ax, (model, (codes, labels)) in zip(axes, latents.items(), strict=True):
        codes = np.asarray(codes, dtype=np.float64)[:n_points]
        labels = np.asarray(labels)[:n_points]
        perplexity = float(min(30.0, (len(codes) - 1) / 3))
        emb = TSNE(
            n_components=2, perplexity=perplexity, init="pca", random_state=random_state
        ).fit_transform(codes)
        points = ax.scatter(emb[:, 0], emb[:, 1], c=labels, cmap="tab10", vmin=-0.5, vmax=9.5, s=4)
        ax.set_title(f"{model} (n = {len(codes)})", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(points, ax=axes, ticks=range(10), label="digit", shrink=0.8)
    _title(fig, title, caption)
    return fig


def plot_training_curves(
    histories: Mapping[str, Mapping[str, Sequence[float]] | Sequence[Mapping[str, Sequence[float]]]],
    caption: str,
    ncols: int = 4,
    title: str = "Training and validation loss per epoch (relative to epoch 1)",
) -> Figure:
    """One small panel per model: train (solid) and validation (dashed) loss per epoch, each
    divided by its own first-epoch value (so that models with different loss scales compare, on
    one shared y axis), with the best validation epoch marked. Integer epoch ticks, markers and
    a ±0.5 margin (a one-epoch run is a point at 1 in 0.5-1.5); one legend for the figure. A
    model may map to one history or a list (one per seed, one colour each)."""
    ncols = min(ncols, len(histories))
    fig = _figure(3.2 * ncols, 2.5 * -(-len(histories) // ncols) + 1.0)
    axes = _grid_axes(fig, len(histories), ncols, sharey=True)
    for ax, (model, hist) in zip(axes, histories.items(), strict=True):
        runs = [hist] if isinstance(hist, Mapping) else list(hist)
        last = 1
        for i, run in enumerate(runs):
            epochs = list(run.get("epoch", range(1, len(run["train_loss"]) + 1)))
            last = max([last, *epochs])
            colour = f"C{i}"
            marker = "o" if len(run["train_loss"]) <= 5 else None  # a 1-epoch line is invisible
            ax.plot(epochs, _relative(run["train_loss"]), color=colour, lw=1, marker=marker, ms=3)
            val = _relative(run["val_loss"])
            ax.plot(epochs[: len(val)], val, color=colour, lw=1, ls="--", marker=marker, ms=3, mfc="none")
            if len(val) and np.isfinite(val).any():
                best = epochs[int(np.nanargmin(val))]
                ax.axvline(best, color=colour, lw=0.6, alpha=0.5)
        ax.set_title(model, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_xlim(0.5, last + 0.5)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel("loss ÷ epoch-1 loss", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes:
        ax.label_outer(remove_inner_ticks=False)  # y labels on the first column only
        ax.xaxis.set_tick_params(labelbottom=True)
        ax.set_xlabel("epoch", fontsize=8)
    handles = [
        Line2D([], [], color="0.2", lw=1, label="train"),
        Line2D([], [], color="0.2", lw=1, ls="--", label="validation"),
        Line2D([], [], color="0.2", lw=0.6, alpha=0.5, label="best validation epoch"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    _title(fig, title, caption)
    return fig


def _relative(loss: Sequence[float]) -> np.ndarray:
    """A loss curve divided by the magnitude of its first finite value (as is if there is none)."""
    values = np.asarray(loss, dtype=np.float64)
    finite = values[np.isfinite(values)]
    first = abs(finite[0]) if len(finite) else 0.0
    return values / first if first > 0 else values


# --------------------------------------------------------------------------- beyond the study


def plot_metric_scatter(
    data: pd.DataFrame,
    x: str,
    y: str,
    caption: str,
    title: str,
    xlabel: str,
    ylabel: str,
    x_scale: float = 1.0,
    y_scale: float = 1.0,
    collapsed: Collection[str] | None = None,
) -> Figure:
    """One point per model (``data``: model, ``x``, ``y``; rows with a missing value dropped),
    Pearson r and two-sided p (of every model, as Fig 5) in the one-line title, labels placed by
    adjustText; collapsed models (see :func:`collapsed_in`) as grey hollow markers."""
    data = data[["model", x, y]].dropna()
    r, p = pearson(data[x], data[y])
    grey = data["model"].isin(collapsed_in(data, collapsed))
    fig = _figure(7.5, 5.5)
    ax = fig.subplots()
    ax.scatter(data.loc[~grey, x] * x_scale, data.loc[~grey, y] * y_scale, color=POINT_COLOUR, zorder=3)
    _scatter_collapsed(ax, data[grey], "collapsed (still counted in r)", x, y, x_scale, y_scale)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if grey.any():
        ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False)
    ax.grid(alpha=0.3)
    _title(fig, f"{title}: r = {r:.2f}, p = {p:.2g}, n = {len(data)}", caption)
    _label_points(ax, data[x] * x_scale, data[y] * y_scale, data["model"])
    return fig


def plot_duality(
    data: pd.DataFrame,
    panels: Sequence[Mapping[str, object]],
    caption: str,
    title: str = "Raw vs scale-free smoothness against SSIM",
    collapsed: Collection[str] | None = None,
) -> Figure:
    """The duality test drawn: one panel per smoothness metric, SSIM (y) against it (x), one
    point per model. Each of ``panels`` gives ``metric``, ``label`` (x axis), ``scale`` and the
    test's ``r``, ``p``, ``n`` (shown in the panel title); collapsed models are grey hollow
    markers, left out of r (as the duality test leaves them out)."""
    grey_models = collapsed_in(data, collapsed)
    fig = _figure(6.0 * len(panels), 5.2)
    axes = _grid_axes(fig, len(panels), len(panels), sharey=True)
    for ax, panel in zip(axes, panels, strict=True):
        metric, scale = str(panel["metric"]), float(panel.get("scale", 1.0))
        rows = data[["model", "ssim", metric]].dropna()
        grey = rows["model"].isin(grey_models)
        ax.scatter(rows.loc[~grey, metric] * scale, rows.loc[~grey, "ssim"], color=POINT_COLOUR, zorder=3)
        _scatter_collapsed(ax, rows[grey], "collapsed (left out of r)", metric, "ssim", scale)
        ax.set_xlabel(str(panel["label"]))
        ax.set_title(
            f"SSIM vs {panel['name']}: r = {float(panel['r']):.2f}, p = {float(panel['p']):.2g}, "
            f"n = {int(panel['n'])}",
            fontsize=10,
        )
        ax.grid(alpha=0.3)
        if grey.any():
            ax.legend(fontsize=8, loc="best")
    axes[0].set_ylabel("SSIM (higher = better)")
    _title(fig, title, caption)
    for ax, panel in zip(axes, panels, strict=True):
        metric, scale = str(panel["metric"]), float(panel.get("scale", 1.0))
        rows = data[["model", "ssim", metric]].dropna()
        _label_points(ax, rows[metric] * scale, rows["ssim"], rows["model"])
    return fig


def plot_sample_grids(
    grids: Mapping[str, np.ndarray],
    caption: str,
    title: str,
    n_images: int = 8,
    ncols: int = 2,
) -> Figure:
    """Generated digits of many models: per model (``grids``: label -> images [n, 28, 28] in
    [0, 1]) one row of its first ``n_images``, labelled on the left; models fill ``ncols``
    columns, row by row, in the order given."""
    ncols = max(1, min(ncols, len(grids)))
    nrows = -(-len(grids) // ncols)
    fig = _figure((0.6 * n_images + 1.6) * ncols, 0.7 * nrows + 0.7)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()  # one strip per model: the same size
    for ax in axes[len(grids) :]:
        ax.set_visible(False)
    for ax, (label, images) in zip(axes, grids.items(), strict=False):
        _image(ax, montage(list(images)[:n_images], n_images, n_images))
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    _title(fig, title, caption)
    return fig


def plot_samples(images: np.ndarray, caption: str, title: str, ncols: int = 8) -> Figure:
    """One model's generated digits (``images`` [n, 28, 28] in [0, 1]) as a grid of ``ncols``
    columns (64 samples: 8 × 8)."""
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = _figure(0.75 * ncols + 0.4, 0.75 * nrows + 0.6)
    _image(fig.subplots(), montage(list(images), ncols))
    _title(fig, title, caption)
    return fig


# --------------------------------------------------------------------------- selection


def select_representatives(
    means: pd.DataFrame,
    max_models: int = 6,
    baseline: str = "VAE",
) -> list[str]:
    """Models to show in Figs 1 and 3, chosen from the data, deterministically.

    In order: best and worst SSIM, the baseline, best and worst PIQ, the median-SSIM model; then
    (if fewer than ``max_models``) the next best by combined rank (``analysis.combined_rank``).
    Ties by model name.
    ``means`` has one row per model with ``ssim`` and ``piq`` (analysis.model_means).
    """
    data = means[["model", "ssim", "piq"]].dropna()
    by_ssim = data.sort_values(["ssim", "model"], ascending=[False, True])["model"].tolist()
    by_piq = data.sort_values(["piq", "model"], ascending=[True, True])["model"].tolist()
    if not by_ssim:
        return []
    by_combined = combined_rank(data)["model"].tolist()
    picks = [
        by_ssim[0],
        by_ssim[-1],
        baseline,
        by_piq[0],
        by_piq[-1],
        by_ssim[len(by_ssim) // 2],
    ]
    chosen: list[str] = []
    for model in [*picks, *by_combined]:
        if model in by_ssim and model not in chosen and len(chosen) < max_models:
            chosen.append(model)
    return chosen
