"""Image similarity for copy detection: pixel cosine, or SSCD embeddings (Pizzi et al., CVPR 2022) by path."""

from __future__ import annotations

import numpy as np

from ..io import project_path

__all__ = ["Similarity", "to_unit"]


def to_unit(images: np.ndarray) -> np.ndarray:
    """[-1, 1] pixels to [0, 1] (clipped), so a blank background is zero and cosine means overlap."""
    return np.clip((np.asarray(images) + 1) / 2, 0, 1)


class Similarity:
    """Images in [-1, 1] to the vectors whose cosine is "similarity": pixels in [0, 1], or SSCD embeddings.

    SSCD (Pizzi et al., CVPR 2022) is the copy-detection model the papers use
    with a 0.6 threshold; give its TorchScript file by local path.
    """

    def __init__(self, sscd_model: str | None, side: int):
        self.side = side
        self.model = None
        if sscd_model is not None:
            import torch

            path = project_path(sscd_model)
            if not path.is_file():
                raise FileNotFoundError(
                    f"sscd_model {str(path)!r} does not exist: download sscd_disc_mixup.torchscript.pt from "
                    f"github.com/facebookresearch/sscd-copy-detection and give its path, or set "
                    f"sscd_model=None to compare pixels"
                )
            self.model = torch.jit.load(str(path)).eval()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        pixels = to_unit(images)
        if self.model is None:
            return pixels
        import torch

        x = (
            torch.as_tensor(pixels, dtype=torch.float32)
            .reshape(-1, 1, self.side, self.side)
            .repeat(1, 3, 1, 1)
        )
        x = torch.nn.functional.interpolate(x, size=224, mode="bilinear", align_corners=False)
        mean = torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
        with torch.no_grad():
            return torch.cat([self.model((part - mean) / std) for part in x.split(64)]).numpy()
