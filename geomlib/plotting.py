"""Figures: one ``savefig`` and the plots the notebooks share.

``savefig("fig3_toy_psi_map")`` writes ``<figures>/fig3_toy_psi_map.png``
(the folder is set once, in ``geomlib.io``), atomically.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .io import atomic_write, figures_dir

__all__ = [
    "DESCRIPTOR_LABELS",
    "descriptor_image",
    "plot_contrast_curves",
    "plot_map_grid",
    "plot_samples",
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


def savefig(name: str, fig=None) -> str:
    """Save ``fig`` (default: the current figure) as ``<figures>/<name>.png``; returns the path."""
    if not name or "/" in name or name.endswith(".png"):
        raise ValueError(f"savefig name must be a bare file name without extension; got {name!r}")
    fig = fig or plt.gcf()
    path = figures_dir() / f"{name}.png"
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png")
    return str(path)


def _robust_limits(values: np.ndarray, low: float = 1, high: float = 99) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [low, high])
    return (float(lo), float(hi)) if hi > lo else (float(lo) - 0.5, float(hi) + 0.5)


def descriptor_image(
    ax, values: np.ndarray, limit: float, name: str, points=None, colorbar=True, title: str | None = None
):
    """Show a ``(H, W)`` map on ``[-limit, limit]^2``, colours clipped to the 1-99th percentiles."""
    vmin, vmax = _robust_limits(values)
    image = ax.imshow(
        values,
        extent=(-limit, limit, -limit, limit),
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
