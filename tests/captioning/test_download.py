"""The optional download: offline it fails at once with a plain message (never touches the network)."""

from __future__ import annotations

import time

import pytest

from lora_studio.captioning.download import download_model, downloads_disabled, guess_kind
from lora_studio.core.errors import ModelLoadError


def test_offline_download_fails_fast_with_a_plain_message(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert downloads_disabled()
    started = time.monotonic()
    with pytest.raises(ModelLoadError) as err:
        download_model("SmilingWolf/wd-swinv2-tagger-v3", tmp_path / "wd-swinv2-tagger-v3")
    assert time.monotonic() - started < 1.0
    assert "offline" in err.value.message
    assert "model.onnx and selected_tags.csv" in err.value.hint
    assert str(tmp_path / "wd-swinv2-tagger-v3") in err.value.hint
    assert not (tmp_path / "wd-swinv2-tagger-v3").exists()


def test_guess_kind():
    assert guess_kind("SmilingWolf/wd-eva02-large-tagger-v3") == "wd14"
    assert guess_kind("Salesforce/blip-image-captioning-large") == "blip"
    with pytest.raises(ModelLoadError, match="does not know"):
        guess_kind("someone/mystery-model")
    assert guess_kind("florence-community/Florence-2-large") == "florence2"
    assert guess_kind("Qwen/Qwen2.5-VL-3B-Instruct") == "qwen_vl"
    assert guess_kind("fancyfeast/llama-joycaption-beta-one-hf-llava") == "llava"
