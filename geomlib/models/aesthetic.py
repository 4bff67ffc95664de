"""An aesthetic score from local files: CLIP image embeddings and the LAION aesthetic predictor head.

The predictor of Schuhmann et al. (github.com/christophschuhmann/improved-aesthetic-predictor,
e.g. ``sac+logos+ava1-l14-linearMSE.pth``) is a small MLP on the unit-normalised
image embedding of CLIP ViT-L/14 (OpenAI's ``encode_image``: the projected
pooled output, ``CLIPVisionModelWithProjection.image_embeds`` in transformers).
Its layers have no activations between them (dropout only), so the head is an
affine map of the embedding; it is kept as the published ``layers`` Sequential so
that its state dict loads as distributed.

Nothing is downloaded: the CLIP folder (``openai/clip-vit-large-patch14`` as
saved by transformers, or that hub id when it is in the local cache) and the
head file are given by path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..io import project_path

__all__ = ["AestheticPredictor", "LaionHead", "load_aesthetic_predictor"]

LAION_HIDDEN = (1024, 128, 64, 16)  # widths of the published head, input 768 for ViT-L/14


class LaionHead(torch.nn.Module):
    """The published head: Linear layers with dropout between the first four (state-dict keys layers.0..7)."""

    def __init__(self, input_size: int):
        super().__init__()
        widths = (input_size, *LAION_HIDDEN)
        dropouts = (0.2, 0.2, 0.1)
        layers: list[torch.nn.Module] = []
        for index, (width_in, width_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(torch.nn.Linear(width_in, width_out))
            if index < len(dropouts):
                layers.append(torch.nn.Dropout(dropouts[index]))
        layers.append(torch.nn.Linear(widths[-1], 1))
        self.layers = torch.nn.Sequential(*layers)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.layers(embeddings)


class AestheticPredictor:
    """``scores(images)``: predicted aesthetic rating (about 1..10) of RGB images in [0, 1], (N, H, W, 3)."""

    def __init__(self, vision, processor, head: LaionHead, description: str, batch: int = 32):
        self.vision = vision.eval()
        self.processor = processor
        self.head = head.eval().to(self.vision.device)
        self.description = description
        self.batch = batch

    @torch.no_grad()
    def embeddings(self, images: np.ndarray) -> np.ndarray:
        """Unit-norm CLIP image embeddings, (N, D); also the features of the cosine Vendi score."""
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be RGB of shape (N, H, W, 3) in [0, 1]; got shape {images.shape}")
        parts = []
        for start in range(0, len(images), self.batch):
            pixels = self.processor(
                images=list(images[start : start + self.batch]), do_rescale=False, return_tensors="pt"
            ).pixel_values
            embeds = self.vision(pixel_values=pixels.to(self.vision.device)).image_embeds
            parts.append(torch.nn.functional.normalize(embeds, dim=-1).float().cpu())
        return torch.cat(parts).numpy()

    @torch.no_grad()
    def head_scores(self, embeddings: np.ndarray) -> np.ndarray:
        """The head alone, on unit-norm embeddings."""
        x = torch.as_tensor(np.asarray(embeddings, np.float32), device=self.vision.device)
        return self.head(x)[:, 0].cpu().numpy()

    def scores(self, images: np.ndarray) -> np.ndarray:
        return self.head_scores(self.embeddings(images))


def _read_state_dict(path: Path) -> dict:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    return torch.load(path, map_location="cpu", weights_only=True)


def load_aesthetic_predictor(
    clip: str | None, head: str | None, device: str | None = None
) -> AestheticPredictor:
    """CLIP vision tower plus LAION head from disk; errors name ``aesthetic_clip`` or ``aesthetic_head``.

    ``clip``: a transformers CLIP folder (a full ``CLIPModel`` checkpoint or a
    vision-only one; its ``preprocessor_config.json`` is used when present) or
    a hub id already in the local cache. ``head``: the head's ``.pth`` (or
    ``.safetensors``) state dict.
    """
    import transformers
    from transformers import AutoConfig, CLIPConfig, CLIPImageProcessor, CLIPVisionModelWithProjection

    for name, value in (("aesthetic_clip", clip), ("aesthetic_head", head)):
        if not value:
            raise ValueError(
                f"{name} must name a local file or folder of the aesthetic predictor "
                f"(CLIP ViT-L/14 folder and the LAION head .pth); got {value!r}"
            )
    head_path = project_path(head)
    if not head_path.is_file():
        raise FileNotFoundError(
            f"aesthetic_head {str(head_path)!r} does not exist; download sac+logos+ava1-l14-linearMSE.pth "
            f"from github.com/christophschuhmann/improved-aesthetic-predictor and give its path"
        )
    clip_path = project_path(clip)
    source = clip_path if clip_path.is_dir() else clip
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # the PIL fallback of CLIPImageProcessor warns on every load
    try:
        config = AutoConfig.from_pretrained(source, local_files_only=True)
        if isinstance(config, CLIPConfig):  # a full checkpoint: its projection width is set at the top level
            config.vision_config.projection_dim = config.projection_dim
            config = config.vision_config
        vision = CLIPVisionModelWithProjection.from_pretrained(source, config=config, local_files_only=True)
        try:
            processor = CLIPImageProcessor.from_pretrained(source, local_files_only=True)
        except (
            OSError
        ):  # a folder without preprocessor_config.json: OpenAI's preprocessing at the model's size
            size = vision.config.image_size
            processor = CLIPImageProcessor(
                size={"shortest_edge": size}, crop_size={"height": size, "width": size}
            )
    except OSError:
        raise FileNotFoundError(
            f"aesthetic_clip {clip!r} is neither a CLIP folder nor a hub id in the local cache; save "
            f"openai/clip-vit-large-patch14 with transformers elsewhere and give the folder"
        ) from None
    finally:
        transformers.logging.set_verbosity(verbosity)
    state = _read_state_dict(head_path)
    width = vision.config.projection_dim
    if "layers.0.weight" not in state or state["layers.0.weight"].shape[1] != width:
        found = tuple(state["layers.0.weight"].shape) if "layers.0.weight" in state else sorted(state)[:4]
        raise ValueError(
            f"aesthetic_head {str(head_path)!r} is not a LAION head for {width}-dimensional CLIP embeddings "
            f"(expected layers.0.weight of shape (1024, {width})); found {found}"
        )
    mlp = LaionHead(width)
    mlp.load_state_dict(state)
    vision.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return AestheticPredictor(
        vision, processor, mlp, f"LAION aesthetic head ({head_path.name}) on CLIP ({clip})"
    )
