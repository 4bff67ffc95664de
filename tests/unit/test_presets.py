"""Presets: one source of truth, overrides checked, and the notebooks' parameters in sync with it."""

import ast
from pathlib import Path

import jupytext
import pytest

from geomlib import presets

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("notebook", sorted(presets.NOTEBOOKS))
@pytest.mark.parametrize("preset", presets.PRESET_NAMES)
def test_every_notebook_and_preset_resolves(notebook, preset):
    cfg = presets.resolve(notebook, preset)
    assert type(cfg) is presets.config_class(notebook)
    assert set(vars(cfg)) == set(presets.parameter_names(notebook))


def test_paper_preset_uses_the_paper_sizes():
    cfg = presets.resolve("toy_ddpm", "paper")
    assert cfg.train_steps == 125_000 and cfg.grid_size == 512


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        (dict(grid_sise=64), ValueError, "unknown parameter.*grid_sise"),
        (dict(grid_size="64"), TypeError, "grid_size must be int"),
        (dict(grid_size=True), TypeError, "grid_size must be int"),
        (dict(grid_size=1), ValueError, "grid_size must be >= 2; got 1"),
        (dict(polytope_r=-0.1), ValueError, "polytope_r must be > 0"),
        (dict(polytope_k=3), ValueError, r"polytope_k must be in \[1, 2\]"),
        (dict(map_kind="score"), TypeError, "map_kind must be one of 'eps', 'x0', 'reverse_mean'"),
        (dict(checkpoints=(100, 50)), ValueError, "checkpoints must be a strictly increasing list"),
        (dict(checkpoints=(100, 200)), ValueError, "checkpoints must be steps ending at train_steps=300"),
        (dict(map_timesteps=(0, 1000)), ValueError, r"map_timesteps must be timesteps in \[0, 999\]"),
    ],
)
def test_bad_overrides_are_refused_with_the_key_named(overrides, error, match):
    with pytest.raises(error, match=match):
        presets.resolve("toy_ddpm", "smoke", **overrides)


@pytest.mark.parametrize(
    "notebook, overrides, match",
    [
        ("dit", dict(sketch_k=-1), "sketch_k must be >= 1; got -1"),
        ("local_intrinsic_dimension", dict(lid_timestep=1000), r"lid_timestep must be in \[0, 999\]"),
    ],
)
def test_an_optional_setting_keeps_its_rules_when_given_a_value(notebook, overrides, match):
    """``Annotated[int, rule] | None``: None is accepted, a value must meet the rule."""
    with pytest.raises(ValueError, match=match):
        presets.resolve(notebook, "smoke", **overrides)
    assert (
        getattr(presets.resolve(notebook, "smoke", **dict.fromkeys(overrides)), next(iter(overrides))) is None
    )


def test_unknown_preset_and_notebook():
    with pytest.raises(ValueError, match="preset must be one of"):
        presets.resolve("toy_ddpm", "fast")
    with pytest.raises(ValueError, match="notebook must be one of"):
        presets.resolve("toy", "smoke")


def test_overrides_are_typed():
    cfg = presets.resolve("toy_ddpm", "smoke", checkpoints=[10, 300], learning_rate=1)
    assert cfg.checkpoints == (10, 300) and isinstance(cfg.learning_rate, float)


def test_from_notebook_takes_only_values_that_are_set():
    namespace = {"grid_size": 16, "seeds": presets.PRESET, "unrelated": 1}
    cfg = presets.from_notebook("toy_ddpm", "smoke", namespace)
    assert cfg.grid_size == 16 and cfg.seeds == presets.resolve("toy_ddpm", "smoke").seeds


def test_none_is_a_value_not_the_preset():
    """`-p sscd_model None` must switch SSCD off under `paper`, where the preset names a file."""
    assert presets.resolve("hidden_gaussian", "paper").sscd_model is not None
    cfg = presets.from_notebook("hidden_gaussian", "paper", {"sscd_model": None})
    assert cfg.sscd_model is None
    with pytest.raises(TypeError, match="seeds must be a list of int"):
        presets.from_notebook("toy_ddpm", "smoke", {"seeds": None})


def test_preset_marker_survives_a_copy():
    import copy
    import pickle

    assert copy.deepcopy(presets.PRESET) is presets.PRESET
    assert pickle.loads(pickle.dumps(presets.PRESET)) is presets.PRESET


@pytest.mark.parametrize("notebook", sorted(presets.NOTEBOOKS))
def test_notebook_parameters_are_preset_keys(notebook):
    """Each name in a notebook's parameters cell is `preset` or one of its settings, so none is ignored."""
    nb = jupytext.read(ROOT / "notebooks" / f"{notebook}.py")
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    assignments = [node for node in ast.parse(cells[0].source).body if isinstance(node, ast.Assign)]
    values = {target.id: node.value for node in assignments for target in node.targets}
    assert "preset" in values
    assert set(values) - {"preset"} <= set(presets.parameter_names(notebook))
    # every setting starts at the preset's value; only papermill or the reader replaces it
    assert all(isinstance(v, ast.Name) and v.id == "PRESET" for name, v in values.items() if name != "preset")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("grid_size", "-3", "grid_size must be >= 2; got -3"),
        ("learning_rate", "nan", "learning_rate must be a finite float; got nan"),
        ("learning_rate", "1e999", "learning_rate must be a finite float; got inf"),
        ("seeds", "()", "seeds must be a non-empty list; got ()"),
        ("grid_size", "'large'", "grid_size must be int; got 'large'"),
    ],
)
def test_the_notebook_runner_answers_a_bad_parameter_in_one_line(name, value, message, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "run_notebook.py"
    output = tmp_path / "toy.ipynb"
    command = [sys.executable, str(script), "toy_ddpm", "-p", name, value, "--output", str(output)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith(message) and "Traceback" not in done.stderr
    assert not output.exists()


@pytest.mark.parametrize("notebook", sorted(presets.NOTEBOOKS))
def test_every_setting_and_its_values_are_declared_once(notebook):
    """Each class of a config's hierarchy gives values only for the fields it declares itself, every
    field has a `default` value, and no field is declared twice (a model setting lives in the model)."""
    cls = presets.config_class(notebook)
    owners = {}
    for klass in cls.__mro__:
        own = set(klass.__dict__.get("__annotations__", {})) - {"PRESETS"}
        for name in own:
            assert name not in owners, f"{name} is declared by {klass.__name__} and {owners[name]}"
            owners[name] = klass.__name__
        table = klass.__dict__.get("PRESETS")
        if table:
            assert set(table) <= set(presets.PRESET_NAMES)
            for values in table.values():
                assert set(values) <= own, f"{klass.__name__} gives values for {set(values) - own}"
            assert set(table["default"]) == own, (
                f"{klass.__name__}: default lacks {own - set(table['default'])}"
            )
