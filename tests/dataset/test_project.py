from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from lora_studio.core.errors import DatasetError
from lora_studio.dataset import project as pj
from lora_studio.dataset.io import load_dataset
from lora_studio.dataset.items import FLAG_EXCLUDED, ConceptKind, CropBox
from tests.dataset.conftest import CHINESE, CYRILLIC, noise, tree_hashes


def test_create_open_concepts(tmp_path: Path) -> None:
    root = tmp_path / "My Project"
    p = pj.create_project(root, "Demo", base_model="models/sd15.safetensors")
    pj.add_concept(p, "sks dog", repeats=10, trigger="sks", class_word="dog")
    pj.add_concept(p, "dog", kind=ConceptKind.REGULARIZATION)
    with pytest.raises(DatasetError, match="already"):
        pj.add_concept(p, "dog")
    with pytest.raises(DatasetError, match="not empty"):
        pj.create_project(root)
    pj.update_concept(p, "sks dog", repeats=5, notes="my dog")
    pj.rename_concept(p, "sks dog", "rex: the dog?")
    q = pj.open_project(root)
    assert q.name == "Demo" and q.settings.base_model == "models/sd15.safetensors"
    c = q.concept("rex: the dog?")
    assert (c.repeats, c.trigger, c.class_word, c.notes) == (5, "sks", "dog", "my dog")
    assert c.folder == "dataset/rex_ the dog_" and (root / c.folder).is_dir()
    assert q.concept("dog").kind == ConceptKind.REGULARIZATION
    moved = pj.remove_concept(q, "dog")
    assert moved is not None and moved.exists() and ".trash" in moved.parts
    assert [x.name for x in pj.open_project(root).concepts] == ["rex: the dog?"]


def test_project_toml_keeps_other_keys(tmp_path: Path) -> None:
    p = pj.create_project(tmp_path / "p")
    text = (tmp_path / "p" / "project.toml").read_text(encoding="utf-8")
    (tmp_path / "p" / "project.toml").write_text(text + "\n[training]\nepochs = 7\n", encoding="utf-8")
    p = pj.open_project(tmp_path / "p")
    pj.add_concept(p, "x")
    assert "epochs = 7" in (tmp_path / "p" / "project.toml").read_text(encoding="utf-8")


