"""Rerunning a notebook keeps what is stored: only the `default` run writes figures/."""

import hashlib
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tracked_figures() -> dict[str, str]:
    names = subprocess.run(
        ["git", "ls-files", "figures"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return {name: hashlib.sha256((ROOT / name).read_bytes()).hexdigest() for name in names}


def test_a_smoke_run_as_in_jupyterlab_leaves_the_stored_figures_as_they_are(tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    if not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout to know which figures are stored")
    before = tracked_figures()
    smoke = ROOT / "figures" / "smoke"
    existing = set(smoke.glob("*.png")) if smoke.exists() else set()
    monkeypatch.delenv("GEOMLIB_FIGURES")  # as in JupyterLab: the notebook decides where its figures go
    try:
        papermill.execute_notebook(
            str(ROOT / "notebooks" / "your_own_model.ipynb"),
            str(tmp_path / "run.ipynb"),
            parameters={"preset": "smoke"},
            kernel_name="geomlib",
            cwd=str(ROOT / "notebooks"),
            progress_bar=False,
        )
        written = set(smoke.glob("yom_*.png")) - existing
        assert {p.name for p in written} >= {"yom_torch_slice.png", "yom_flax_slice.png"}
        assert tracked_figures() == before  # nothing stored was overwritten
    finally:
        for path in set(smoke.glob("*.png")) - existing:
            path.unlink()
        if smoke.exists() and not any(smoke.iterdir()):
            smoke.rmdir()
