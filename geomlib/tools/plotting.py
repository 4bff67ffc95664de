"""Figures: one ``savefig`` and the plots the notebooks share.

``savefig("fig3_toy_psi_map")`` writes ``<figures>/fig3_toy_psi_map.png``
(the folder is set once, in ``geomlib.io``), atomically.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..io import atomic_write, figure_source, figures_dir
from .figure_style import SMALLEST_TEXT, readable_text

__all__ = [
    "DESCRIPTOR_LABELS",
    "descriptor_image",
    "figure_title",
    "plot_against",
    "plot_bin_effects",
    "plot_contrast_curves",
    "plot_corruptions",
    "plot_descriptors_by",
    "plot_image_rows",
    "plot_level_sets",
    "plot_map_grid",
    "plot_samples",
    "plot_latent_slice",
    "plot_sketch_agreement",
    "plot_sketch_scatter",
    "plot_step_tests",
    "plot_trajectories",
    "plot_vendi_per_level_set",
    "savefig",
    "setup",
]

DESCRIPTOR_LABELS = {
    "psi": r"local scaling $\psi$",
    "nu": r"local rank $\nu$",
    "delta": r"local complexity $\delta$",
}
DESCRIPTOR_CMAPS = {"psi": "viridis", "nu": "magma", "delta": "cividis"}


def setup() -> None:
    """The house style: seaborn's ticks theme, readable sizes, a fixed dpi."""
    import seaborn as sns

    sns.set_theme(style="ticks", context="notebook", font_scale=0.9)
    plt.rcParams.update(
        {"figure.dpi": 100, "savefig.dpi": 130, "savefig.bbox": "tight", "image.origin": "lower"}
    )


INLINE_DPI = 80  # the copy shown in the notebook: readable, and small enough to store


def savefig(name: str, fig=None) -> None:
    """Save ``fig`` (default: the current figure) as ``<figures>/<name>.png``, and show it in a notebook.

    The file is written atomically at the style's ``savefig.dpi``. Inside a
    Jupyter kernel a lower-resolution copy is also displayed, so the stored
    notebook holds every figure it saved whatever matplotlib backend ran it
    (``make`` runs the kernel headless); the figure is then closed. Returns
    nothing, so a notebook cell ending in ``savefig(...)`` shows no
    machine-specific path.
    """
    if not name or "/" in name or name.endswith(".png"):
        raise ValueError(f"savefig name must be a bare file name without extension; got {name!r}")
    fig = fig or plt.gcf()
    readable_text(fig)
    stamp_source(fig)
    title = figure_title(fig)
    path = figures_dir() / f"{name}.png"
    with atomic_write(path) as tmp:
        # the title travels in the file too (a PNG text chunk), for a figure copied out of the project
        fig.savefig(tmp, format="png", metadata={"Title": title} if title else None)
    if _in_kernel():
        import io

        from IPython.display import Image, display

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=INLINE_DPI)
        # the site's gallery captions each figure with its title (scripts/build_site.py)
        display(Image(data=buffer.getvalue(), format="png", metadata={"figure": name, "title": title}))
        plt.close(fig)


def figure_title(fig) -> str:
    """The figure's title as one line: its suptitle, else the title of its only panel, else ""."""
    text = fig.get_suptitle()
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    if not text.strip() and len(panels) == 1:  # a panel's title names the figure only when it is alone
        text = panels[0].get_title()
    return " ".join(text.split())


SOURCE_STAMP = "geomlib-source"  # the gid of the line savefig adds


def stamp_source(fig) -> None:
    """Add, once, a small grey line under the figure naming the notebook and preset that made it
    (``geomlib.io.figure_source``), so a figure copied out of its notebook still says where it came
    from. Below the axes (the saved file's tight bounding box takes it in), so it covers nothing."""
    source = figure_source()
    if source is None or any(text.get_gid() == SOURCE_STAMP for text in fig.texts):
        return
    # under the lowest thing drawn (an x label can hang below the figure's edge), not on top of it
    lowest = fig.get_tightbbox(fig.canvas.get_renderer()).y0 / fig.get_figheight()
    fig.text(
        0.995,
        min(0.0, lowest),
        source,
        ha="right",
        va="top",
        fontsize=SMALLEST_TEXT,
        color="0.45",
        gid=SOURCE_STAMP,
    )


