from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from lora_studio.cli.main import main
from lora_studio.core.errors import DatasetError
from lora_studio.dataset import project as pj
from lora_studio.dataset.io import load_dataset
from lora_studio.dataset.items import ConceptKind, CropBox
from lora_studio.dataset.kohya import export_kohya, import_kohya
from tests.dataset.conftest import noise, tree_hashes


def test_load_kohya_layouts(kohya_tree: Path, tmp_path: Path) -> None:
    ds = load_dataset(kohya_tree)
    assert [(c.name, c.repeats, c.kind) for c in ds.concepts] == [  # natural order: 3_ before 10_
        ("style", 3, ConceptKind.TRAINING),
        ("sks dog", 10, ConceptKind.TRAINING),
        ("dog", 1, ConceptKind.REGULARIZATION),
    ]
    dog = ds.concepts[1]
    assert [(i.image.name, i.caption, i.caption_from_folder) for i in dog.items] == [
        ("a.png", "sks dog, sitting", False),
        ("b.jpg", "sks dog", True),
    ]
    assert [p.name for p, _ in ds.skipped_folders] == ["notes"]
    assert ds.images_per_epoch() == 2 * 10 + 3
    # N_name folders directly, with .caption sidecars
    direct = load_dataset(kohya_tree / "img", caption_extension=".caption")
    assert [c.name for c in direct.concepts] == ["style", "sks dog"]
    assert direct.concepts[1].items[0].caption == "sks dog"
    # a plain folder of pictures
    plain = tmp_path / "plain"
    plain.mkdir()
    noise(1).save(plain / "x.png")
    assert load_dataset(plain).concepts[0].items[0].image.name == "x.png"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no pictures"):
        load_dataset(tmp_path / "empty")


def test_round_trip(kohya_tree: Path, tmp_path: Path) -> None:
    before = tree_hashes(kohya_tree)
    result = import_kohya(kohya_tree, tmp_path / "proj")
    project = result.project
    assert sum(len(r.added) for r in result.added) == 4
    assert [p.name for p, _ in result.skipped_folders] == ["notes"]
    assert tree_hashes(kohya_tree) == before
    pj.set_mask(project, "sks dog", "a.png", Image.new("L", (512, 512), 128))
    out = export_kohya(pj.open_project(tmp_path / "proj"), tmp_path / "out")
    assert out.images == 4 and out.masks == 1
    exported = tree_hashes(tmp_path / "out")
    expected = {k: v for k, v in before.items()}
    expected["mask/10_sks dog/a.png"] = exported["mask/10_sks dog/a.png"]
    assert exported == expected  # same images, captions, repeats and folder names
    back = load_dataset(tmp_path / "out")
    assert [(c.name, c.repeats, c.kind, len(c.items)) for c in back.concepts] == [
        ("style", 3, ConceptKind.TRAINING, 1),
        ("sks dog", 10, ConceptKind.TRAINING, 2),
        ("dog", 1, ConceptKind.REGULARIZATION, 1),
    ]
    with pytest.raises(DatasetError, match="not empty"):
        export_kohya(project, tmp_path / "out")


def test_import_name_clash_and_trigger_folder(kohya_tree: Path, tmp_path: Path) -> None:
    (kohya_tree / "reg" / "1_sks dog").mkdir()
    noise(30).save(kohya_tree / "reg" / "1_sks dog" / "r.png")
    project = import_kohya(kohya_tree, tmp_path / "proj").project
    reg = project.concept("sks dog (regularization)")
    assert reg.class_word == "sks dog" and reg.kind == ConceptKind.REGULARIZATION
    pj.update_concept(project, "style", trigger="zzstyle", class_word="painting")
    out = export_kohya(project, tmp_path / "out")
    assert {f"{f.parent.name}/{f.name}" for f in out.folders} == {
        "img/10_sks dog", "img/3_zzstyle painting", "reg/1_dog", "reg/1_sks dog",
    }  # fmt: skip


def test_cli(kohya_tree: Path, tmp_path: Path, capsys) -> None:
    proj = tmp_path / "proj"
    assert main(["dataset", "import", str(kohya_tree), str(proj)]) == 0
    assert (
        main(["dataset", "caption-edit", str(proj), "--concept", "style", "--add-tag", "new", "--front"]) == 0
    )
    caption = proj / "dataset" / "style" / "c.txt"
    assert caption.read_text(encoding="utf-8") == "new, style, flowers"
    assert (
        main(
            [
                "dataset",
                "caption-edit",
                str(proj),
                "--concept",
                "style",
                "--replace",
                "flow.rs",
                "trees",
                "--regex",
            ]
        )
        == 0
    )
    assert caption.read_text(encoding="utf-8") == "new, style, trees"
    assert main(["dataset", "caption-edit", str(proj), "--concept", "style", "--remove-tag", "new"]) == 0
    assert (
        main(["dataset", "caption-edit", str(proj), "--concept", "style", "--add-trigger"]) == 2
    )  # no trigger
    assert main(["dataset", "caption-edit", str(proj), "--concept", "nope", "--add-trigger"]) == 2
    capsys.readouterr()
    assert main(["dataset", "check", str(proj), "--json", "--resolution", "512"]) == 0  # warnings only
    rows = json.loads(capsys.readouterr().out)
    assert {(r["code"], r["severity"]) for r in rows} == {
        ("missing-caption", "warning"),
        ("missing-caption", "info"),
    }
    assert main(["dataset", "check", str(kohya_tree)]) == 1  # img/notes has no repeat count: an error
    assert main(["dataset", "export", str(proj), str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "img" / "3_style" / "c.txt").read_text(encoding="utf-8") == "style, trees"


def test_export_applies_crops_and_masks_like_training(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 160×120, shown 120×160: crops are in shown pixels
    src = tmp_path / "src"
    src.mkdir()
    noise(1, (160, 120)).save(src / "turned.jpg", exif=exif, quality=92)
    noise(2, (96, 64)).save(src / "plain.png")
    p = pj.create_project(tmp_path / "P")
    pj.add_concept(p, "zorb", repeats=3, trigger="zorb")
    pj.add_images(p, "zorb", [src])
    pj.set_crop(p, "zorb", "turned.jpg", CropBox(10, 20, 100, 120))
    mask = Image.new("L", (120, 160), 255)
    mask.paste(0, (10, 20, 60, 140))
    pj.set_mask(p, "zorb", "turned.jpg", mask)

    result = export_kohya(p, tmp_path / "out")
    folder = tmp_path / "out" / "img" / "3_zorb"
    assert result.cropped == 1 and result.images == 2 and result.masks == 1
    with Image.open(folder / "turned.png") as out:
        assert out.size == (100, 120)  # the crop, in upright pixels
    with Image.open(tmp_path / "out" / "mask" / "3_zorb" / "turned.png") as m:
        assert m.size == (100, 120) and m.getpixel((5, 5)) == 0 and m.getpixel((80, 5)) == 255
    assert (folder / "plain.png").read_bytes() == (src / "plain.png").read_bytes()  # uncropped: same bytes

    whole = export_kohya(p, tmp_path / "whole", apply_crops=False)
    assert whole.cropped == 0
    assert (tmp_path / "whole" / "img" / "3_zorb" / "turned.jpg").read_bytes() == (src / "turned.jpg").read_bytes()
