"""Image corruptions: Gaussian blur, additive Gaussian noise and JPEG-like block-DCT quantization."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.fft import dctn, idctn

__all__ = ["CORRUPTIONS", "corrupt", "psnr"]

CORRUPTIONS = ("blur", "noise", "quantize")
BLOCK = 8  # JPEG's block size


def corrupt(images: np.ndarray, kind: str, severity: float, seed: int) -> np.ndarray:
    """A corrupted copy of images in [0, 1] (``(N, H, W)`` or ``(N, H, W, C)``), clipped to [0, 1].

    - ``"blur"``: Gaussian blur, ``severity`` = sigma in pixels (channels separately);
    - ``"noise"``: additive Gaussian noise of standard deviation ``severity`` (seeded);
    - ``"quantize"``: JPEG-like: the orthonormal 2D DCT of every 8 x 8 block rounded to
      multiples of ``severity`` (one step for every coefficient, no colour transform).
    """
    images = np.asarray(images, np.float32)
    if kind == "blur":
        sigma = (0, severity, severity) + ((0,) if images.ndim == 4 else ())
        out = ndimage.gaussian_filter(images, sigma=sigma, mode="reflect")
    elif kind == "noise":
        out = images + severity * np.random.default_rng(seed).standard_normal(images.shape, dtype=np.float32)
    elif kind == "quantize":
        out = _block_dct_quantize(images, severity)
    else:
        raise ValueError(f"kind must be one of {CORRUPTIONS}; got {kind!r}")
    return np.clip(out, 0, 1)


def _block_dct_quantize(images: np.ndarray, step: float) -> np.ndarray:
    if not step > 0:
        raise ValueError(f"the quantization step must be > 0; got {step!r}")
    height, width = images.shape[1:3]
    pad_h, pad_w = -height % BLOCK, -width % BLOCK
    padding = [(0, 0), (0, pad_h), (0, pad_w)] + [(0, 0)] * (images.ndim - 3)
    padded = np.pad(images, padding, mode="edge")
    h, w = padded.shape[1:3]
    blocks = padded.reshape(len(images), h // BLOCK, BLOCK, w // BLOCK, BLOCK, *images.shape[3:])
    coefficients = dctn(blocks, axes=(2, 4), norm="ortho")
    restored = idctn(np.round(coefficients / step) * step, axes=(2, 4), norm="ortho")
    return restored.reshape(padded.shape)[:, :height, :width].astype(np.float32)


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> np.ndarray:
    """Peak signal-to-noise ratio in dB of each pair ``a[i]``, ``b[i]`` (images in [0, peak])."""
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)).reshape(len(a), -1) ** 2, axis=1)
    return 10 * np.log10(peak**2 / np.maximum(mse, 1e-20))
