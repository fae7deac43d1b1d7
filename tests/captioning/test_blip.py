"""BLIP through the real code path on a tiny random-weight model saved to a temporary folder."""

from __future__ import annotations

import shutil

import pytest
from PIL import Image

from lora_studio.captioning.base import SentenceOptions, detect_model_kind, load_captioner
from lora_studio.captioning.runner import CaptionMode, caption_items
from lora_studio.core.errors import ModelLoadError
from lora_studio.dataset.items import Item
from tests.captioning.tiny_models import BLIP_WORDS

pytestmark = pytest.mark.slow  # imports transformers and builds a model (~15 s on a busy CPU)

OPTS = SentenceOptions(device="cpu", max_new_tokens=6, min_new_tokens=2, num_beams=2, batch_size=2)


@pytest.fixture(scope="module")
def blip(blip_dir):
    captioner = load_captioner(blip_dir, "cpu")
    yield captioner
    captioner.unload()


def _words_ok(text: str) -> bool:
    vocab = {w.lstrip("#") for w in BLIP_WORDS}
    return all(any(part.startswith(v) or v.startswith(part) for v in vocab) for part in text.split())


def test_folder_is_recognised_and_loads_locally(blip_dir, blip):
    assert detect_model_kind(blip_dir) == "blip"
    assert type(blip).__name__ == "BlipCaptioner" and blip.loaded


def test_captions_are_strings_from_the_vocabulary(blip):
    images = [Image.new("RGB", (50, 40), (200, 10, 10)), Image.new("L", (30, 60), 90)]
    results = blip.caption(images, OPTS)
    assert len(results) == 2
    for r in results:
        assert isinstance(r.text, str) and r.text.strip() and not r.tags
        assert "[" not in r.text and _words_ok(r.text)


def test_conditional_prompt_is_kept_or_dropped(blip):
    image = [Image.new("RGB", (32, 32), (0, 90, 200))]
    (kept,) = blip.caption(image, SentenceOptions(prompt="a photo of", max_new_tokens=4, num_beams=1))
    assert kept.text.startswith("a photo of")
    (dropped,) = blip.caption(
        image, SentenceOptions(prompt="a photo of", keep_prompt=False, max_new_tokens=4, num_beams=1)
    )
    assert not dropped.text.startswith("a photo of")
    assert kept.text.endswith(dropped.text)


def test_runner_writes_sentences_with_trigger(blip, tmp_path):
    path = tmp_path / "p.png"
    Image.new("RGB", (32, 32), (10, 200, 10)).save(path)
    item = Item(image=path)
    report = caption_items([item], blip, OPTS, CaptionMode.REPLACE, "zkw")
    text = (tmp_path / "p.txt").read_text()
    assert text.startswith("zkw, ") and text == f"zkw, {report.captions[0][1]}"


def test_missing_weights_are_named(blip_dir, tmp_path):
    broken = tmp_path / "blip-no-weights"
    shutil.copytree(blip_dir, broken)
    (broken / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError) as err:
        load_captioner(broken, "cpu")
    assert "model.safetensors or pytorch_model.bin" in str(err.value)
    assert "config.json" not in err.value.hint.split(" from ")[0]


def test_damaged_weights_give_a_plain_error(blip_dir, tmp_path):
    broken = tmp_path / "blip-damaged"
    shutil.copytree(blip_dir, broken)
    (broken / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="cannot be loaded"):
        load_captioner(broken, "cpu")
