"""The tree's rules: modules stay short, no study imports another, a study asks for another notebook's
model through the model's settings."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted((ROOT / "geomlib").rglob("*.py"))
STUDIES = sorted((ROOT / "geomlib" / "studies").rglob("*.py"))


def _study_of(path: Path) -> str | None:
    parts = path.relative_to(ROOT / "geomlib" / "studies").with_suffix("").parts
    return None if parts[0] == "__init__" else parts[0]


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of the geomlib modules (and names) ``path`` imports."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.update(f"{module}.{alias.name}" for alias in node.names)
            names.add(module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_600_lines(path):
    assert len(path.read_text().splitlines()) <= 600


@pytest.mark.parametrize("path", [p for p in STUDIES if _study_of(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_no_study_imports_another_study(path):
    own = _study_of(path)
    for name in _imported_modules(path):
        match = re.match(r"geomlib\.studies\.(\w+)", name)
        assert match is None or match.group(1) == own, f"{path.name} imports {name}"


# The one study that reads another notebook's settings: reward guidance measures psi of the toy model
# with the toy notebook's map, polytope and grid, so the two notebooks' psi are the same numbers
# (and their cache is shared). Any other model is asked for through its settings (XSettings.preset).
ALLOWED_PRESETS = {("reward_guidance", "toy_ddpm")}


@pytest.mark.parametrize("path", [p for p in STUDIES if _study_of(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_a_study_asks_for_another_notebooks_model_through_the_models_settings(path):
    own = _study_of(path)
    for match in re.finditer(r"presets\.resolve\(\s*\"(\w+)\"", path.read_text()):
        assert (own, match.group(1)) in ALLOWED_PRESETS, f"{path.name} resolves {match.group(1)}'s presets"


PACKAGES = sorted(p.parent for p in (ROOT / "geomlib" / "studies").glob("*/__init__.py"))


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_a_study_package_offers_every_public_function_of_its_parts(package):
    """A notebook calls ``study.name`` whichever part of the package defines it."""
    import importlib

    study = importlib.import_module(f"geomlib.studies.{package.name}")
    for part in package.glob("*.py"):
        names = re.findall(r"^(?:def|class) ([A-Za-z]\w*)", part.read_text(), re.M)
        missing = [name for name in names if not hasattr(study, name)]
        assert not missing, f"{part.name}: {missing}"
