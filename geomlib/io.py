"""Where files go, and writing them so an interrupted run leaves nothing half-written.

Folders, each overridable by an environment variable (the tests point them at
temporary folders so a test run never touches the real figures or caches):

- ``GEOMLIB_ROOT``: the project root (default: the nearest parent of the
  working directory holding ``geomlib/`` and ``notebooks/``, else the folder
  above the installed package).
- ``GEOMLIB_FIGURES``: where ``savefig`` writes (default ``<root>/figures``).
- ``GEOMLIB_CACHE``: trained models and computed arrays (default ``<root>/data/cache``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = [
    "array_hash",
    "atomic_write",
    "cache_dir",
    "config_hash",
    "drop_if_damaged",
    "data_dir",
    "figures_dir",
    "figure_source",
    "note_notebook_run",
    "run_figures_dir",
    "project_path",
    "project_root",
]


def project_root() -> Path:
    if env := os.environ.get("GEOMLIB_ROOT"):
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "geomlib").is_dir() and (folder / "notebooks").is_dir():
            return folder
    return Path(__file__).resolve().parent.parent


def project_path(path: str | Path) -> Path:
    """A user-given path: ``~`` expanded, and a relative one taken from the project root (not the
    working directory, which is ``notebooks/`` when papermill runs a notebook)."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else project_root() / path


def data_dir() -> Path:
    return project_root() / "data"


_notebook_run: tuple[str, bool] | None = None  # (preset, overridden) of the notebook running here
_notebook_name: str | None = None  # and its name


def note_notebook_run(preset: str, overridden: bool, notebook: str | None = None) -> None:
    """Record the preset (and whether any setting was overridden) of the notebook running in this process,
    so its figures go where ``figures_dir`` says and say which run made them (``presets.from_notebook``
    calls this)."""
    global _notebook_run, _notebook_name
    _notebook_run = (preset, bool(overridden))
    _notebook_name = notebook


def figure_source() -> str | None:
    """What a saved figure names as its source: the notebook and preset running here (None outside one)."""
    if _notebook_run is None or _notebook_name is None:
        return None
    preset, overridden = _notebook_run
    return f"notebooks/{_notebook_name}.ipynb, preset {preset!r}" + (
        " with settings changed" if overridden else ""
    )


def run_figures_dir(preset: str, overridden: bool) -> Path:
    """Where a notebook run's figures go: ``figures/`` for the ``default`` run (what ``make figures``
    stores), ``figures/<preset>/`` for another preset, ``figures/custom/`` for a run with overridden
    settings; ``GEOMLIB_FIGURES`` overrides all three."""
    if os.environ.get("GEOMLIB_FIGURES"):
        return Path(os.environ["GEOMLIB_FIGURES"])
    base = project_root() / "figures"
    if overridden:
        return base / "custom"
    return base if preset == "default" else base / preset


def figures_dir() -> Path:
    """``run_figures_dir`` of the notebook running here (``figures/`` outside a notebook run)."""
    preset, overridden = _notebook_run or ("default", False)
    return run_figures_dir(preset, overridden)


def cache_dir() -> Path:
    return Path(os.environ.get("GEOMLIB_CACHE") or data_dir() / "cache")


def config_hash(config: dict, length: int = 12) -> str:
    """Short stable hash of a JSON-able config (key order does not matter)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def array_hash(array, length: int = 12) -> str:
    """Short hash of an array's dtype, shape and bytes."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()[:length]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success.

    The rename is atomic on one file system, so readers see the old file or the
    whole new one, and an interrupted write leaves no partial file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files private; use the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def drop_if_damaged(path: str | Path, reader) -> bool:
    """Whether ``path`` could be read by ``reader``; a damaged file is removed with a warning.

    Cached checkpoints are derived data: one that no longer reads (a disk
    error, a copy cut short) is recomputed rather than failing the run. A file
    that reads but does not fit the model is a different matter, left to the
    loader's own error.
    """
    path = Path(path)
    try:
        reader(path)
    except Exception as error:  # whatever the format's reader raises for a cut or corrupt file
        warnings.warn(
            f"cached checkpoint {path} is damaged ({type(error).__name__}); it is removed and recomputed",
            stacklevel=2,
        )
        path.unlink(missing_ok=True)
        return False
    return True
