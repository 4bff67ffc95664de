"""Loading pretrained diffusers pipelines: a local folder, the local hub cache, then (if allowed) the hub."""

from __future__ import annotations

from .io import project_path

__all__ = ["MissingWeightsError", "load_pipeline"]


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
