"""Erase a region of a picture (a watermark, a signature, a date stamp) in a copy used for training.

People paint over such marks in Photoshop today; here the user paints the region in the mask
painter and LoRA Studio fills it from the surrounding pixels. The original file is never touched:
the filled picture is a separate PNG that training, captioning and the kohya export use instead.

The fill is a push-pull ("pull-push") interpolation: the known pixels are averaged down a pyramid of
halving resolutions until every hole is covered, then the coarse levels are blended back up into the
holes, so colours flow smoothly in from every side of the region (a soft, content-aware blur, good
for text and logos over skin, sky, walls or cloth). A fine noise taken from the picture's own grain
is added so the patch does not look plastic next to photographic noise. Qt-free and torch-free.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from lora_studio.core.errors import DatasetError

# A region pixel counts as "to erase" from this value up (0-255); softer brush edges below it are
# blended between the original and the fill, so the patch has no hard seam.
ERASE_THRESHOLD = 8


def _halve(a: np.ndarray) -> np.ndarray:
    """Sum 2×2 blocks (odd edges padded with zeros): [h, w, c] -> [ceil(h/2), ceil(w/2), c]."""
    h, w = a.shape[:2]
    if h % 2 or w % 2:
        a = np.pad(a, ((0, h % 2), (0, w % 2), (0, 0)))
    return a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]


def _double(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear-ish upsampling of a coarse level to ``shape`` (repeat, then a 3-tap smooth)."""
    up = np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)[: shape[0], : shape[1]]
    if min(up.shape[:2]) >= 3:
        up = (np.roll(up, 1, 0) + 2 * up + np.roll(up, -1, 0)) / 4
        up = (np.roll(up, 1, 1) + 2 * up + np.roll(up, -1, 1)) / 4
    return up


def push_pull_fill(pixels: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill the pixels where ``known`` is 0 from the known ones around them.

    ``pixels``: float32 [h, w, c]; ``known``: float32 [h, w] weights in 0..1. Returns [h, w, c];
    known pixels keep their values.
    """
    if pixels.ndim != 3 or known.shape != pixels.shape[:2]:
        raise ValueError("pixels must be [h, w, c] and known [h, w]")
    weight = known[..., None].astype(np.float32)
    levels = [(pixels * weight, weight)]
    while min(levels[-1][1].shape[:2]) > 1 and not (levels[-1][1] > 0).all():
        color, w = levels[-1]
        levels.append((_halve(color), _halve(w)))
    # Top of the pyramid: the average colour where anything is known (grey if nothing is).
    color, w = levels[-1]
    if not (w > 0).any():
        return np.full_like(pixels, 0.5)
    filled = np.where(w > 0, color / np.maximum(w, 1e-8), (color.sum((0, 1)) / w.sum((0, 1))))
    for color, w in reversed(levels[:-1]):
        up = _double(filled, w.shape[:2])
        own = color / np.maximum(w, 1e-8)
        trust = np.clip(w, 0.0, 1.0)
        filled = trust * own + (1.0 - trust) * up
    return filled


def _grain(pixels: np.ndarray, known: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Noise with the strength of the picture's fine grain near the region (per channel)."""
    blurred = _double(_halve(pixels) / 4, pixels.shape[:2])
    detail = pixels - blurred
    sel = known > 0.5
    if sel.sum() < 16:
        return np.zeros_like(pixels)
    std = detail[sel].std(axis=0)
    return rng.standard_normal(pixels.shape).astype(np.float32) * std * 0.6


def fill_region(image: Image.Image, region: Image.Image, *, seed: int = 0) -> Image.Image:
    """A copy of ``image`` with the painted part of ``region`` (white = erase) filled in.

    ``region`` must have the picture's size. An RGBA picture keeps its alpha channel (the erased
    region becomes opaque where the surroundings are). Raises :class:`DatasetError` on bad input.
    """
    if region.size != image.size:
        raise DatasetError(
            f"The erase region is {region.size[0]}×{region.size[1]} but the picture is "
            f"{image.size[0]}×{image.size[1]}.",
            hint="Paint the region again on the picture as shown (after any rotation).",
        )
    mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info else "RGB"
    picture = image.convert(mode)
    grey = region.convert("L")
    box = grey.point(lambda v: 255 if v >= ERASE_THRESHOLD else 0).getbbox()
    if box is None:
        return picture
    # Work on the region's neighbourhood only: far pixels barely change the fill, and a 24 MP photo
    # with a small watermark then takes a fraction of a second instead of seconds.
    left, top, right, bottom = box
    margin = max(right - left, bottom - top) // 2 + 48
    area = (
        max(0, left - margin),
        max(0, top - margin),
        min(picture.width, right + margin),
        min(picture.height, bottom + margin),
    )
    patch = _fill(picture.crop(area), grey.crop(area), mode, seed)
    out = picture.copy()
    out.paste(patch, area[:2])
    return out


def _fill(picture: Image.Image, region: Image.Image, mode: str, seed: int) -> Image.Image:
    src = np.asarray(picture, dtype=np.float32) / 255.0
    amount = np.asarray(region, dtype=np.float32) / 255.0
    known = (amount * 255 < ERASE_THRESHOLD).astype(np.float32)
    if mode == "RGBA":
        # Fill colours weighted by opacity so transparent pixels do not bleed black into the patch.
        alpha = src[..., 3:]
        premul = np.concatenate([src[..., :3] * alpha, alpha], axis=2)
        filled = push_pull_fill(premul, known)
        a = np.clip(filled[..., 3:], 1e-6, 1.0)
        filled = np.concatenate([filled[..., :3] / a, filled[..., 3:]], axis=2)
    else:
        filled = push_pull_fill(src, known)
    grain = _grain(src, known, np.random.default_rng(seed))
    if mode == "RGBA":
        grain[..., 3] = 0
    filled = filled + grain * (1.0 - known[..., None])
    blend = amount[..., None]
    out = src * (1.0 - blend) + filled * blend
    return Image.fromarray(np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8), mode=mode)


def region_is_empty(region: Image.Image | None) -> bool:
    """True when nothing is painted (then there is nothing to erase)."""
    if region is None:
        return True
    low_high = region.convert("L").getextrema()
    assert isinstance(low_high, tuple) and isinstance(low_high[1], int | float)  # one band: (min, max)
    return low_high[1] < ERASE_THRESHOLD
