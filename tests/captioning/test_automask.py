"""Auto-masks through the real code path: a tiny CLIPSeg folder and a tiny ONNX background remover
built in the test, masks written through the project's mask storage, undo, cancel, and the
"masks used" report before training."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from lora_studio.captioning.base import detect_model_kind
from lora_studio.captioning.masking import (
    MaskerKind,
    MaskOptions,
    MaskTarget,
    apply_masks,
    auto_mask_job,
    detect_masker_kind,
    find_masker_folders,
    learned_share,
    load_masker,
    undo_masks,
)
from lora_studio.core.control import RunControl
from lora_studio.core.errors import ModelLoadError
from lora_studio.core.events import Progress
from lora_studio.dataset import project as proj
from lora_studio.dataset.scan import read_row
from tests.captioning.tiny_models import build_wd14
from tests.captioning.tiny_vlm import build_bg_remover, build_clipseg

RED, BLUE = (230, 20, 20), (20, 20, 230)


def subject_picture(size=(60, 40), box=(20, 10, 40, 30)) -> Image.Image:
    """A red square (the subject) on a blue background."""
    im = Image.new("RGB", size, BLUE)
    im.paste(Image.new("RGB", (box[2] - box[0], box[3] - box[1]), RED), box[:2])
    return im


@pytest.fixture(scope="module")
def bg_dir(tmp_path_factory):
    return build_bg_remover(tmp_path_factory.mktemp("maskers") / "anime-seg")


@pytest.fixture
def project(tmp_path):
    p = proj.create_project(tmp_path / "proj", name="p")
    proj.add_concept(p, "hero", trigger="zkw")
    sources = tmp_path / "src"
    sources.mkdir()
    for i in range(3):
        subject_picture(box=(18 + 2 * i, 10, 38 + 2 * i, 30)).save(sources / f"pic{i}.png")  # not duplicates
    proj.add_images(p, "hero", sorted(sources.iterdir()))
    return p


def targets(project):
    rows = [read_row(project, "hero", key) for key in project.image_keys("hero")]
    return [MaskTarget(r.concept, r.key, r.path, r.mask) for r in rows]


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_folders_are_told_apart(tmp_path, bg_dir):
    wd = build_wd14(tmp_path / "wd-vit-tagger-v3")
    assert detect_masker_kind(bg_dir) is MaskerKind.BG_REMOVER
    assert detect_masker_kind(wd) is None  # a tagger's model.onnx is not a background remover
    assert [f.kind for f in find_masker_folders([bg_dir.parent, tmp_path])] == [MaskerKind.BG_REMOVER]
    with pytest.raises(ModelLoadError) as err:
        load_masker(tmp_path, "cpu")
    assert "isnetis.onnx" in err.value.hint and "clipseg" in err.value.hint.lower()


@pytest.mark.parametrize("logits", [False, True])
def test_background_remover_keeps_the_subject(tmp_path, logits):
    folder = build_bg_remover(
        tmp_path / "m", name="birefnet.onnx" if logits else "isnetis.onnx", logits=logits
    )
    masker = load_masker(folder, "cpu")
    scores = masker.predict(subject_picture())
    assert scores.shape == (40, 60) and 0.0 <= scores.min() and scores.max() <= 1.0
    assert scores[20, 30] > 0.9 and scores[2, 2] < 0.1
    job = auto_mask_job(folder, [MaskTarget("c", "k", _save(tmp_path, subject_picture()))], MaskOptions())
    ((target, mask),) = job(lambda e: None, RunControl()).masks
    arr = np.asarray(mask)
    assert mask.size == (60, 40) and arr[20, 30] == 255 and arr[2, 2] == 0
    assert learned_share(mask) == pytest.approx(400 / 2400, abs=0.05)  # edges blur at 16 px


def test_learn_background_grow_and_size_override(tmp_path, bg_dir):
    masker = load_masker(bg_dir, "cpu")
    assert masker.input_size == 16  # the model's fixed input beats the family preset (1024)
    image = _save(tmp_path, subject_picture())
    inverted = auto_mask_job(bg_dir, [MaskTarget("c", "k", image)], MaskOptions(learn_background=True))
    ((_, mask),) = inverted(lambda e: None, RunControl()).masks
    assert np.asarray(mask)[20, 30] == 0 and np.asarray(mask)[2, 2] == 255
    grown = auto_mask_job(bg_dir, [MaskTarget("c", "k", image)], MaskOptions(grow=4))
    ((_, bigger),) = grown(lambda e: None, RunControl()).masks
    assert learned_share(bigger) > 400 / 2400 + 0.05
    dynamic = build_bg_remover(tmp_path / "other", name="model.onnx", size="S")
    (dynamic / "bg_remover.json").write_text(json.dumps({"size": 24, "mean": [0, 0, 0], "std": [1, 1, 1]}))
    assert load_masker(dynamic, "cpu").input_size == 24  # bg_remover.json: any name, its own size
    assert detect_model_kind(dynamic) is None  # its model.onnx is not taken for a WD tagger


def test_masks_are_written_skipping_hand_painted_ones_and_undone(project, bg_dir):
    hand = Image.new("L", (60, 40), 255)
    hand.paste(0, (0, 0, 10, 40))
    proj.set_mask(project, "hero", "pic1.png", hand)
    pictures = {t.key: digest(t.image) for t in targets(project)}
    report = auto_mask_job(bg_dir, targets(project), MaskOptions())(lambda e: None, RunControl())
    assert [t.key for t, _ in report.masks] == ["pic0.png", "pic2.png"]
    assert report.skipped[0][1] == "it already has a mask" and "kept their mask" in report.summary()
    undo = apply_masks(project, report.masks)
    rows = {r.key: r for r in (read_row(project, "hero", k) for k in project.image_keys("hero"))}
    assert rows["pic0.png"].mask.name == "pic0.mask.png"
    assert np.asarray(Image.open(rows["pic0.png"].mask))[20, 30] == 255
    assert np.asarray(Image.open(rows["pic1.png"].mask))[20, 5] == 0  # the hand-painted one is untouched
    assert {t.key: digest(t.image) for t in targets(project)} == pictures  # originals never change
    # replacing on request, then one undo puts the hand-painted mask back
    again = auto_mask_job(bg_dir, targets(project), MaskOptions(replace_existing=True))
    undo2 = apply_masks(project, again(lambda e: None, RunControl()).masks)
    assert np.asarray(Image.open(read_row(project, "hero", "pic1.png").mask))[20, 15] == 0  # hand mask: 255
    assert np.asarray(Image.open(read_row(project, "hero", "pic1.png").mask))[20, 30] == 255
    undo_masks(project, undo2)
    assert np.array_equal(
        np.asarray(Image.open(read_row(project, "hero", "pic1.png").mask)), np.asarray(hand)
    )
    undo_masks(project, undo)
    assert read_row(project, "hero", "pic0.png").mask is None
    assert read_row(project, "hero", "pic1.png").mask is not None


def test_cancel_keeps_the_masks_made_so_far(project, bg_dir):
    control = RunControl()

    def reporter(event):
        if isinstance(event, Progress) and event.done == 1:
            control.cancel()

    report = auto_mask_job(bg_dir, targets(project), MaskOptions())(reporter, control)
    assert report.cancelled and len(report.masks) == 1
    assert [p.name for p in report.not_reached] == ["pic1.png", "pic2.png"]


@pytest.mark.slow
def test_clipseg_masks_what_the_prompt_names(tmp_path, project):
    folder = build_clipseg(tmp_path / "clipseg-rd64-refined")
    assert detect_masker_kind(folder) is MaskerKind.CLIPSEG
    masker = load_masker(folder, "cpu")
    scores = masker.predict(subject_picture(), "the character")
    assert masker.last_prompt == "the character"
    assert scores.shape == (40, 60) and scores.dtype == np.float32
    assert 0.0 <= scores.min() <= scores.max() <= 1.0 and scores.std() > 0
    other = masker.predict(subject_picture(), "a dog")
    assert not np.allclose(scores, other)  # the prompt reaches the model
    options = MaskOptions(prompt="the character", threshold=float(np.median(scores)))
    report = auto_mask_job(folder, targets(project), options)(lambda e: None, RunControl())
    apply_masks(project, report.masks)
    for key in project.image_keys("hero"):
        mask = Image.open(read_row(project, "hero", key).mask)
        assert mask.size == (60, 40) and 0.2 < learned_share(mask) < 0.8


def test_report_before_training_counts_masks(project, bg_dir):
    from lora_studio.core.issues import Severity
    from lora_studio.training.config import LossConfig, TrainConfig
    from lora_studio.training.validation import masks_used, validate

    config = TrainConfig(loss=LossConfig(masked_loss=True))
    before = [i for i in validate(config, project.to_dataset()) if i.field == "loss.masked_loss"]
    assert [i.severity for i in before] == [Severity.WARNING]  # no mask at all yet
    report = auto_mask_job(bg_dir, targets(project)[:2], MaskOptions())(lambda e: None, RunControl())
    apply_masks(project, report.masks)
    assert masks_used(project.to_dataset()) == (2, 3)
    (issue,) = [i for i in validate(config, project.to_dataset()) if i.field == "loss.masked_loss"]
    assert issue.severity == Severity.INFO and "masks used: 2 of 3" in issue.message
    assert "the other 1 are learned whole" in issue.message


def _save(folder, image):
    path = folder / f"pic{len(list(folder.glob('pic*.png')))}.png"
    image.save(path)
    return path
