"""Copy the Markdown of each notebook's jupytext source into its stored ``.ipynb``, outputs kept.

    python scripts/sync_prose.py [notebook ...]

For prose edits that change no result: a stored notebook is updated only
when its code cells are exactly those of the source (otherwise it must be
rerun, ``make <notebook>``, and this script says so). Markdown cells are
matched by position among the cells; added Markdown cells are inserted.

``--imports`` also copies code cells that differ from the stored ones only in
their import statements (a module moved; nothing they print can change), into
the stored run and into its ``tests/golden`` reference; the nbval references
then show whether that held.
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


def _without_imports(source: str) -> str:
    import ast

    tree = ast.parse(source)
    lines = source.splitlines()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            for i in range(node.lineno - 1, node.end_lineno):
                lines[i] = ""
    return "\n".join(line for line in lines if line)


def sync_imports(name: str, stored_path: Path) -> str:
    """Copy the source's code cells into ``stored_path`` where they differ only in imports."""
    source = jupytext.read(ROOT / "notebooks" / f"{name}.py")
    stored = nbformat.read(stored_path, as_version=4)
    new_code, old_code = code_sources(source), code_sources(stored)
    if len(new_code) != len(old_code) or any(
        _without_imports(a) != _without_imports(b) for a, b in zip(new_code, old_code, strict=True)
    ):
        return f"{stored_path}: code differs beyond imports; rerun it"
    if new_code == old_code:
        return f"{stored_path}: imports already in sync"
    cells = iter(new_code)
    for cell in stored.cells:
        if cell.cell_type == "code" and not _injected(cell):
            cell.source = next(cells)
    with atomic_write(stored_path) as tmp:
        nbformat.write(stored, tmp)
    return f"{stored_path}: imports updated"


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
    parser.add_argument("--imports", action="store_true", help="also copy code cells changed only in imports")
    args = parser.parse_args()
    names = args.notebooks or sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    for name in names:
        if args.imports:
            for stored_path in (
                ROOT / "notebooks" / f"{name}.ipynb",
                ROOT / "tests" / "golden" / f"{name}.ipynb",
            ):
                print(sync_imports(name, stored_path))
        print(sync(name))


if __name__ == "__main__":
    main()
