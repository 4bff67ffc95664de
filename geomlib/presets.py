"""The notebooks' named presets: a registry.

- ``smoke``: seconds to a minute on a 2-core CPU; what the tests run.
- ``default``: a few minutes per notebook on a 2-core CPU, offline; what
  ``make figures`` runs.
- ``paper``: the paper's settings; meant for a GPU.

Each notebook's settings are a typed dataclass declared at the top of its
study module (``geomlib.studies.<notebook>``), one commented line a setting
with its allowed values (``geomlib.settings``), and the values of each preset
beside them (its ``PRESETS``). Settings of a model that several notebooks use
are declared once, with their values, in the model's file; the notebook's
config inherits them. ``resolve`` merges a preset with overrides and rejects
unknown keys, wrong types and values that make no sense with a sentence
naming the key.
"""

from __future__ import annotations

import importlib

from .io import note_notebook_run
from .settings import PRESET, PRESET_NAMES, Settings

__all__ = [
    "NOTEBOOKS",
    "PRESET",
    "PRESET_NAMES",
    "config_class",
    "from_notebook",
    "parameter_names",
    "resolve",
]

NOTEBOOKS = {
    "toy_ddpm": "ToyDDPMConfig",
    "vae_mnist": "VAEMNISTConfig",
    "dit": "DiTConfig",
    "stable_diffusion": "SDConfig",
    "hidden_gaussian": "HiddenGaussianConfig",
    "reward_guidance": "RewardConfig",
    "local_intrinsic_dimension": "LIDConfig",
    "subspace_editing": "EditingConfig",
    "your_own_model": "YourOwnModelConfig",
}
"""Per notebook: the name of its config class in ``geomlib.studies.<notebook>``."""


def config_class(notebook: str) -> type[Settings]:
    """The settings class of ``notebook`` (its study module is imported on first use)."""
    if notebook not in NOTEBOOKS:
        raise ValueError(f"notebook must be one of {sorted(NOTEBOOKS)}; got {notebook!r}")
    return getattr(importlib.import_module(f"geomlib.studies.{notebook}"), NOTEBOOKS[notebook])


def parameter_names(notebook: str) -> list[str]:
    """The settings of ``notebook``, each a papermill parameter."""
    return config_class(notebook).names()


def resolve(notebook: str, preset: str = "default", **overrides):
    """The preset's settings with ``overrides`` applied, typed and checked."""
    cls = config_class(notebook)
    if preset not in PRESET_NAMES:
        raise ValueError(f"preset must be one of {PRESET_NAMES}; got {preset!r}")
    unknown = sorted(set(overrides) - set(cls.names()))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for {notebook}; allowed: {sorted(cls.names())}")
    return cls.preset(preset, **overrides)


def from_notebook(notebook: str, preset: str, namespace: dict):
    """``resolve`` with a notebook's parameters: every setting not left at ``PRESET`` overrides the preset.

    A notebook's parameters cell sets each of its settings to ``PRESET``;
    papermill (or an edit) replaces any of them with a value, ``None``
    included where the setting allows it.
    """
    overrides = {
        name: namespace[name]
        for name in parameter_names(notebook)
        if name in namespace and namespace[name] is not PRESET
    }
    config = resolve(notebook, preset, **overrides)
    note_notebook_run(preset, bool(overrides), notebook)  # only the default run writes figures/ (geomlib.io)
    return config
