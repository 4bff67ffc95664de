"""The house rule for text in every saved figure (``plotting.savefig`` applies it)."""

from __future__ import annotations

import matplotlib.text

__all__ = ["SMALLEST_TEXT", "readable_text"]

# One rule for text sizes, applied to every saved figure (``readable_text``): no text smaller than
# SMALLEST_TEXT points (at the saved 130 dpi and a page-width figure, about 9 px), and the figure's title
# at least as large as any panel title below it, so the title is never the smallest text on the page.
SMALLEST_TEXT = 7.5


def readable_text(fig) -> None:
    """Raise every text of ``fig`` below ``SMALLEST_TEXT`` to it, and its title to the largest panel
    title's size (the house rule; ``tests/unit/test_plotting.py`` checks it on rendered figures)."""
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip()]
    for text in texts:
        if text.get_fontsize() < SMALLEST_TEXT:
            text.set_fontsize(SMALLEST_TEXT)
    suptitle = fig._suptitle
    if suptitle is not None and suptitle.get_text().strip():
        panels = [ax.title.get_fontsize() for ax in fig.axes if ax.get_title().strip()]
        if panels and suptitle.get_fontsize() < max(panels):
            suptitle.set_fontsize(max(panels))
