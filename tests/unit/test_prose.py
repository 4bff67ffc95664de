"""Checks that catch prose restating a setting wrongly (the slips a reader found in the stored readings)."""

import re
from pathlib import Path

from geomlib import presets

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def prose(name: str) -> str:
    """The Markdown of a notebook's jupytext source, one string."""
    lines = (NOTEBOOKS / f"{name}.py").read_text().splitlines()
    return " ".join(line[2:] for line in lines if line.startswith("# ") and not line.startswith("# %%"))


def test_the_vae_reading_names_the_default_latent_size_and_architecture():
    cfg = presets.resolve("vae_mnist", "default")
    text = prose("vae_mnist")
    sizes = {int(n) for n in re.findall(r"(\d+)-dimensional latent", text)}
    assert sizes == {cfg.latent_dim}, f"the prose names latent sizes {sizes}; the default is {cfg.latent_dim}"
    said = {"conv": "convolutional", "mlp": "MLP"}[cfg.architecture]
    assert said in text and not re.search(r"has an (MLP|dense) encoder and decoder", text)


def test_the_paper_s_sketch_size_is_quoted_as_the_paper_gives_it():
    """The paper's Stable Diffusion sketch has k = 120 rows; a notebook's own k is not 'the paper's'."""
    for path in NOTEBOOKS.glob("*.py"):
        text = prose(path.stem)
        for k in re.findall(r"the paper's k = (\d+)", text):
            assert k == "120", f"{path.name} calls k = {k} the paper's sketch size (the paper: k = 120)"
