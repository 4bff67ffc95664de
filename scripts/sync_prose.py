"""Copy the Markdown of each notebook's jupytext source into its stored ``.ipynb``, outputs kept.

    python scripts/sync_prose.py [notebook ...]

For prose edits that change no result: a stored notebook is updated only
when its code cells are exactly those of the source (otherwise it must be
rerun, ``make <notebook>``, and this script says so). Markdown cells are
matched by position among the cells; added Markdown cells are inserted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geomlib.io import atomic_write  # noqa: E402


def _injected(cell) -> bool:
    return "injected-parameters" in cell.metadata.get("tags", [])  # papermill's, kept as stored


def code_sources(notebook) -> list[str]:
    return [c.source.strip() for c in notebook.cells if c.cell_type == "code" and not _injected(c)]


def sync(name: str) -> str:
    source = jupytext.read(ROOT / "notebooks" / f"{name}.py")
    stored_path = ROOT / "notebooks" / f"{name}.ipynb"
    stored = nbformat.read(stored_path, as_version=4)
    if code_sources(source) != code_sources(stored):
        return f"{name}: code differs from the stored run; rerun it (make {name})"
    stored_code = iter(c for c in stored.cells if c.cell_type == "code" and not _injected(c))
    injected = [c for c in stored.cells if _injected(c)]
    cells = []
    for cell in source.cells:
        if cell.cell_type == "code":
            cells.append(next(stored_code))  # the stored cell, with its outputs and metadata
            if "parameters" in cell.metadata.get("tags", []):
                cells.extend(injected)
        else:
            cells.append(nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata))
    changed = [c.source for c in cells if c.cell_type == "markdown"] != [
        c.source for c in stored.cells if c.cell_type == "markdown"
    ]
    if not changed:
        return f"{name}: prose already in sync"
    stored.cells = cells
    with atomic_write(stored_path) as tmp:
        nbformat.write(stored, tmp)
    return f"{name}: prose updated"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="names (default: every notebook with a stored run)")
    args = parser.parse_args()
    names = args.notebooks or sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    for name in names:
        print(sync(name))


if __name__ == "__main__":
    main()