def test_add_images_clashes_and_items(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    noise(1).save(src / "photo.png")
    (src / "photo.txt").write_text("a, b", encoding="utf-8")
    noise(2).save(src / "photo.jpg")
    noise(3).save(src / "sub" / "photo.png")
    (src / "notes.docx").write_bytes(b"x")
    p = pj.create_project(tmp_path / "p")
    pj.add_concept(p, "c", trigger="sks")
    res = pj.add_images(p, "c", [src / "photo.png", src / "photo.jpg", src / "sub", src / "notes.docx"])
    assert [x.name for x in res.added] == ["photo.png", "photo_2.jpg", "photo_3.png"]
    assert [(x.name, "not a picture" in why) for x, why in res.skipped] == [("notes.docx", True)]
    res2 = pj.add_images(p, "c", [src / "photo.png"])
    assert not res2.added and "already in this concept" in res2.skipped[0][1]
    folder = p.concept_dir("c")
    assert (folder / "photo.txt").read_text(encoding="utf-8") == "a, b"
    ds = load_dataset(p.root)
    items = ds.concepts[0].items
    assert [i.image.name for i in items] == ["photo.png", "photo_2.jpg", "photo_3.png"]
    assert items[0].caption == "a, b" and not items[0].caption_from_folder
    assert items[1].caption == "a, b"  # photo.jpg shares photo.txt with photo.png, as in kohya
    assert items[2].caption == "sks" and items[2].caption_from_folder

    pj.set_crop(p, "c", "photo.png", CropBox(10, 10, 50, 50))
    with pytest.raises(DatasetError, match="does not fit"):
        pj.set_crop(p, "c", "photo.png", CropBox(90, 10, 50, 50))
    mask = Image.new("L", (96, 128), 255)
    mpath = pj.set_mask(p, "c", folder / "photo.png", mask)
    assert mpath == folder / "masks" / "photo.mask.png" and mpath.is_file()
    with pytest.raises(DatasetError, match="mask is"):
        pj.set_mask(p, "c", "photo.png", Image.new("L", (10, 10)))
    pj.set_flags(p, "c", "photo_2.jpg", [FLAG_EXCLUDED])
    q = pj.open_project(p.root)
    item = q.item("c", "photo.png")
    assert item.crop == CropBox(10, 10, 50, 50) and item.mask == mpath
    assert [i.image.name for i in load_dataset(p.root).concepts[0].items] == ["photo.png", "photo_3.png"]
    assert len(load_dataset(p.root, include_excluded=True).concepts[0].items) == 3

    moved = pj.remove_items(q, "c", ["photo.png"])
    assert {m.name for m in moved} == {"photo.png", "photo.txt", "photo.mask.png"}
    assert not (folder / "photo.png").exists()
    assert [k for k in pj.open_project(p.root).image_keys("c")] == ["photo_2.jpg", "photo_3.png"]


def test_link_and_send_to_dataset(tmp_path: Path) -> None:
    noise(4).save(tmp_path / "linked.png")
    noise(5).save(tmp_path / "gen.png")
    p = pj.create_project(tmp_path / "p")
    pj.add_concept(p, "c")
    pj.add_images(p, "c", [tmp_path / "linked.png"], copy=False)
    dest = pj.send_to_dataset(p, "c", tmp_path / "gen.png", "a generated cat")
    pj.set_caption(p, "c", tmp_path / "linked.png", "linked caption")
    items = {i.image.name: i for i in load_dataset(p.root).concepts[0].items}
    assert items["gen.png"].image == dest and items["gen.png"].caption == "a generated cat"
    assert items["linked.png"].image == (tmp_path / "linked.png").resolve()
    assert items["linked.png"].caption_path == p.concept_dir("c") / "linked.txt"
    assert items["linked.png"].caption == "linked caption"


def test_odd_folder_import_keeps_originals(odd_folder: Path, tmp_path: Path) -> None:
    before = tree_hashes(odd_folder)
    p = pj.create_project(tmp_path / "proj")
    pj.add_concept(p, "odd")
    res = pj.add_images(p, "odd", sorted(odd_folder.iterdir()))
    names = {x.name for x in res.added}
    assert {"empty.png", "text.png", "truncated.jpg", CYRILLIC, CHINESE, "UPPER.JPG", "pic.webp"} <= names
    assert [x.name for x, _ in res.skipped] == ["anim.gif"]
    assert tree_hashes(odd_folder) == before
    folder = p.concept_dir("odd")
    # captions copied byte for byte, whatever their encoding
    assert (folder / "猫 照片.txt").read_bytes() == (odd_folder / "猫 照片.txt").read_bytes()
    ds = load_dataset(p.root)
    assert len(ds.concepts[0].items) == len(res.added)


def test_a_worker_adds_to_a_snapshot_and_edits_made_meanwhile_stay(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        noise(i + 1, (40, 40)).save(src / f"pic{i}.png")
    p = pj.create_project(tmp_path / "p")
    pj.add_concept(p, "a")
    pj.add_images(p, "a", [src / "pic0.png"])
    before, worked = p.snapshot(), p.snapshot()
    added = pj.add_images(worked, "a", [src / "pic1.png", src / "pic2.png"], copy=False)  # "on a worker"
    assert len(added.added) == 2
    assert len(p.image_keys("a")) == 1 and not any(Path(k).is_absolute() for k in p.records.get("a", {}))
    pj.set_crop(p, "a", "pic0.png", CropBox(0, 0, 20, 20))  # the GUI thread edits meanwhile
    pj.adopt_additions(p, before, worked)
    for q in (p, pj.open_project(p.root)):
        assert len(q.image_keys("a")) == 3
        assert q.record("a", "pic0.png").crop == CropBox(0, 0, 20, 20)
