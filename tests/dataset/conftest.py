"""Fixtures for the dataset tests: small generated pictures, including an "odd folder" of every
kind of problem file a user drops in."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CYRILLIC = "фото кота 1.png"
CHINESE = "猫 照片.jpg"


def noise(seed: int, size: tuple[int, int] = (96, 128), mode: str = "RGB") -> Image.Image:
    """A smooth random picture (distinct dHash per seed)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    im = Image.fromarray(small, "RGB").resize(size, Image.Resampling.BICUBIC)
    return im.convert(mode) if mode != "RGB" else im


def jpeg_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=90, **kw)
    return buf.getvalue()


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def make_odd_folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "empty.png").write_bytes(b"")
    good = jpeg_bytes(noise(1, (640, 480)))
    (root / "truncated.jpg").write_bytes(jpeg_bytes(noise(2, (640, 480)))[:1500])
    (root / "text.png").write_text("this is not a picture\n", encoding="utf-8")
    Image.new("CMYK", (96, 96), (0, 128, 255, 0)).save(root / "cmyk.jpg", quality=90)
    arr = np.linspace(0, 65535, 96 * 96).reshape(96, 96).astype(np.uint16)
    Image.fromarray(arr).save(root / "deep16.png")  # mode I;16
    pal = noise(3).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.info["transparency"] = 0
    pal.save(root / "palette_alpha.png", transparency=0)
    exif = Image.Exif()
    exif[0x0112] = 6
    noise(4, (160, 120)).save(root / "rotated.jpg", exif=exif, quality=90)
    (root / "photo.jpeg").write_bytes(good)
    (root / "photo.txt").write_text("a photo, red", encoding="utf-8")
    noise(5).save(root / "UPPER.JPG", format="JPEG")
    noise(6).save(root / "pic.webp", format="WEBP")
    Image.new("RGB", (1, 1), (9, 9, 9)).save(root / "one pixel.png")
    noise(7).save(root / CYRILLIC)
    (root / "фото кота 1.txt").write_bytes(b"\xef\xbb\xbf" + "кот, рыжий".encode())
    noise(8).save(root / CHINESE, format="JPEG")
    (root / "猫 照片.txt").write_bytes("кот, рыжий, на окне".encode("cp1251"))
    noise(9).save(root / "latin.png")
    (root / "latin.txt").write_bytes("café, naïve, crème brûlée".encode("latin-1"))
    noise(10).save(root / "anim.gif")
    return root


@pytest.fixture
def odd_folder(tmp_path: Path) -> Path:
    return make_odd_folder(tmp_path / "odd inputs")


@pytest.fixture
def kohya_tree(tmp_path: Path) -> Path:
    """img/10_sks dog (2 pictures, one captioned), img/3_style, reg/1_dog, and a folder without repeats."""
    root = tmp_path / "kohya"
    a = root / "img" / "10_sks dog"
    a.mkdir(parents=True)
    noise(20, (512, 512)).save(a / "a.png")
    (a / "a.txt").write_text("sks dog, sitting", encoding="utf-8")
    noise(21, (512, 768)).save(a / "b.jpg")
    b = root / "img" / "3_style"
    b.mkdir()
    noise(22, (640, 512)).save(b / "c.png")
    (b / "c.txt").write_text("style, flowers", encoding="utf-8")
    r = root / "reg" / "1_dog"
    r.mkdir(parents=True)
    noise(23, (512, 512)).save(r / "d.png")
    (root / "img" / "notes").mkdir()
    return root
