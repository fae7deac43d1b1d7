"""Florence-2, Qwen2.5-VL and LLaVA (JoyCaption's architecture) through the real code path, on tiny
random-weight models saved to a temporary folder with in-test vocabularies."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image

from lora_studio.captioning.base import (
    FlorenceOptions,
    FlorenceTask,
    InstructOptions,
    Quantization,
    captioner_specs,
    detect_model_kind,
    inspect_model_folder,
    load_captioner,
)
from lora_studio.captioning.jobs import CaptionGroup, auto_caption_job
from lora_studio.captioning.runner import CaptionMode, caption_items, time_left_text
from lora_studio.core.control import RunControl
from lora_studio.core.errors import ModelLoadError
from lora_studio.core.events import CaptionReady, Progress
from lora_studio.dataset.edits import EditStack
from lora_studio.dataset.items import Item
from tests.captioning.tiny_vlm import WORDS, build_florence2, build_llava, build_qwen_vl

pytestmark = pytest.mark.slow  # imports transformers and builds three small models

FLORENCE = FlorenceOptions(device="cpu", max_new_tokens=4, min_new_tokens=2, num_beams=1, batch_size=2)
INSTRUCTION = "Describe the clothes and pose; not the art style."
INSTRUCT = InstructOptions(
    device="cpu", instruction=INSTRUCTION, max_new_tokens=4, min_new_tokens=2, batch_size=2
)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("vlm")
    return {
        "florence2": build_florence2(root / "Florence-2-tiny"),
        "qwen_vl": build_qwen_vl(root / "Qwen2.5-VL-tiny"),
        "llava": build_llava(root / "joycaption-tiny"),
    }


@pytest.fixture(scope="module")
def florence(models):
    captioner = load_captioner(models["florence2"], "cpu")
    yield captioner
    captioner.unload()


@pytest.fixture
def three(tmp_path):
    items = []
    for i, colour in enumerate([(200, 0, 0), (0, 0, 200), (0, 150, 0)]):
        path = tmp_path / f"p{i}.png"
        Image.new("RGB", (40 + 10 * i, 36), colour).save(path)
        items.append(Item(image=path, caption_path=tmp_path / f"p{i}.txt"))
    (tmp_path / "p1.txt").write_text("old caption", encoding="utf-8")
    return items


def _from_vocab(text: str) -> bool:
    return all(w in WORDS or w.strip(".,?';") in WORDS or w in ("s", "t") for w in text.split())


def test_folders_are_recognised_by_their_config(models):
    assert {k: detect_model_kind(p) for k, p in models.items()} == {k: k for k in models}
    assert all(inspect_model_folder(p).usable for p in models.values())
    assert {"florence2", "qwen_vl", "llava", "wd14", "blip"} <= {s.kind for s in captioner_specs()}


@pytest.mark.parametrize(
    ("task", "asked"),
    [
        (FlorenceTask.CAPTION, "what does the image describe?"),
        (FlorenceTask.DETAILED, "describe in detail what is shown in the image."),
        (FlorenceTask.MORE_DETAILED, "describe with a paragraph what is shown in the image."),
    ],
)
def test_florence_tasks_reach_the_model_and_give_text(florence, task, asked):
    images = [Image.new("RGB", (50, 40), (200, 10, 10)), Image.new("L", (30, 60), 90)]
    results = florence.caption(
        images, FlorenceOptions(device="cpu", task=task, max_new_tokens=4, min_new_tokens=2)
    )
    assert florence.last_prompts == [asked, asked]
    assert len(results) == 2 and all(r.text and _from_vocab(r.text) for r in results)


def test_florence_run_writes_sentences_with_the_trigger_first(florence, three):
    stack = EditStack()
    report = caption_items(three, florence, FLORENCE, CaptionMode.REPLACE, "zkw", stack=stack)
    texts = [p.caption_path.read_text(encoding="utf-8") for p in three]
    assert [t.split(", ", 1)[0] for t in texts] == ["zkw"] * 3
    assert texts[0] == f"zkw, {report.captions[0][1]}"
    stack.undo()
    assert [p.caption_path.exists() for p in three] == [False, True, False]
    assert three[1].caption_path.read_text(encoding="utf-8") == "old caption"


def test_original_florence_upload_is_refused_with_the_repository_to_take(models, tmp_path):
    folder = shutil.copytree(models["florence2"], tmp_path / "Florence-2-base")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_florence2.Florence2ForConditionalGeneration"}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ModelLoadError) as err:
        load_captioner(folder, "cpu")
    assert "florence-community/Florence-2-base" in err.value.hint


@pytest.mark.parametrize("kind", ["qwen_vl", "llava"])
def test_instruction_and_trigger_reach_the_prompt_and_the_caption(models, three, kind):
    captioner = load_captioner(models[kind], "cpu", options=INSTRUCT)
    try:
        assert type(captioner).__name__ == {"qwen_vl": "QwenVLCaptioner", "llava": "LlavaCaptioner"}[kind]
        report = caption_items(three, captioner, INSTRUCT, CaptionMode.REPLACE, "zkw")
        prompt = captioner.last_prompts[0]
        assert "describe the clothes and pose" in prompt and "art style" in prompt
        assert "refer to the main subject as zkw" in prompt
        assert "you are a helpful image captioner" in prompt
        for item, (_image, generated) in zip(three, report.captions):
            assert item.caption_path.read_text(encoding="utf-8") == f"zkw, {generated}"
            assert generated and _from_vocab(generated)
        placeholder = InstructOptions(
            device="cpu", instruction="call the character {trigger} .", max_new_tokens=2
        )
        captioner.caption([Image.new("RGB", (20, 20))], placeholder.for_trigger("zkw"))
        assert "call the character zkw" in captioner.last_prompts[0]
        assert "refer to" not in captioner.last_prompts[0]
    finally:
        captioner.unload()


def test_four_bit_is_ignored_on_the_cpu(models):
    captioner = load_captioner(
        models["qwen_vl"], "cpu", options=InstructOptions(quantization=Quantization.FOUR_BIT)
    )
    try:
        assert captioner.quantization is Quantization.FOUR_BIT and str(captioner.device) == "cpu"
        assert len(captioner.caption([Image.new("RGB", (16, 16))], INSTRUCT)) == 1
    finally:
        captioner.unload()


def test_cancel_keeps_finished_captions_as_one_undo_step(models, three):
    control = RunControl()
    events = []

    def reporter(event):
        events.append(event)
        if isinstance(event, CaptionReady) and event.index == 1:
            control.cancel()  # after the second picture (batch size 1)

    options = InstructOptions(device="cpu", instruction=INSTRUCTION, max_new_tokens=3, batch_size=1)
    job = auto_caption_job(models["llava"], [CaptionGroup(tuple(three), "zkw")], options, "replace", "ignore")
    report = job(reporter, control)
    assert report.cancelled and [p.name for p in report.not_reached] == ["p2.png"]
    assert report.edit is not None and len(report.edit.changes) == 2
    stack = EditStack()
    stack.push(report.edit)
    assert three[0].caption_path.read_text(encoding="utf-8").startswith("zkw, ")
    assert not three[2].caption_path.exists()
    stack.undo()  # one step puts both back
    assert not three[0].caption_path.exists()
    assert three[1].caption_path.read_text(encoding="utf-8") == "old caption"
    progress = [e.text for e in events if isinstance(e, Progress) and e.done == 1]
    assert progress and "left" in progress[0]  # the CPU run says how long the rest will take


def test_time_left_is_estimated_from_the_pace():
    assert time_left_text(2, 10, started=0.0, now=30.0) == "about 2 min left"
    assert time_left_text(1, 4, started=0.0, now=5.0) == "about 15 s left"
    assert time_left_text(0, 4, started=0.0, now=5.0) == time_left_text(4, 4, started=0.0, now=5.0) == ""


def test_qwen_chat_template_kept_beside_the_processor(models, tmp_path):
    """Some uploads keep the template in chat_template.json, not in the tokenizer files."""
    folder = shutil.copytree(models["qwen_vl"], tmp_path / "Qwen2-VL-2B-Instruct")
    template = (folder / "chat_template.jinja").read_text(encoding="utf-8")
    (folder / "chat_template.jinja").unlink()
    for name in ("tokenizer_config.json",):
        config = json.loads((folder / name).read_text(encoding="utf-8"))
        config.pop("chat_template", None)
        (folder / name).write_text(json.dumps(config), encoding="utf-8")
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": template}), encoding="utf-8")
    captioner = load_captioner(folder, "cpu")
    try:
        big = Image.new("RGB", (3000, 1200), (200, 0, 0))  # scaled down before the model sees it
        (result,) = captioner.caption([big], INSTRUCT)
        assert result.text and "describe the clothes and pose" in captioner.last_prompts[0]
    finally:
        captioner.unload()
    (folder / "chat_template.json").unlink()
    with pytest.raises(ModelLoadError, match="no chat template"):
        load_captioner(folder, "cpu")


def test_large_pictures_are_scaled_down_first():
    from lora_studio.captioning.models.vlm import fit_picture

    assert fit_picture(Image.new("RGB", (3000, 1200))).size == (1024, 410)
    small = Image.new("L", (300, 200))
    assert fit_picture(small).size == (300, 200) and fit_picture(small).mode == "RGB"
