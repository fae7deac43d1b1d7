"""Captioning runs over dataset items: modes, trigger, one undoable edit, cancel, failure, masks."""

from __future__ import annotations

import pytest
from PIL import Image

from lora_studio.captioning.base import SentenceOptions, TaggerOptions
from lora_studio.captioning.runner import (
    CaptionMode,
    MaskHandling,
    caption_concept,
    caption_items,
    captioning_image,
    captioning_job,
    compose_caption,
)
from lora_studio.core.control import RunControl
from lora_studio.core.errors import ModelLoadError
from lora_studio.core.events import CaptionReady, Progress
from lora_studio.dataset.edits import EditStack
from lora_studio.dataset.items import Concept, CropBox, Item
from tests.captioning.conftest import BLUE, RED, solid

TAGS = "red theme, 1girl, hatsune miku, long hair, ^_^, smile"
OPTS = TaggerOptions(batch_size=1)


def texts(items):
    return [(i.caption_path.read_text(encoding="utf-8") if i.caption_path.exists() else None) for i in items]


# -- composing captions (pure) -------------------------------------------------------------------------------


def test_compose_modes_and_trigger_first():
    assert compose_caption("old, smile", "smile, cat", CaptionMode.REPLACE) == "smile, cat"
    assert compose_caption("old, smile", "smile, cat", CaptionMode.APPEND) == "old, smile, cat"
    assert compose_caption("old, smile", "smile, cat", CaptionMode.PREPEND) == "smile, cat, old"
    assert compose_caption("old", "cat", CaptionMode.ONLY_MISSING) == "old"
    assert compose_caption("  ", "cat", CaptionMode.ONLY_MISSING) == "cat"
    assert compose_caption("", "cat", CaptionMode.APPEND) == "cat"
    # the trigger is first, once, whatever the mode and wherever it was
    assert compose_caption("old, zkw", "cat, zkw", CaptionMode.APPEND, "zkw") == "zkw, old, cat"
    assert compose_caption("", "cat, dog", CaptionMode.REPLACE, "zkw") == "zkw, cat, dog"
    assert compose_caption("zkw, old", "cat", CaptionMode.PREPEND, "zkw") == "zkw, cat, old"


def test_compose_sentences_and_multiline():
    s = "a cat sitting on grass, with a hat"
    assert compose_caption("old", s, CaptionMode.APPEND, sentence=True) == f"old, {s}"
    assert compose_caption("old", s, CaptionMode.PREPEND, sentence=True) == f"{s}, old"
    assert compose_caption(f"x, {s}", s, CaptionMode.APPEND, sentence=True) == f"x, {s}"
    assert compose_caption("a, b\nc", "d", CaptionMode.APPEND, "t") == "t, a, b, d\nt, c, d"


# -- runs with the tiny tagger ------------------------------------------------------------------------------


def test_replace_writes_one_undoable_edit_with_trigger_first(wd14, pictures):
    stack = EditStack()
    events = []
    report = caption_items(pictures, wd14, OPTS, CaptionMode.REPLACE, "zkw", events.append, stack=stack)
    assert report.applied and not report.cancelled and report.total == 3
    assert texts(pictures) == [f"zkw, {TAGS}"] * 3
    assert stack.can_undo and len(report.edit) == 3
    progress = [e for e in events if isinstance(e, Progress)]
    assert (progress[0].done, progress[-1].done, progress[-1].total) == (0, 3, 3)
    assert [e.index for e in events if isinstance(e, CaptionReady)] == [0, 1, 2]
    assert "one Undo" in report.summary()

    stack.undo()  # ONE undo restores everything: new files removed, the old one byte-for-byte
    assert texts(pictures) == [None, "old tag, smile", None]
    stack.redo()
    assert texts(pictures) == [f"zkw, {TAGS}"] * 3


