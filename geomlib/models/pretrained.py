"""Loading pretrained diffusers pipelines: a local folder, the local hub cache, then (if allowed) the hub."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

from ..io import project_path

__all__ = ["MissingWeightsError", "load_pipeline", "quiet_imports"]


@contextlib.contextmanager
def quiet_imports() -> Iterator[None]:
    """Silence, for this block only, chatter about optional parts the project never uses.

    Importing diffusers' pipelines makes transformers warn that its image
    processors would prefer torchvision, and tqdm warn in a notebook without
    ipywidgets. Both are restored on exit.
    """
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="IProgress not found")
            yield
    finally:
        logging.set_verbosity(verbosity)


class MissingWeightsError(RuntimeError):
    """Pretrained weights are neither on disk nor downloadable."""


def load_pipeline(pipeline_class, source: str, allow_download: bool, what: str, setting: str, **options):
    """``pipeline_class.from_pretrained`` from a local folder or a hub id (the local cache first).

    Raises ``MissingWeightsError`` with one sentence on what is missing and
    how to provide it, naming the notebook setting (e.g. ``"dit_model='/path/to/DiT-XL-2-256'"``).
    """
    local = project_path(source)
    try:
        if local.is_dir():
            return pipeline_class.from_pretrained(local, **options)
        try:
            return pipeline_class.from_pretrained(source, local_files_only=True, **options)
        except OSError:
            if not allow_download:
                raise
            return pipeline_class.from_pretrained(source, **options)
    except OSError:
        how = "with internet access and allow_download=True" if not allow_download else "with internet access"
        raise MissingWeightsError(
            f"The pretrained {what} weights '{source}' are not on this machine: run once {how} to fetch "
            f"them from the Hugging Face hub, or download the {pipeline_class.__name__} folder elsewhere and "
            f"set {setting}."
        ) from None
