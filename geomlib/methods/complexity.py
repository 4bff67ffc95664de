"""Visual complexity of an image, measured without any model.

The paper and its rebuttal read the local-scaling level sets as increasing
"visual complexity" (the rebuttal: "local scaling and rank are both correlated
with visual complexity in the qualitative results"), a word they do not
define. Two standard model-free measures make it a number:

- ``compressed_size``: bytes of the 8-bit image after lossless DEFLATE
  compression (zlib, level 9). A compressor spends bytes on what it cannot
  predict, so the size approximates the image's algorithmic information; it
  is the usual compression-based complexity measure (e.g. Machado et al.,
  "Computerized measures of visual complexity", Acta Psychologica 2015). It
  is the primary measure: nothing in it is tuned.
- ``spatial_information``: the standard deviation of the Sobel gradient
  magnitude over the image's luminance (ITU-T P.910's SI), the amount of
  edges and texture; reported beside it.

Both take images as ``(n, H, W)`` or ``(n, H, W, C)`` (or ``(n, C, H, W)``
with ``C`` in 1 or 3) with values in [0, 1].

On digits drawn on black, compressed size, the distance to the nearest
training image, blur and psi all grow with how much ink an image has, so a
correlation of psi with "complexity" may only say "more ink".
``image_proxies`` therefore reports, beside the two measures, the two
confounds a decision controls for (a partial correlation given them): the
mean intensity, and the share of pixels that are neither black nor white.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["CONFOUNDS", "compressed_size", "image_proxies", "spatial_information"]


def _luminance(images: np.ndarray) -> np.ndarray:
    """``(n, H, W)`` luminance in [0, 1] of images in any of the accepted layouts."""
    images = np.asarray(images, np.float64)
    if images.ndim == 3:
        return images
    if images.ndim == 4 and images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3):
        images = np.moveaxis(images, 1, -1)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"images must be (n, H, W), (n, H, W, C) or (n, C, H, W) with C in 1 or 3; got {images.shape}"
        )
    if images.shape[-1] == 1:
        return images[..., 0]
    return images @ np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 luma weights


def compressed_size(images: np.ndarray) -> np.ndarray:
    """Bytes of each image's 8-bit luminance after zlib (DEFLATE) compression at level 9."""
    pixels = np.clip(np.rint(_luminance(images) * 255), 0, 255).astype(np.uint8)
    return np.array([len(zlib.compress(image.tobytes(), 9)) for image in pixels], dtype=np.float64)


def spatial_information(images: np.ndarray) -> np.ndarray:
    """ITU-T P.910 spatial information: the standard deviation of the Sobel gradient magnitude of each
    image's luminance (0-255 scale), over the pixels away from the border."""
    from scipy import ndimage

    luminance = _luminance(images) * 255
    out = np.empty(len(luminance))
    for i, image in enumerate(luminance):
        gradient = np.hypot(ndimage.sobel(image, axis=0), ndimage.sobel(image, axis=1))[1:-1, 1:-1]
        out[i] = gradient.std()
    return out


CONFOUNDS = ("mean intensity", "unsaturated share")  # what a visual-complexity test controls for


def image_proxies(images: np.ndarray) -> dict[str, np.ndarray]:
    """Per image: the two complexity measures and the two confounds (``CONFOUNDS``): mean luminance in
    [0, 1], and the share of pixels whose luminance lies strictly between 0.1 and 0.9."""
    luminance = _luminance(images)
    flat = luminance.reshape(len(luminance), -1)
    return {
        "compressed size": compressed_size(images),
        "spatial information": spatial_information(images),
        "mean intensity": flat.mean(axis=1),
        "unsaturated share": ((flat > 0.1) & (flat < 0.9)).mean(axis=1),
    }
