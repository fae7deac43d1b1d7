"""Aspect-ratio buckets (pure maths, torch-free).

A bucket is a (width, height) pair, both multiples of ``step``, whose area is at most
``resolution**2``. Each image goes to the bucket whose aspect ratio is closest to its own; it is
then scaled to cover the bucket and centre-cropped, so nothing is stretched (kohya semantics).
"""

from __future__ import annotations

import math

Size = tuple[int, int]


def make_buckets(resolution: int, min_side: int, max_side: int, step: int) -> list[Size]:
    """All buckets of area <= resolution**2 with sides in [min_side, max_side], multiples of step."""
    max_area = resolution * resolution
    found: set[Size] = {(resolution // step * step, resolution // step * step)}
    width = max(step, math.ceil(min_side / step) * step)
    while width <= max_side:
        height = min(max_side, (max_area // width) // step * step)
        if height >= min_side:
            found.add((width, height))
            found.add((height, width))
        width += step
    return sorted(found, key=lambda s: (s[0] / s[1], s[0]))


def nearest_bucket(width: int, height: int, buckets: list[Size]) -> Size:
    """The bucket whose aspect ratio is closest (in log space) to width/height; ties go to the larger area."""
    ratio = math.log(width / height)
    return min(buckets, key=lambda b: (abs(math.log(b[0] / b[1]) - ratio), -b[0] * b[1]))


def no_upscale_bucket(width: int, height: int, resolution: int, step: int) -> Size:
    """kohya ``bucket_no_upscale``: a bucket of the image's own shape, never larger than the image."""
    max_area = resolution * resolution
    scale = min(1.0, math.sqrt(max_area / (width * height)))
    w, h = int(width * scale) // step * step, int(height * scale) // step * step
    return max(step, w), max(step, h)


def cover_resize(width: int, height: int, bucket: Size) -> tuple[Size, tuple[int, int, int, int]]:
    """Size to resize an image to so that it covers ``bucket``, and the centred crop box (l, t, r, b)."""
    bw, bh = bucket
    scale = max(bw / width, bh / height)
    rw, rh = max(bw, round(width * scale)), max(bh, round(height * scale))
    left, top = (rw - bw) // 2, (rh - bh) // 2
    return (rw, rh), (left, top, left + bw, top + bh)


def assign_bucket(
    width: int,
    height: int,
    *,
    resolution: int,
    enable: bool,
    buckets: list[Size],
    no_upscale: bool,
    step: int,
) -> Size:
    """The bucket of one image under the dataset settings (fixed square when buckets are off)."""
    if not enable:
        return resolution, resolution
    if no_upscale and width * height <= resolution * resolution:
        return no_upscale_bucket(width, height, resolution, step)
    return nearest_bucket(width, height, buckets)
