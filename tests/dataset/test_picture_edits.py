"""Moving, copying, removing and adding pictures as undoable edits (issue 16 item 2): each picture
travels with its caption, mask and erase files, names never clash, originals outside the project stay
byte for byte, and undo/redo put every file and record back."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from lora_studio.core.errors import DatasetError
from lora_studio.dataset import captions as cap
from lora_studio.dataset import picture_edits
from lora_studio.dataset import project as proj
from lora_studio.dataset.edits import EditStack, set_caption_edit
from lora_studio.dataset.items import CropBox

from .conftest import noise, tree_hashes


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "originals"
    folder.mkdir()
    for i in range(3):
        noise(i).save(folder / f"pic{i}.png")
        (folder / f"pic{i}.txt").write_text(f"caption {i}", encoding="utf-8")
    return folder


@pytest.fixture
def project(tmp_path: Path, outside: Path) -> proj.Project:
    p = proj.create_project(tmp_path / "P", "P")
    proj.add_concept(p, "cat")
    proj.add_concept(p, "dog")
    proj.add_images(p, "cat", [outside / "pic0.png", outside / "pic1.png"])
    noise(9).save(outside / "other.png")
    proj.add_images(p, "dog", [outside / "other.png"])
    # a picture in "dog" with the same name as cat's pic0, to force a numbered name
    dog_pic0 = proj.add_images(p, "dog", [outside / "pic2.png"]).added[0]
    dog_pic0.rename(dog_pic0.with_name("pic0.png"))
    (dog_pic0.parent / "pic2.txt").rename(dog_pic0.parent / "pic0.txt")
    return proj.open_project(p.root)


def _mask_and_crop(p: proj.Project, concept: str, key: str) -> None:
    size = Image.open(p.image_path(concept, key)).size
    proj.set_mask(p, concept, key, Image.new("L", size, 255))
    proj.set_crop(p, concept, key, CropBox(0, 0, 32, 32))


def test_move_takes_caption_and_mask_along_and_numbers_a_clash(project, outside):
    before_outside = tree_hashes(outside)
    _mask_and_crop(project, "cat", "pic0.png")
    cat, dog = project.concept_dir("cat"), project.concept_dir("dog")
    image_bytes = (cat / "pic0.png").read_bytes()
    edit = picture_edits.transfer(project, [("cat", "pic0.png")], "dog", copy=False)
    assert edit.label == "Move 1 picture to “dog”"
    assert not (cat / "pic0.png").exists() and not (cat / "pic0.txt").exists()
    assert not (cat / "masks" / "pic0.mask.png").exists()
    # dog already has a pic0: the moved one is pic0_2, with its own caption and mask, nothing overwritten
    assert (dog / "pic0_2.png").read_bytes() == image_bytes
    assert cap.read_caption(dog / "pic0_2.txt").text == "caption 0"
    assert cap.read_caption(dog / "pic0.txt").text == "caption 2"
    rec = project.record("dog", "pic0_2.png")
    assert rec.mask == "masks/pic0_2.mask.png" and (dog / rec.mask).is_file()
    assert rec.crop == CropBox(0, 0, 32, 32)
    assert "pic0_2.png" in proj.open_project(project.root).image_keys("dog")  # saved
    assert "pic0.png" not in project.records.get("cat", {})
    assert tree_hashes(outside) == before_outside

    edit.apply(forward=False)  # undo
    assert (cat / "pic0.png").read_bytes() == image_bytes and (cat / "masks" / "pic0.mask.png").is_file()
    assert not (dog / "pic0_2.png").exists()
    reopened = proj.open_project(project.root)
    assert reopened.record("cat", "pic0.png").mask == "masks/pic0.mask.png"
    assert sorted(reopened.image_keys("dog")) == ["other.png", "pic0.png"]


def test_copy_leaves_the_source_and_undo_moves_the_copy_to_trash(project):
    cat, dog = project.concept_dir("cat"), project.concept_dir("dog")
    stack = EditStack()
    edit = picture_edits.transfer(project, [("cat", "pic1.png"), ("cat", "pic0.png")], "dog", copy=True)
    stack.record(edit)
    assert edit.label == "Copy 2 pictures to “dog”"
    assert (cat / "pic1.png").is_file() and (dog / "pic1.png").is_file() and (dog / "pic0_2.png").is_file()
    assert cap.read_caption(dog / "pic1.txt").text == "caption 1"
    stack.undo()
    assert not (dog / "pic1.png").exists() and not (dog / "pic0_2.png").exists()
    assert (cat / "pic1.png").is_file()
    assert list((project.root / proj.TRASH_DIR).rglob("pic1.png"))  # nothing deleted outright
    stack.redo()
    assert (dog / "pic1.png").is_file() and cap.read_caption(dog / "pic1.txt").text == "caption 1"


def test_remove_then_undo_restores_files_and_records(project):
    _mask_and_crop(project, "cat", "pic1.png")
    cat = project.concept_dir("cat")
    stack = EditStack()
    stack.record(picture_edits.remove(project, [("cat", "pic1.png")]))
    assert not (cat / "pic1.png").exists() and not (cat / "pic1.txt").exists()
    assert proj.open_project(project.root).image_keys("cat") == ["pic0.png"]
    assert stack.undo_label == "Remove 1 picture"
    stack.undo()
    reopened = proj.open_project(project.root)
    assert reopened.image_keys("cat") == ["pic0.png", "pic1.png"]
    assert reopened.record("cat", "pic1.png").crop == CropBox(0, 0, 32, 32)
    assert cap.read_caption(cat / "pic1.txt").text == "caption 1"


def test_import_undo_and_redo(project, outside, tmp_path):
    before = dict(project.records.get("cat", {}))
    noise(5).save(outside / "new.png")
    (outside / "new.txt").write_text("fresh", encoding="utf-8")
    before_outside = tree_hashes(outside)
    added = proj.add_images(project, "cat", [outside / "new.png"]).added
    stack = EditStack()
    stack.record(picture_edits.import_edit(project, "cat", added, before))
    assert stack.undo_label == "Add 1 picture to “cat”"
    stack.undo()
    cat = project.concept_dir("cat")
    assert not (cat / "new.png").exists() and not (cat / "new.txt").exists()
    assert "new.png" not in proj.open_project(project.root).image_keys("cat")
    stack.redo()
    assert cap.read_caption(cat / "new.txt").text == "fresh"
    assert tree_hashes(outside) == before_outside  # the originals never moved


def test_linked_picture_moves_by_record_only(project, outside, tmp_path):
    noise(7).save(outside / "linked.png")
    proj.add_images(project, "cat", [outside / "linked.png"], copy=False)
    key = str((outside / "linked.png").resolve())
    proj.set_caption(project, "cat", key, "linked caption")
    picture_edits.transfer(project, [("cat", key)], "dog", copy=False)
    assert (outside / "linked.png").is_file()  # the original stays where it is
    assert key in project.image_keys("dog") and key not in project.image_keys("cat")
    assert cap.read_caption(project.caption_path("dog", key)).text == "linked caption"


def test_moving_into_its_own_concept_is_skipped_and_changed_files_refuse_undo(project):
    edit = picture_edits.transfer(project, [("cat", "pic0.png")], "cat", copy=False)
    assert not edit.pictures and "already in" in edit.skipped[0][1]
    edit = picture_edits.transfer(project, [("cat", "pic1.png")], "dog", copy=False)
    (project.concept_dir("dog") / "pic1.png").unlink()  # changed behind our back
    with pytest.raises(DatasetError, match="changed outside"):
        edit.apply(forward=False)


def test_caption_and_picture_edits_share_one_history(project):
    stack = EditStack()
    cat = project.concept_dir("cat")
    stack.push(set_caption_edit(cat / "pic0.txt", "edited"))
    stack.record(picture_edits.transfer(project, [("cat", "pic1.png")], "dog", copy=False))
    stack.undo()
    assert (cat / "pic1.png").is_file()
    stack.undo()
    assert cap.read_caption(cat / "pic0.txt").text == "caption 0"