def test_append_prepend_only_missing(wd14, pictures):
    caption_items(pictures[1:2], wd14, OPTS, CaptionMode.APPEND)
    assert texts(pictures)[1] == "old tag, smile, red theme, 1girl, hatsune miku, long hair, ^_^"
    pictures[1].caption_path.write_text("old tag, smile", encoding="utf-8")
    caption_items(pictures[1:2], wd14, OPTS, CaptionMode.PREPEND, "zkw")
    assert texts(pictures)[1] == f"zkw, {TAGS}, old tag"

    pictures[1].caption_path.write_text("keep me", encoding="utf-8")
    calls = []

    class Counting:
        kind = "wd14"
        model_dir = None

        def caption(self, images, options):
            calls.append(len(images))
            return wd14.caption(images, options)

    report = caption_items(pictures, Counting(), OPTS, CaptionMode.ONLY_MISSING)  # type: ignore[arg-type]
    assert texts(pictures) == [TAGS, "keep me", TAGS]
    assert sum(calls) == 2  # the captioned picture never reaches the model
    assert [(p.name, why) for p, why in report.skipped] == [("img1.png", "already has a caption")]


def test_apply_false_returns_the_edit_for_the_gui_thread(wd14, pictures):
    report = caption_items(pictures, wd14, OPTS, CaptionMode.REPLACE, apply=False)
    assert not report.applied and texts(pictures) == [None, "old tag, smile", None]
    assert "nothing was written" in report.summary()
    stack = EditStack()
    stack.push(report.edit)
    assert texts(pictures) == [TAGS] * 3
    assert report.results[pictures[0].image].tags[0].tag == "red theme"


def test_cancel_mid_run_keeps_finished_captions_as_one_edit(wd14, pictures):
    control = RunControl()

    def reporter(event):
        if isinstance(event, Progress) and event.done == 1:
            control.cancel()

    stack = EditStack()
    report = caption_items(pictures, wd14, OPTS, CaptionMode.REPLACE, "", reporter, control, stack=stack)
    assert report.cancelled and report.applied
    assert texts(pictures) == [TAGS, "old tag, smile", None]
    assert [p.name for p in report.not_reached] == ["img1.png", "img2.png"]
    assert "Stopped after 1 of 3" in report.summary() and "not reached" in report.summary()
    stack.undo()
    assert texts(pictures) == [None, "old tag, smile", None]


def test_cancel_without_keep_partial_changes_nothing(wd14, pictures):
    control = RunControl()

    def reporter(event):
        if isinstance(event, Progress) and event.done == 2:
            control.cancel()

    report = caption_items(pictures, wd14, OPTS, reporter=reporter, control=control, keep_partial=False)
    assert report.cancelled and not report.applied and not report.changed_files
    assert texts(pictures) == [None, "old tag, smile", None]


def test_model_failure_changes_no_file(wd14, pictures):
    class Breaks:
        kind = "wd14"
        model_dir = None
        calls = 0

        def caption(self, images, options):
            Breaks.calls += 1
            if Breaks.calls == 2:
                raise RuntimeError("out of memory")
            return wd14.caption(images, options)

    with pytest.raises(ModelLoadError) as err:
        caption_items(pictures, Breaks(), OPTS)  # type: ignore[arg-type]
    assert "img1.png" in err.value.message and "No caption file was changed" in err.value.hint
    assert texts(pictures) == [None, "old tag, smile", None]


def test_unreadable_picture_is_reported_and_the_rest_done(wd14, pictures):
    pictures[0].image.write_bytes(b"not a png")
    report = caption_items(pictures, wd14, OPTS, CaptionMode.REPLACE)
    assert [p.name for p, _ in report.failed] == ["img0.png"]
    assert texts(pictures) == [None, TAGS, TAGS]
    assert "could not be read" in report.summary()


