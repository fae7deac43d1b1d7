from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from lora_studio.core.control import RunControl
from lora_studio.core.errors import Cancelled
from lora_studio.core.issues import Severity
from lora_studio.dataset import project as pj
from lora_studio.dataset.io import load_dataset
from lora_studio.dataset.items import CropBox
from lora_studio.dataset.validate import check_dataset, check_path, iter_issues
from tests.dataset.conftest import CHINESE, CYRILLIC, tree_hashes


def _codes(issues) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for i in issues:
        out.setdefault(i.path.name if i.path else "", set()).add(i.code)
    return out


def test_check_odd_folder_lists_every_problem(odd_folder: Path) -> None:
    shutil.copyfile(odd_folder / "photo.jpeg", odd_folder / "photo copy.jpeg")
    Image.open(odd_folder / "photo.jpeg").resize((600, 450)).save(odd_folder / "photo near.jpg", quality=80)
    (odd_folder / "long.txt").write_text(", ".join(f"tag{i} word" for i in range(60)), encoding="utf-8")
    shutil.copyfile(odd_folder / "UPPER.JPG", odd_folder / "long.jpg")
    before = tree_hashes(odd_folder)
    issues = check_dataset(load_dataset(odd_folder), resolution=512, token_limit=75)
    codes = _codes(issues)
    assert "empty-file" in codes["empty.png"]
    assert "damaged" in codes["truncated.jpg"]
    assert "not-an-image" in codes["text.png"]
    assert {"cmyk", "smaller-than-resolution"} <= codes["cmyk.jpg"]
    assert "high-bit-depth" in codes["deep16.png"]
    assert "transparency" in codes["palette_alpha.png"]
    assert "exif-rotated" in codes["rotated.jpg"]
    assert "too-small" in codes["one pixel.png"]
    assert "unsupported-format" in codes["anim.gif"]
    assert "caption-bom" in codes["фото кота 1.txt"]
    assert "caption-encoding" in codes["猫 照片.txt"] and "caption-encoding" in codes["latin.txt"]
    assert "missing-caption" in codes["UPPER.txt"]
    assert "caption-too-long" in codes["long.txt"]
    assert "duplicate" in codes["photo.jpeg"]  # "photo copy.jpeg" sorts first, so it is the original
    assert "near-duplicate" in codes["photo near.jpg"]
    assert codes["photo copy.jpeg"] == {"smaller-than-resolution"}  # 480 px high, trained as 512 square
    assert {CYRILLIC, CHINESE, "pic.webp"} <= set(codes)  # read without trouble (only size/caption notes)
    assert all(i.message and i.severity in Severity for i in issues)
    assert tree_hashes(odd_folder) == before


def test_concept_issues_and_kohya_skips(kohya_tree: Path, tmp_path: Path) -> None:
    (kohya_tree / "img" / "5_empty").mkdir()
    codes = {(i.code, i.path.name) for i in check_path(kohya_tree, resolution=512)}
    assert ("no-repeats", "notes") in codes and ("empty-concept", "5_empty") in codes
    assert ("missing-caption", "b.txt") in codes
    p = pj.create_project(tmp_path / "p")
    pj.add_concept(p, "c")
    issues = check_path(p.root)
    assert {i.code for i in issues} == {"no-training-images", "empty-concept"}
    assert check_path(tmp_path / "nothing")[0].code == "cannot-load"


def test_crop_and_mask_issues(tmp_path: Path, kohya_tree: Path) -> None:
    p = pj.create_project(tmp_path / "p")
    pj.add_concept(p, "c")
    pj.add_images(p, "c", [kohya_tree / "img" / "10_sks dog" / "a.png"])
    pj.set_crop(p, "c", "a.png", CropBox(0, 0, 200, 200))
    codes = {i.code for i in check_path(p.root, resolution=512)}
    assert "smaller-than-resolution" in codes
    pj.set_mask(p, "c", "a.png", Image.new("L", (512, 512), 255))
    (p.concept_dir("c") / "masks" / "a.mask.png").unlink()
    assert "mask-missing" in {i.code for i in check_path(p.root)}


def test_cancel_and_progress(kohya_tree: Path) -> None:
    control = RunControl()
    events = []
    ds = load_dataset(kohya_tree)

    def reporter(e) -> None:
        events.append(e)
        if len(events) == 2:
            control.cancel()

    with pytest.raises(Cancelled):
        list(iter_issues(ds, reporter=reporter, control=control))
    cache: dict = {}
    first = check_dataset(ds, cache=cache)
    assert len(cache) == 4 and check_dataset(ds, cache=cache) == first
