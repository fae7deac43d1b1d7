from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lora_studio.dataset.images import (
    ImageReadError,
    hamming,
    load_rgb,
    load_rgb_and_alpha,
    perceptual_hash,
    probe_image,
)
from tests.dataset.conftest import CHINESE, CYRILLIC


def test_probe_odd_files(odd_folder: Path) -> None:
    rot = probe_image(odd_folder / "rotated.jpg")
    assert (rot.width, rot.height) == (120, 160) and rot.exif_rotated
    assert probe_image(odd_folder / "cmyk.jpg").is_cmyk
    deep = probe_image(odd_folder / "deep16.png")
    assert deep.bit_depth == 16 and deep.mode.startswith("I")
    assert probe_image(odd_folder / "palette_alpha.png").has_alpha
    assert probe_image(odd_folder / "pic.webp").format == "WEBP"
    assert probe_image(odd_folder / "UPPER.JPG").supported
    assert probe_image(odd_folder / CYRILLIC).width == 96
    assert probe_image(odd_folder / CHINESE).format == "JPEG"
    assert probe_image(odd_folder / "anim.gif").supported is False


@pytest.mark.parametrize(
    ("name", "code"),
    [("empty.png", "empty-file"), ("text.png", "not-an-image"), ("missing.png", "missing")],
)
def test_probe_errors(odd_folder: Path, name: str, code: str) -> None:
    with pytest.raises(ImageReadError) as info:
        probe_image(odd_folder / name)
    assert info.value.code == code and name in info.value.message


def test_truncated_fails_on_decode_not_probe(odd_folder: Path) -> None:
    probe_image(odd_folder / "truncated.jpg")
    with pytest.raises(ImageReadError) as info:
        load_rgb(odd_folder / "truncated.jpg")
    assert info.value.code == "damaged"


def test_conversions(odd_folder: Path) -> None:
    rot = load_rgb(odd_folder / "rotated.jpg")
    assert rot.size == (120, 160) and rot.mode == "RGB"
    deep = np.asarray(load_rgb(odd_folder / "deep16.png"))
    assert deep.shape == (96, 96, 3)
    assert deep[0, 0, 0] == 0 and deep[-1, -1, 0] == 255 and 120 < deep[48, 0, 0] < 136  # scaled, not clipped
    cmyk = load_rgb(odd_folder / "cmyk.jpg")
    assert cmyk.mode == "RGB"
    rgb, alpha = load_rgb_and_alpha(odd_folder / "palette_alpha.png")
    assert rgb.mode == "RGB" and alpha is not None and alpha.getextrema() == (0, 255)
    on_black = np.asarray(load_rgb(odd_folder / "palette_alpha.png", background=(0, 0, 0)))
    hole = np.asarray(alpha) == 0
    assert (on_black[hole] == 0).all()
    assert load_rgb_and_alpha(odd_folder / "photo.jpeg")[1] is None


def test_perceptual_hash(odd_folder: Path, tmp_path: Path) -> None:
    from PIL import Image

    a = perceptual_hash(odd_folder / "photo.jpeg")
    Image.open(odd_folder / "photo.jpeg").resize((320, 240)).save(tmp_path / "small.png")
    assert hamming(a, perceptual_hash(tmp_path / "small.png")) <= 4
    assert hamming(a, perceptual_hash(odd_folder / CYRILLIC)) > 10
