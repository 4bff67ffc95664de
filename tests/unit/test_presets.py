"""Presets: one source of truth, overrides checked, and the notebooks' parameters in sync with it."""

import ast
from pathlib import Path

import jupytext
import pytest

from geomlib import presets

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("preset", presets.PRESET_NAMES)
def test_every_preset_resolves(preset):
    cfg = presets.resolve("toy_ddpm", preset)
    assert cfg.checkpoints[-1] == cfg.train_steps


def test_paper_preset_uses_the_paper_sizes():
    cfg = presets.resolve("toy_ddpm", "paper")
    assert cfg.train_steps == 125_000 and cfg.grid_size == 512


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        (dict(grid_sise=64), ValueError, "unknown parameter.*grid_sise"),
        (dict(grid_size="64"), TypeError, "grid_size must be int"),
        (dict(grid_size=True), TypeError, "grid_size must be int"),
        (dict(grid_size=1), ValueError, "grid_size must be an integer >= 2"),
        (dict(polytope_r=-0.1), ValueError, "polytope_r must be a number > 0"),
        (dict(polytope_k=3), ValueError, "polytope_k must be 1 or 2"),
        (dict(map_kind="score"), TypeError, "map_kind must be one of 'eps', 'x0', 'reverse_mean'"),
        (dict(checkpoints=(100, 50)), ValueError, "checkpoints must be increasing"),
        (dict(map_timesteps=(0, 1000)), ValueError, r"map_timesteps must be timesteps in \[0, 999\]"),
    ],
)
def test_bad_overrides_are_refused_with_the_key_named(overrides, error, match):
    with pytest.raises(error, match=match):
        presets.resolve("toy_ddpm", "smoke", **overrides)


def test_unknown_preset_and_notebook():
    with pytest.raises(ValueError, match="preset must be one of"):
        presets.resolve("toy_ddpm", "fast")
    with pytest.raises(ValueError, match="notebook must be one of"):
        presets.resolve("toy", "smoke")


def test_overrides_are_typed():
    cfg = presets.resolve("toy_ddpm", "smoke", checkpoints=[10, 300], learning_rate=1)
    assert cfg.checkpoints == (10, 300) and isinstance(cfg.learning_rate, float)


def test_from_notebook_takes_only_values_that_are_set():
    cfg = presets.from_notebook("toy_ddpm", "smoke", {"grid_size": 16, "seed": None, "unrelated": 1})
    assert cfg.grid_size == 16 and cfg.seed == presets.resolve("toy_ddpm", "smoke").seed


@pytest.mark.parametrize("notebook", sorted(presets.CONFIGS))
def test_notebook_parameters_are_preset_keys(notebook):
    """Each name in a notebook's parameters cell is `preset` or one of its settings, so none is ignored."""
    nb = jupytext.read(ROOT / "notebooks" / f"{notebook}.py")
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    names = {t.id for node in ast.parse(cells[0].source).body for t in node.targets}
    assert "preset" in names
    assert names - {"preset"} <= set(presets.parameter_names(notebook))