def test_non_utf8_caption_is_skipped(wd14, pictures):
    pictures[1].caption_path.write_bytes("caf\xe9, d\xe9j\xe0 vu".encode("cp1252"))
    report = caption_items(pictures, wd14, OPTS, CaptionMode.REPLACE)
    assert [p.name for p, _ in report.skipped] == ["img1.png"]
    assert pictures[1].caption_path.read_bytes() == "caf\xe9, d\xe9j\xe0 vu".encode("cp1252")


# -- masks and crops ----------------------------------------------------------------------------------------


@pytest.fixture
def half_and_half(tmp_path) -> Item:
    """Left half red, right half blue; the mask keeps only the left (red) half."""
    im = Image.new("RGB", (40, 20), BLUE)
    im.paste(Image.new("RGB", (20, 20), RED), (0, 0))
    im.save(tmp_path / "half.png")
    mask = Image.new("L", (40, 20), 0)
    mask.paste(255, (0, 0, 20, 20))
    mask.save(tmp_path / "half_mask.png")
    return Item(
        image=tmp_path / "half.png", mask=tmp_path / "half_mask.png", caption_path=tmp_path / "half.txt"
    )


def test_mask_crop_and_grey(half_and_half):
    cropped = captioning_image(half_and_half, MaskHandling.CROP)
    # the mask's box plus a 4% margin; the ignored pixels inside the margin are grey
    assert cropped.size == (21, 20) and cropped.getpixel((10, 10)) == RED
    assert cropped.getpixel((20, 10)) == (128, 128, 128)
    greyed = captioning_image(half_and_half, MaskHandling.GREY)
    assert greyed.size == (40, 20) and greyed.getpixel((30, 10)) == (128, 128, 128)
    assert greyed.getpixel((5, 10)) == RED
    assert captioning_image(half_and_half, MaskHandling.IGNORE).getpixel((30, 10)) == BLUE


def test_masked_captioning_describes_only_the_learned_area(wd14, half_and_half):
    opts = TaggerOptions(general_threshold=0.5)
    caption_items([half_and_half], wd14, opts, mask_handling=MaskHandling.CROP)
    text = half_and_half.caption_path.read_text()
    assert "red theme" in text and "blue theme" not in text
    caption_items([half_and_half], wd14, opts, mask_handling=MaskHandling.IGNORE)
    text = half_and_half.caption_path.read_text()
    assert "red theme" in text and "blue theme" in text  # the whole picture: both colours


def test_item_crop_is_applied_before_the_mask(tmp_path, half_and_half):
    item = Item(image=half_and_half.image, crop=CropBox(20, 0, 20, 20))
    assert captioning_image(item).getpixel((5, 5)) == BLUE
    black = tmp_path / "black.png"
    Image.new("L", (40, 20), 0).save(black)
    with pytest.raises(Exception, match="hides the whole picture"):
        captioning_image(Item(image=half_and_half.image, mask=black))


def test_caption_concept_uses_its_trigger_and_job_loads_the_model(wd14_dir, tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    items = tuple(Item(image=solid(folder / f"{i}.png")) for i in range(2))
    concept = Concept(name="c", folder=folder, trigger="zkw", items=items)
    from lora_studio.captioning.models.wd14 import WD14Tagger

    tagger = WD14Tagger()
    tagger.load(wd14_dir, "cpu")
    caption_concept(concept, tagger, OPTS)
    assert (folder / "0.txt").read_text() == f"zkw, {TAGS}"

    job = captioning_job(
        wd14_dir, items, TaggerOptions(device="cpu"), CaptionMode.APPEND, "other", apply=False
    )
    report = job(lambda e: None, RunControl())
    assert report.edit is not None and len(report.edit) == 2
    assert (folder / "0.txt").read_text() == f"zkw, {TAGS}"  # apply=False wrote nothing


def test_wrong_options_type_is_refused(wd14, pictures):
    with pytest.raises(TypeError, match="needs TaggerOptions"):
        caption_items(pictures, wd14, SentenceOptions())
    assert texts(pictures) == [None, "old tag, smile", None]
