"""Crop and aspect-ratio bucket maths. Pure functions: no files, no images, only numbers.

A bucket is a training size ``(width, height)`` whose area is close to ``base_res ** 2`` and whose
sides are multiples of ``step``. An image goes to the bucket with the nearest aspect ratio, is
scaled so that it covers the bucket, and is centre-cropped to it (kohya's behaviour).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lora_studio.dataset.items import CropBox

Size = tuple[int, int]

SQUARE_PRESETS: tuple[int, ...] = (512, 768, 1024)
ASPECT_PRESETS: dict[str, float] = {
    "1:1": 1.0,
    "4:5": 4 / 5,
    "3:4": 3 / 4,
    "2:3": 2 / 3,
    "9:16": 9 / 16,
    "5:4": 5 / 4,
    "4:3": 4 / 3,
    "3:2": 3 / 2,
    "16:9": 16 / 9,
}


def make_buckets(base_res: int, min_side: int, max_side: int, step: int = 64) -> tuple[Size, ...]:
    """All ``(w, h)`` with sides in [min_side, max_side], multiples of ``step``, area <= base_res².

    For each width the height is the largest multiple of ``step`` that keeps the area within the
    budget; both orientations are included, plus the square. Sorted by aspect ratio (tall first).
    """
    if step <= 0 or min_side <= 0 or max_side < min_side or base_res <= 0:
        raise ValueError("bucket sizes must be positive and min_side <= max_side")
    area = base_res * base_res
    square = max(step, (base_res // step) * step)
    found: set[Size] = {(square, square)}
    width = math.ceil(min_side / step) * step
    while width <= max_side:
        height = min(max_side, (area // width) // step * step)
        if height >= min_side:
            found.add((width, height))
            found.add((height, width))
        width += step
    return tuple(sorted(found, key=lambda s: (s[0] / s[1], s[0])))


SD15_BUCKETS: tuple[Size, ...] = make_buckets(512, 256, 1024, 64)
SDXL_BUCKETS: tuple[Size, ...] = make_buckets(1024, 512, 2048, 64)
# The sizes SDXL itself was fine-tuned on (SDXL report, appendix); a good short list for the UI.
SDXL_CLASSIC_BUCKETS: tuple[Size, ...] = (
    (640, 1536), (768, 1344), (832, 1216), (896, 1152), (1024, 1024),
    (1152, 896), (1216, 832), (1344, 768), (1536, 640),
)  # fmt: skip


def buckets_for(resolution: int, step: int = 64) -> tuple[Size, ...]:
    """Default buckets for a training resolution (sides from half to double of it)."""
    if resolution == 512:
        return SD15_BUCKETS
    if resolution == 1024:
        return SDXL_BUCKETS
    return make_buckets(resolution, max(step, resolution // 2), resolution * 2, step)


def nearest_bucket(width: int, height: int, buckets: tuple[Size, ...] | list[Size]) -> Size:
    """The bucket whose aspect ratio is closest to ``width / height`` (log scale; ties: larger area)."""
    if not buckets:
        raise ValueError("no buckets")
    if width <= 0 or height <= 0:
        raise ValueError("image size must be positive")
    target = math.log(width / height)
    return min(buckets, key=lambda b: (abs(math.log(b[0] / b[1]) - target), -b[0] * b[1]))


def center_crop_box(width: int, height: int, aspect: float) -> CropBox:
    """The largest box of aspect ``aspect`` (width / height) centred in a ``width`` x ``height`` image."""
    if width <= 0 or height <= 0 or aspect <= 0:
        raise ValueError("sizes and aspect must be positive")
    if width / height > aspect:  # too wide: keep full height
        w, h = max(1, min(width, round(height * aspect))), height
    else:
        w, h = width, max(1, min(height, round(width / aspect)))
    return CropBox((width - w) // 2, (height - h) // 2, w, h)


def fit_crop(crop: CropBox, width: int, height: int, aspect: float | None = None) -> CropBox:
    """Make ``crop`` valid for a ``width`` x ``height`` image.

    Sizes are clamped to the image (at least 1 px) and the box is moved inside it. With ``aspect``,
    the box is first shrunk around its centre to that aspect ratio (never grown past the image).
    """
    w = max(1, min(crop.width, width))
    h = max(1, min(crop.height, height))
    cx, cy = crop.x + crop.width / 2, crop.y + crop.height / 2
    if aspect is not None and aspect > 0:
        if w / h > aspect:
            w = max(1, round(h * aspect))
        else:
            h = max(1, round(w / aspect))
        w, h = min(w, width), min(h, height)
    x = min(max(0, round(cx - w / 2)), width - w)
    y = min(max(0, round(cy - h / 2)), height - h)
    return CropBox(x, y, w, h)


def crop_is_valid(crop: CropBox, width: int, height: int) -> bool:
    """True when the box has a positive size and lies inside the image."""
    return (
        crop.width > 0
        and crop.height > 0
        and crop.x >= 0
        and crop.y >= 0
        and crop.x + crop.width <= width
        and crop.y + crop.height <= height
    )


@dataclass(frozen=True, slots=True)
class TrainingSize:
    """How one picture becomes a training sample."""

    source: Size  # pixels used from the picture (after the crop, if any)
    bucket: Size  # the training size it is scaled and centre-cropped to
    scale: float  # > 1 means the picture is enlarged

    @property
    def upscaled(self) -> bool:
        return self.scale > 1.0 + 1e-9


def effective_training_size(
    size: Size,
    resolution: int,
    crop: CropBox | None = None,
    buckets: tuple[Size, ...] | list[Size] | None = None,
) -> TrainingSize:
    """Where a picture of ``size`` (after EXIF orientation) ends up when trained at ``resolution``.

    Without buckets every picture is trained as a ``resolution`` square. The scale covers the
    bucket (the excess is centre-cropped), as kohya does.
    """
    w, h = (crop.width, crop.height) if crop is not None else size
    if w <= 0 or h <= 0:
        raise ValueError("image size must be positive")
    bucket = nearest_bucket(w, h, buckets) if buckets else (resolution, resolution)
    scale = max(bucket[0] / w, bucket[1] / h)
    return TrainingSize(source=(w, h), bucket=bucket, scale=scale)


def upscale_warning(ts: TrainingSize) -> str | None:
    """A plain-words warning when the picture must be enlarged for training, else None."""
    if not ts.upscaled:
        return None
    (sw, sh), (bw, bh) = ts.source, ts.bucket
    return (
        f"This picture ({sw}×{sh} px used) is smaller than its training size {bw}×{bh}, so it will be "
        f"enlarged {ts.scale:.1f}× and may look soft. Use a larger picture or a bigger crop."
    )
