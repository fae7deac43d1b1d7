from __future__ import annotations

import pytest

from lora_studio.dataset.items import CropBox
from lora_studio.dataset.ops import (
    SD15_BUCKETS,
    SDXL_BUCKETS,
    center_crop_box,
    crop_is_valid,
    effective_training_size,
    fit_crop,
    make_buckets,
    nearest_bucket,
    upscale_warning,
)


def test_buckets_sd15() -> None:
    assert (512, 512) in SD15_BUCKETS and (384, 640) in SD15_BUCKETS and (640, 384) in SD15_BUCKETS
    assert (256, 1024) in SD15_BUCKETS and (1024, 256) in SD15_BUCKETS
    for w, h in SD15_BUCKETS:
        assert w % 64 == 0 and h % 64 == 0 and 256 <= min(w, h) and max(w, h) <= 1024 and w * h <= 512 * 512


def test_buckets_sdxl() -> None:
    for size in [(1024, 1024), (832, 1216), (1216, 832), (896, 1152), (768, 1344), (640, 1536)]:
        assert size in SDXL_BUCKETS
    assert all(w * h <= 1024 * 1024 for w, h in SDXL_BUCKETS)
    with pytest.raises(ValueError):
        make_buckets(512, 600, 500)


def test_nearest_bucket() -> None:
    assert nearest_bucket(1000, 1000, SD15_BUCKETS) == (512, 512)
    assert nearest_bucket(3000, 2000, SD15_BUCKETS) == (640, 384)
    assert nearest_bucket(2000, 3000, SD15_BUCKETS) == (384, 640)
    assert nearest_bucket(832, 1216, SDXL_BUCKETS) == (832, 1216)


def test_center_crop_and_fit() -> None:
    assert center_crop_box(1000, 500, 1.0) == CropBox(250, 0, 500, 500)
    assert center_crop_box(500, 1000, 1.0) == CropBox(0, 250, 500, 500)
    assert center_crop_box(1000, 1000, 2 / 3) == CropBox(166, 0, 667, 1000)
    fitted = fit_crop(CropBox(-50, 900, 400, 400), 1000, 1000)
    assert fitted == CropBox(0, 600, 400, 400) and crop_is_valid(fitted, 1000, 1000)
    assert fit_crop(CropBox(0, 0, 5000, 300), 1000, 1000, aspect=1.0) == CropBox(
        700, 0, 300, 300
    )  # centre kept as far as the edge allows
    assert not crop_is_valid(CropBox(10, 10, 991, 5), 1000, 1000)


def test_effective_size_and_upscale_warning() -> None:
    ts = effective_training_size((1024, 768), 512)
    assert ts.bucket == (512, 512) and not ts.upscaled
    ts = effective_training_size((4000, 3000), 512, CropBox(0, 0, 300, 200), SD15_BUCKETS)
    assert ts.source == (300, 200) and ts.bucket == (640, 384) and ts.upscaled
    assert "enlarged" in upscale_warning(ts)
    assert upscale_warning(effective_training_size((2048, 2048), 1024, buckets=SDXL_BUCKETS)) is None
