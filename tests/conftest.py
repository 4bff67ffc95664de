"""Shared test set-up: CPU JAX, and caches and figures in scratch folders."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest


@pytest.fixture(autouse=True)
def scratch_folders(tmp_path, monkeypatch):
    """Point geomlib's cache and figure folders at a per-test scratch folder."""
    monkeypatch.setenv("GEOMLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GEOMLIB_FIGURES", str(tmp_path / "figures"))
    return tmp_path
