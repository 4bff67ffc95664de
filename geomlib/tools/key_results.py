"""The "Key results" box each notebook opens with: its primary claims' verdicts in words, from the ledger.

A notebook shows the box in its first code cell (:func:`key_results_box`), before anything has run;
its ledger cell at the end (``ledger.show_ledger``) fills it in place (IPython's ``update_display``),
from the same rows the ledger prints, so the two cannot drift: in a live JupyterLab session, in the
stored notebook and on the site alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["DISPLAY_ID", "key_results_box", "key_results_markdown", "update_key_results"]

DISPLAY_ID = "geomlib-key-results"
ORDER = ("reproduced", "not reproduced", "inconclusive")
PLACEHOLDER = "**Key results** appear here when the notebook has run to its claims ledger at the end."


def _in_words(claim: str) -> str:
    """The claim without its quotation (the ledger keeps the quote; the box keeps the finding)."""
    return re.split(r' \("| \(read | \(a reading', claim, maxsplit=1)[0].strip()


def key_results_markdown(verdicts: Sequence, preset: str | None = None, changed: bool = False) -> str:
    """The box: every primary claim (the rows the ledger's totals count) under its verdict; ``preset``
    (and whether a setting was ``changed``) names the run."""
    from .ledger import CLAIM

    primary = [v for v in verdicts if v.claim.kind == CLAIM]
    run = f"the `{preset.split()[0]}` run{preset[len(preset.split()[0]) :]}" if preset else "this run"
    lines = [
        f"**Key results of {run}**: the sources' claims this notebook tests, by verdict; each with its "
        "quote, criterion and numbers in the claims ledger at the end."
    ]
    for verdict in ORDER:
        rows = [v for v in primary if v.verdict == verdict]
        if rows:
            lines.append(f"\n*{verdict.capitalize()}* ({len(rows)}):\n")
            lines.extend(f"- {_in_words(v.claim.claim)}" for v in rows)
    if not primary:
        lines.append("\nNo claim of the sources is tested here (the ledger holds checks and questions).")
    return "\n".join(lines)


def key_results_box():
    """Show the box (a placeholder until the ledger cell fills it); a notebook's first code cell."""
    from IPython.display import Markdown, display

    display(Markdown(PLACEHOLDER), display_id=DISPLAY_ID)


def update_key_results(verdicts: Sequence) -> None:
    """Fill the box with the ledger's rows (``ledger.show_ledger`` calls this)."""
    from IPython.display import Markdown, update_display

    from .. import io

    preset, changed = io._notebook_run or (None, False)  # of the notebook running here, if any
    update_display(Markdown(key_results_markdown(verdicts, preset, changed)), display_id=DISPLAY_ID)
