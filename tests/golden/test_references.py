"""Regression references: every notebook's `smoke` run reproduces the summary stored beside it.

Each notebook's jupytext source runs with the `smoke` preset (papermill, the
project's kernel; caches and figures in a scratch folder), and its closing
summary (the cell tagged ``summary``), at full precision, is compared with the
one stored in ``tests/golden/<notebook>.ipynb`` leaf by leaf
(``geomlib.tools.report.summary_differences``): numbers within the stated
tolerance, verdicts, counts, strings and the structure exactly. A run that
fails in any cell fails here too. After an intended change of results,
``make golden`` rewrites the references; review their diff.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

# the notebooks share one session's cache (the reward notebook reads the toy, DiT and SD models),
# so `make test` runs them all on one worker (pytest-xdist)
pytestmark = pytest.mark.xdist_group("notebooks")

from geomlib.tools.report import ABSOLUTE_TOLERANCE, RELATIVE_TOLERANCE, summary_differences, summary_of

ROOT = Path(__file__).resolve().parents[2]
REFERENCES = sorted(path.stem for path in (ROOT / "tests" / "golden").glob("*.ipynb"))
KERNEL = "geomlib"  # installed into .venv by `make venv`


def test_every_notebook_has_a_reference():
    notebooks = sorted(path.stem for path in (ROOT / "notebooks").glob("*.py"))
    assert REFERENCES == notebooks, "run `make golden` to write the missing references"


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    """One cache for every reference run, as `make golden` has: the reward and editing notebooks load
    the smoke models the notebooks before them trained (the same numbers as training them again)."""
    return tmp_path_factory.mktemp("golden-cache")


@pytest.mark.parametrize("name", REFERENCES)
def test_a_smoke_run_reproduces_its_reference_summary(name, shared_cache, monkeypatch):
    import papermill

    monkeypatch.setenv("GEOMLIB_CACHE", str(shared_cache))
    executed = papermill.execute_notebook(
        jupytext.read(ROOT / "notebooks" / f"{name}.py"),
        None,
        parameters={"preset": "smoke"},
        kernel_name=KERNEL,
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )
    expected = summary_of(nbformat.read(ROOT / "tests" / "golden" / f"{name}.ipynb", as_version=4))
    differences = summary_differences(summary_of(executed), expected)
    assert not differences, (
        f"notebooks/{name}'s smoke summary departs from tests/golden/{name}.ipynb in "
        f"{len(differences)} place(s) (numbers compared within {ABSOLUTE_TOLERANCE:g} + "
        f"{RELATIVE_TOLERANCE:g} x |reference|; all else exactly):\n  "
        + "\n  ".join(differences[:30])
        + "\nAfter an intended change of results: make golden, and review the diff."
    )
