"""Erase region: fill a painted watermark in a copy that training uses; the original never changes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from lora_studio.core.errors import DatasetError
from lora_studio.dataset import project as pj
from lora_studio.dataset.erase import fill_region, push_pull_fill, region_is_empty
from lora_studio.dataset.kohya import export_kohya
from lora_studio.dataset.validate import check_dataset


def gradient(size: tuple[int, int] = (256, 192)) -> Image.Image:
    w, h = size
    x = np.linspace(0, 1, w)[None, :, None]
    y = np.linspace(0, 1, h)[:, None, None]
    arr = np.concatenate([x * 200 + 30 + 0 * y, y * 150 + 50 + 0 * x, (x + y) * 60 + 40], axis=2)
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8))


def watermark(im: Image.Image) -> tuple[Image.Image, Image.Image, tuple[int, int, int, int]]:
    """The picture with a white box and black text in the lower right, and a soft region over it."""
    w, h = im.size
    box = (w * 6 // 10, h * 8 // 10, w * 95 // 100, h * 93 // 100)
    marked = im.copy()
    d = ImageDraw.Draw(marked)
    d.rectangle(box, fill=(255, 255, 255))
    d.text((box[0] + 4, box[1] + 2), "© SIGN", fill=(0, 0, 0))
    region = Image.new("L", im.size, 0)
    ImageDraw.Draw(region).rectangle((box[0] - 6, box[1] - 6, box[2] + 6, box[3] + 6), fill=255)
    return marked, region.filter(ImageFilter.GaussianBlur(2)), box


def mean_error(a: Image.Image, b: Image.Image, box: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = box
    pa = np.asarray(a.convert("RGB"), dtype=np.float32)[y0:y1, x0:x1]
    pb = np.asarray(b.convert("RGB"), dtype=np.float32)[y0:y1, x0:x1]
    return float(np.abs(pa - pb).mean())


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fill_removes_a_watermark_and_keeps_the_rest():
    clean = gradient()
    marked, region, box = watermark(clean)
    out = fill_region(marked, region)
    assert out.size == clean.size and out.mode == "RGB"
    before, after = mean_error(marked, clean, box), mean_error(out, clean, box)
    assert before > 60 and after < 6, (before, after)
    far = np.asarray(out)[: box[1] - 20], np.asarray(marked)[: box[1] - 20]
    assert np.array_equal(*far)  # pixels away from the region are untouched


def test_fill_keeps_transparency_and_refuses_a_wrong_size():
    rgba = gradient((128, 96)).convert("RGBA")
    alpha = Image.new("L", rgba.size, 255)
    ImageDraw.Draw(alpha).rectangle((0, 0, 30, 95), fill=0)  # a transparent left strip
    rgba.putalpha(alpha)
    region = Image.new("L", rgba.size, 0)
    ImageDraw.Draw(region).rectangle((60, 40, 80, 60), fill=255)
    out = fill_region(rgba, region)
    assert out.mode == "RGBA"
    assert out.getpixel((10, 10))[3] == 0 and out.getpixel((70, 50))[3] == 255
    with pytest.raises(DatasetError, match="erase region is 10×10"):
        fill_region(rgba, Image.new("L", (10, 10), 255))
    assert region_is_empty(Image.new("L", (8, 8), 3)) and not region_is_empty(region)
    assert fill_region(rgba, Image.new("L", rgba.size, 0)).tobytes() == rgba.tobytes()


def test_push_pull_fills_every_hole_from_its_surroundings():
    pixels = np.zeros((33, 47, 1), np.float32)
    pixels[:, :20] = 1.0  # left bright, right dark
    known = np.ones((33, 47), np.float32)
    known[10:20, 15:30] = 0  # a hole across the edge
    out = push_pull_fill(pixels, known)
    assert np.isfinite(out).all()
    assert out[15, 15, 0] > out[15, 29, 0]  # brighter near the bright side
    assert np.array_equal(out[known > 0], pixels[known > 0])


@pytest.fixture
def marked_project(tmp_path: Path):
    clean = gradient((320, 240))
    marked, region, box = watermark(clean)
    src = tmp_path / "Квадрат 中文" / "photo with mark.jpg"
    src.parent.mkdir(parents=True)
    marked.save(src, quality=95)
    p = pj.create_project(tmp_path / "Project", "Erase")
    pj.add_concept(p, "mascot", repeats=4, trigger="zorb")
    pj.add_images(p, "mascot", [src])
    return p, src, clean, region, box


def test_set_erase_writes_a_copy_and_training_uses_it(marked_project, tmp_path: Path):
    p, src, clean, region, box = marked_project
    original_src, key = sha(src), "photo with mark.jpg"
    project_copy = p.concept_dir("mascot") / key
    before = sha(project_copy)

    copy = pj.set_erase(p, "mascot", key, region)
    assert copy is not None and copy.parent.name == "erased" and copy.suffix == ".png"
    assert sha(project_copy) == before and sha(src) == original_src  # originals untouched
    assert (p.concept_dir("mascot") / "masks" / "photo with mark.erase.png").is_file()
    with Image.open(copy) as cleaned:
        assert mean_error(cleaned, clean, box) < 8

    item = pj.open_project(p.root).to_dataset().concepts[0].items[0]  # saved with the project
    assert item.image == project_copy and item.erased == copy and item.training_image == copy
    assert not [i for i in check_dataset(p.to_dataset(), resolution=128) if i.code.startswith("erased")]

    out = export_kohya(p, tmp_path / "kohya out")  # kohya gets the cleaned picture, same caption stem
    exported = next((tmp_path / "kohya out" / "img").glob("*/photo with mark.*"))
    assert exported.suffix == ".png" and sha(exported) == sha(copy) and out.images == 1

    assert pj.set_erase(p, "mascot", key, None) is None  # clearing trains the original again
    assert not copy.exists() and pj.open_project(p.root).to_dataset().concepts[0].items[0].erased is None


def test_missing_copy_is_reported_and_removal_trashes_it(marked_project):
    p, _, _, region, _ = marked_project
    key = "photo with mark.jpg"
    copy = pj.set_erase(p, "mascot", key, region)
    copy.unlink()
    issues = [i for i in check_dataset(p.to_dataset(), resolution=128) if i.code.startswith("erased")]
    assert len(issues) == 1 and "cleaned copy" in issues[0].message and issues[0].path.name == key
    copy = pj.set_erase(p, "mascot", key, region)
    moved = pj.remove_items(p, "mascot", [key])
    assert not copy.exists() and any(m.name == copy.name for m in moved)
    assert any(m.name == "photo with mark.erase.png" for m in moved)


def test_erase_on_an_exif_rotated_picture_uses_upright_size(tmp_path: Path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    src = tmp_path / "rotated.jpg"
    gradient((160, 120)).save(src, exif=exif, quality=92)
    p = pj.create_project(tmp_path / "P")
    pj.add_concept(p, "c")
    pj.add_images(p, "c", [src])
    with pytest.raises(DatasetError, match="as shown"):
        pj.set_erase(p, "c", "rotated.jpg", Image.new("L", (160, 120), 255))
    region = Image.new("L", (120, 160), 0)
    ImageDraw.Draw(region).rectangle((10, 10, 40, 40), fill=255)
    copy = pj.set_erase(p, "c", "rotated.jpg", region)
    with Image.open(copy) as im:
        assert im.size == (120, 160)