def _in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel (not a script or a test)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _robust_limits(values: np.ndarray, low: float = 1, high: float = 99) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [low, high])
    return (float(lo), float(hi)) if hi > lo else (float(lo) - 0.5, float(hi) + 0.5)


def descriptor_image(
    ax,
    values: np.ndarray,
    limit: float,
    name: str,
    points=None,
    colorbar=True,
    title: str | None = None,
    extent: tuple[float, float, float, float] | None = None,
):
    """A ``(H, W)`` map on ``[-limit, limit]^2`` or ``extent``; colours clipped to the 1-99th percentiles."""
    vmin, vmax = _robust_limits(values)
    image = ax.imshow(
        values,
        extent=extent or (-limit, limit, -limit, limit),
        cmap=DESCRIPTOR_CMAPS.get(name),
        vmin=vmin,
        vmax=vmax,
        interpolation="nearest",
    )
    if points is not None:
        ax.scatter(points[:, 0], points[:, 1], s=1.5, c="white", edgecolors="none", alpha=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    return image


def plot_contrast_curves(axes, timesteps: Sequence[int], curves: dict, highlight: int | None = None):
    """On-minus-off-manifold contrast against noise level, one line per checkpoint.

    curves: ``{descriptor: {label: (differences, stderrs)}}``; axes: one per descriptor.
    The x axis runs from high noise (left) to low noise (right), as in the paper;
    the most extreme point of each line is marked.
    """
    timesteps = np.asarray(timesteps)
    for ax, (name, lines) in zip(axes, curves.items(), strict=True):
        for label, (diff, err) in lines.items():
            diff, err = np.asarray(diff), np.asarray(err)
            (line,) = ax.plot(timesteps, diff, label=label)
            ax.fill_between(timesteps, diff - 2 * err, diff + 2 * err, color=line.get_color(), alpha=0.2)
            extreme = int(np.argmax(np.abs(diff)))
            ax.plot(timesteps[extreme], diff[extreme], "o", color=line.get_color())
        ax.axhline(0, color="0.5", lw=0.8)
        if highlight is not None:
            ax.axvline(highlight, color="0.3", lw=0.8, ls="--")
        ax.set_xlim(timesteps.max(), timesteps.min())  # noise decreasing left to right
        ax.set_xlabel("timestep t (noise decreasing →)")
        ax.set_title(DESCRIPTOR_LABELS.get(name, name), fontsize=10)
    axes[0].set_ylabel(r"$E_M[\phi] - E_{\neg M}[\phi]$")
    axes[-1].legend(fontsize=8, frameon=False)


def plot_map_grid(
    columns: dict,
    limit: float,
    points=None,
    descriptors=("psi", "nu", "delta"),
    marks: dict | None = None,
    column_width: float = 2.6,
):
    """Descriptor maps as a grid: one row per descriptor, one column per entry of ``columns``.

    columns: ``{column title: {descriptor: (H, W) array}}``.
    marks: optional ``{label: (points (M, 2), matplotlib marker)}`` drawn on every panel.
    """
    fig, axes = plt.subplots(
        len(descriptors),
        len(columns),
        squeeze=False,
        figsize=(column_width * len(columns), 2.3 * len(descriptors)),
    )
    for j, (title, maps) in enumerate(columns.items()):
        for i, name in enumerate(descriptors):
            ax = axes[i, j]
            descriptor_image(ax, maps[name], limit, name, points=points, title=title if i == 0 else None)
            for label, (where, marker) in (marks or {}).items():
                ax.scatter(where[:, 0], where[:, 1], marker=marker, s=25, c="red", label=label, lw=1)
            if j == 0:
                ax.set_ylabel(DESCRIPTOR_LABELS.get(name, name))
    if marks:
        axes[0, -1].legend(fontsize=7, loc="upper right", framealpha=0.8)
    fig.tight_layout()
    return fig


def plot_samples(
    ax,
    data: np.ndarray,
    samples: np.ndarray,
    title: str | None = None,
    limit: float = 6.0,
    max_data: int = 400,
):
    """Model samples (blue) under the training points (black; at most ``max_data`` of them, evenly spaced)."""
    shown = data[:: max(1, len(data) // max_data)]
    ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.35, color="tab:blue", label="samples")
    ax.scatter(shown[:, 0], shown[:, 1], s=2, color="black", label="training points")
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def _image_panel(ax, image, cmap: str) -> None:
    """An image in [0, 1] without ticks or frame; an empty panel for None."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if image is not None:
        ax.imshow(image, cmap=cmap, vmin=0, vmax=1, origin="upper")


def plot_level_sets(
    images: np.ndarray,
    values: np.ndarray,
    bins: int,
    per_bin: int,
    name: str,
    seed: int = 0,
    cmap: str = "gray",
    source: str = "",
):
    """Images grouped by equal-width level set of ``values``: one column per level set, low to high.

    ``per_bin`` images are drawn at random from each level set (fewer if it
    holds fewer); the column title gives the level set's range and count.
    ``source``: a second title line (the model, the paper figure answered).
    """
    from ..methods.analysis import equal_width_bins

    index, edges = equal_width_bins(values, bins)
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(per_bin, bins, figsize=(1.0 * bins, 1.0 * per_bin + 0.6), squeeze=False)
    for b in range(bins):
        members = np.flatnonzero(index == b)
        chosen = rng.choice(members, min(per_bin, len(members)), replace=False) if len(members) else []
        for row in range(per_bin):
            _image_panel(axes[row, b], images[chosen[row]] if row < len(chosen) else None, cmap)
        axes[0, b].set_title(f"{edges[b]:.3g}..{edges[b + 1]:.3g}\nn={len(members)}", fontsize=6)
    title = f"{DESCRIPTOR_LABELS.get(name, name)} level sets, increasing left to right"
    fig.suptitle(title + (f"\n{source}" if source else ""), fontsize=9, wrap=True)
    fig.tight_layout()
    return fig


def plot_vendi_per_level_set(ax, table, name: str = "psi"):
    """Vendi score (at equal subsample size) per level set, for equal-width and equal-count level sets."""
    column = [c for c in table.columns if c.startswith("vendi@")][0]
    for scheme, marker in (("equal width", "o"), ("equal count", "s")):
        part = table.loc[scheme]
        centers = (part["low"] + part["high"]) / 2
        ax.errorbar(
            centers, part[column], yerr=part["std"], marker=marker, capsize=2, label=f"{scheme} level sets"
        )
    ax.set_xlabel(f"{DESCRIPTOR_LABELS.get(name, name)} (level-set center)")
    ax.set_ylabel(f"Vendi score of {column.split('@')[1]} samples")
    ax.legend(fontsize=8, frameon=False)


def plot_sketch_agreement(axes, table):
    """Against sketch size k: psi's mean shift (with the prediction), its spread, rank agreement."""
    k = table.index.to_numpy()
    axes[0].plot(k, table["mean psi shift"], "o-", label="measured")
    axes[0].plot(k, table["predicted shift"], "k--", label="random-matrix prediction")
    axes[0].plot(k, table["(r/2) log(k/n)"], ":", color="0.5", label=r"$(r/2)\log(k/n)$")
    axes[0].set_ylabel(r"mean of $\psi_W - \psi$")
    axes[0].legend(fontsize=7, frameon=False)
    axes[1].plot(k, table["std of shift"], "o-")
    axes[1].set_ylabel(r"std of $\psi_W - \psi$ across inputs")
    for column in ("spearman psi", "spearman nu", "same level set"):
        axes[2].plot(k, table[column], "o-", label=column)
    axes[2].set_ylabel("agreement with exact")
    axes[2].set_ylim(-0.05, 1.05)
    axes[2].legend(fontsize=7, frameon=False)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("sketch size k")


def plot_image_rows(rows: dict, cmap: str = "gray", size: float = 0.9, title: str | None = None):
    """One row of images per entry of ``rows`` (``{label: (M, H, W) images}``), labelled on the left;
    ``title`` above them, in a band of its own (a title drawn over the first row hides it)."""
    columns = max(len(images) for images in rows.values())
    band = 0.0 if title is None else 0.25 + 0.15 * title.count("\n")  # inches
    height = size * len(rows) + 0.2 + band
    fig, axes = plt.subplots(len(rows), columns, figsize=(size * columns, height), squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        for c in range(columns):
            _image_panel(axes[r, c], images[c] if c < len(images) else None, cmap)
        axes[r, 0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    if title is not None:
        fig.suptitle(title, fontsize=8, y=1 - 0.05 / height, va="top", wrap=True)
    fig.tight_layout(rect=(0, 0, 1, 1 - band / height))
    return fig


def plot_latent_slice(maps: dict, extent, anchor_coords, anchor_labels, anchor_images, cmap: str = "gray"):
    """Descriptor maps on a latent plane with the three anchors marked, over the decoded anchors."""
    fig, axes = plt.subplots(2, len(maps), figsize=(3.6 * len(maps), 6.2), height_ratios=(3, 1.4))
    for ax, (name, values) in zip(axes[0], maps.items(), strict=True):
        descriptor_image(ax, values, 0, name, extent=extent, title=DESCRIPTOR_LABELS.get(name, name))
        ax.scatter(anchor_coords[:, 0], anchor_coords[:, 1], s=30, c="red", marker="x")
        for (u, v), label in zip(anchor_coords, anchor_labels, strict=True):
            ax.annotate(label, (u, v), xytext=(3, 3), textcoords="offset points", color="red", fontsize=8)
    for ax, image, label in zip(axes[1], anchor_images, anchor_labels, strict=True):
        _image_panel(ax, image, cmap)
        ax.set_title(f"anchor: {label}", fontsize=8)
    fig.tight_layout()
    return fig


def plot_corruptions(frame):
    """Each descriptor against corruption severity (0 = clean), one row per corruption kind."""
    import seaborn as sns

    kinds = list(dict.fromkeys(frame["kind"]))
    fig, axes = plt.subplots(len(kinds), 3, figsize=(10, 2.8 * len(kinds)), squeeze=False)
    for row, kind in zip(axes, kinds, strict=True):
        part = frame[frame["kind"] == kind]
        for ax, name in zip(row, ("psi", "nu", "delta"), strict=True):
            sns.boxplot(
                data=part, x="severity", y=name, ax=ax, color="C0" if kind == "blur" else "C3", fliersize=1.5
            )
            ax.set_title(f"{kind}: {DESCRIPTOR_LABELS[name]}", fontsize=9)
            ax.set_xlabel(f"{kind} severity (0 = clean)")
            ax.set_ylabel(name)
    fig.tight_layout()
    return fig


def plot_trajectories(frame, group: str = "group"):
    """Mean descriptor (± 1 s.e.) per denoising step for each group; one row per guidance scale."""
    import seaborn as sns

    scales = sorted(frame["guidance"].unique())
    fig, axes = plt.subplots(len(scales), 3, figsize=(11, 2.8 * len(scales)), squeeze=False)
    for row, scale in zip(axes, scales, strict=True):
        part = frame[frame["guidance"] == scale]
        for ax, name in zip(row, ("psi", "nu", "delta"), strict=True):
            sns.lineplot(data=part, x="step", y=name, hue=group, errorbar="se", ax=ax, legend=ax is row[-1])
            ax.set_title(f"guidance {scale:g}: {DESCRIPTOR_LABELS[name]}", fontsize=9)
            ax.set_xlabel("denoising step (noise decreasing →)")
            _step_ticks(ax, part["step"])
    fig.tight_layout()
    return fig


def _step_ticks(ax, steps) -> None:
    """The analysed steps as ticks, the last one marked: the memorization study's last point is the final
    latent the sampler returns (step = the number of steps)."""
    ticks = sorted(steps.unique())
    ax.set_xticks(ticks, [str(t) for t in ticks[:-1]] + [f"{ticks[-1]}\nfinal"])


def plot_step_tests(tests, column: str = "permutation p", title: str = ""):
    """A p-value per denoising step, one panel per guidance scale, one line per descriptor.

    Dotted lines: the pseudo-replicated sample-level Welch p, when the table has it; dashed: p = 0.05.
    Both are named in the legend, and the steps (integers) are the ticks.
    """
    from matplotlib.lines import Line2D

    scales = sorted(tests["guidance"].unique())
    fig, axes = plt.subplots(1, len(scales), figsize=(4.2 * len(scales), 3.3), squeeze=False, sharey=True)
    dotted = False
    for ax, scale in zip(axes[0], scales, strict=True):
        part = tests[tests["guidance"] == scale]
        for i, (name, line) in enumerate(part.groupby("descriptor", sort=False)):
            ax.plot(line["step"], np.maximum(line[column], 1e-300), marker=".", color=f"C{i}", label=name)
            if "sample welch p" in line and column != "sample welch p":
                ax.plot(line["step"], np.maximum(line["sample welch p"], 1e-300), ":", color=f"C{i}", lw=0.8)
                dotted = True
        ax.axhline(0.05, color="0.4", lw=0.8, ls="--")
        ax.set_yscale("log")
        _step_ticks(ax, part["step"])
        ax.set_title(f"guidance {scale:g}", fontsize=9)
        ax.set_xlabel("denoising step")
    axes[0, 0].set_ylabel(f"{column} (memorized vs ordinary)")
    handles, _ = axes[0, -1].get_legend_handles_labels()
    handles.append(Line2D([], [], color="0.4", lw=0.8, ls="--", label="p = 0.05"))
    if dotted:
        handles.append(
            Line2D([], [], color="0.4", lw=0.8, ls=":", label="sample-level Welch p\n(pseudo-replicated)")
        )
    axes[0, -1].legend(handles=handles, fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1, 0.5))
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_sketch_scatter(axes, exact, sketched, k: int, n: int) -> None:
    """Sketched against exact psi and nu at the same inputs (two axes), with the identity line."""
    for ax, name in zip(axes, ("psi", "nu"), strict=True):
        x, y = np.asarray(getattr(exact, name)), np.asarray(getattr(sketched, name))
        ax.scatter(x, y, s=3, alpha=0.5)
        low, high = min(x.min(), y.min()), max(x.max(), y.max())
        ax.plot([low, high], [low, high], "k:", lw=0.8, label="identity")
        ax.set_xlabel(f"exact {DESCRIPTOR_LABELS[name]}")
        ax.set_ylabel(f"sketched, k = {k} of n = {n}")
        ax.legend(fontsize=7, frameon=False)


PANELS_PER_ROW = 3


def add_title(fig, title: str, fontsize: float = 9):
    """Title a finished figure and lay it out again, so that the title covers none of its panels (a
    ``suptitle`` added after a plotting function's own layout is drawn over the first row)."""
    fig.suptitle(title, fontsize=fontsize, wrap=True)  # a long title wraps at the figure's width
    fig.tight_layout()
    return fig


def plot_against(
    frame,
    x: str,
    columns: Sequence[str],
    hue: str | None = None,
    logx: bool = False,
    reference=None,
    logy: Sequence[str] = (),
    title: str | None = None,
    labels: dict[str, str] | None = None,
    zero: dict[str, str] | None = None,
):
    """One panel per column of ``frame`` against ``x``, one line per ``hue`` value (seaborn).

    reference: optional ``{column: other_column}`` drawn dashed in the same colours
    (e.g. the Gaussian denoiser's value beside the trained one's); logy: columns
    drawn on a log scale; title: above the panels' own titles, in a band of its own;
    labels: ``{column: panel title}`` for a reader (the column's name otherwise); zero:
    ``{column: what 0 means}``, drawn as a grey line at 0 with that note (e.g. an R^2 below
    it predicts worse than the mean).
    """
    import seaborn as sns

    per_row = min(len(columns), PANELS_PER_ROW)  # a long row shrinks every label on a page
    rows = -(-len(columns) // per_row)
    fig, grid = plt.subplots(rows, per_row, figsize=(3.7 * per_row, 3.1 * rows), squeeze=False)
    for ax in grid.flat[len(columns) :]:
        ax.set_visible(False)
    axes = grid.reshape(1, -1)[:, : len(columns)]
    palette = None
    if hue is not None:
        levels = sorted(frame[hue].unique())
        palette = dict(zip(levels, sns.color_palette("viridis", len(levels)), strict=True))
    for ax, column in zip(axes[0], columns, strict=True):
        ax.set_title((labels or {}).get(column, column), fontsize=9)
        ax.set_ylabel("")
        if zero and column in zero:
            ax.axhline(0.0, color="0.5", linewidth=0.8, zorder=0)
            ax.annotate(
                zero[column],
                (0.02, 0.0),
                xycoords=("axes fraction", "data"),
                fontsize=7,
                color="0.4",
                va="bottom",
            )
        if not np.isfinite(frame[column].to_numpy(float)).any():  # e.g. too few examples per level (smoke)
            ax.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=ax.transAxes)
            continue
        sns.lineplot(
            data=frame, x=x, y=column, hue=hue, palette=palette, marker="o", ax=ax, legend=ax is axes[0, -1]
        )
        if reference and column in reference:
            sns.lineplot(
                data=frame,
                x=x,
                y=reference[column],
                hue=hue,
                palette=palette,
                ax=ax,
                legend=False,
                linestyle="--",
            )
        if logx:
            ax.set_xscale("log")
            values = np.sort(frame[x].dropna().unique())
            if len(values) <= 8:  # the values themselves as ticks: "2 x 10^2" labels run together
                ax.set_xticks(values, [f"{v:g}" for v in values])
                ax.minorticks_off()
        if column in logy:
            ax.set_yscale("log")
    if title is not None:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout(rect=None if title is None else (0, 0, 1, 1 - 0.08 / rows))
    return fig


def plot_descriptors_by(frame, by: str, names: Sequence[str] = ("psi", "nu", "delta"), width: float = 4.3):
    """One box plot per descriptor column of ``frame`` against the groups of column ``by`` (seaborn)."""
    import seaborn as sns

    fig, axes = plt.subplots(1, len(names), figsize=(width * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        sns.boxplot(data=frame, x=by, y=name, ax=ax, fliersize=1, color="tab:blue")
        ax.set_title(DESCRIPTOR_LABELS.get(name, name), fontsize=10)
    fig.tight_layout()
    return fig


def plot_bin_effects(best, title: str = ""):
    """Per baseline-psi bin: changes of psi, Vendi and quality with 95% intervals (the rebuttal's Fig. 1)."""
    names = {"dpsi": r"change of $\psi$", "dvendi": "change of Vendi", "dquality": "change of quality"}
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.0))
    for ax, (key, label) in zip(axes, names.items(), strict=True):
        mean = best[f"{key} mean"].to_numpy()
        low, high = best[f"{key} low"].to_numpy(), best[f"{key} high"].to_numpy()
        ax.bar(best["bin"], mean, color="C0" if key == "dpsi" else "C2" if key == "dvendi" else "C1")
        ax.vlines(best["bin"], low, high, color="k", lw=0.9)  # a bootstrap interval need not hold the mean
        ax.axhline(0, color="0.4", lw=0.8)
        ax.set_xlabel(r"baseline $\psi$ bin (low → high)")
        ax.set_title(label, fontsize=9)
    if "control dpsi mean" in best:
        axes[0].scatter(
            best["bin"],
            best["control dpsi mean"],
            marker="D",
            s=14,
            color="white",
            edgecolor="k",
            zorder=3,
            label="shuffled-label reward",
        )
        axes[0].legend(fontsize=6, loc="best")
    for b, scale in zip(best["bin"], best["scale"], strict=True):
        axes[0].annotate(
            f"s={scale:g}", (b, 0), xytext=(0, -10), textcoords="offset points", ha="center", fontsize=6
        )
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
