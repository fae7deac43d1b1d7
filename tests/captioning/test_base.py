"""The torch-free part: registry, folder detection, messages that say which files go where."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lora_studio.captioning.base import (
    captioner_class,
    captioner_specs,
    default_model_dir,
    detect_model_kind,
    find_model_folders,
    get_spec,
    inspect_model_folder,
    load_captioner,
    missing_model_message,
)
from lora_studio.core.errors import ModelLoadError
from lora_studio.core.settings import AppSettings


def test_base_imports_no_engine():
    code = (
        "import sys, lora_studio.captioning.base, lora_studio.captioning.runner\n"
        "bad = [m for m in ('torch', 'transformers', 'onnxruntime', 'PySide6') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_registry_lists_families_and_imports_lazily():
    kinds = [s.kind for s in captioner_specs()]
    assert kinds[:2] == ["wd14", "blip"]
    assert captioner_class("wd14").__name__ == "WD14Tagger"
    with pytest.raises(ModelLoadError, match="no captioner called"):
        get_spec("nope")


def test_missing_model_message_default_folder_is_the_app_captioner_folder():
    msg = missing_model_message("wd14")
    expected = AppSettings().captioner_folders()[0] / "wd-swinv2-tagger-v3"
    assert msg == (
        f"Put model.onnx and selected_tags.csv from SmilingWolf/wd-swinv2-tagger-v3 "
        f"(huggingface.co/SmilingWolf/wd-swinv2-tagger-v3) into {expected}{os.sep}"
    )
    assert default_model_dir("blip").name == "blip-image-captioning-base"
    blip = missing_model_message("blip")
    assert "config.json" in blip and "model.safetensors or pytorch_model.bin" in blip
    assert "Salesforce/blip-image-captioning-base" in blip


def test_detect_and_find_model_folders(tmp_path, wd14_dir):
    root = tmp_path / "captioners"
    (root / "junk").mkdir(parents=True)
    half = root / "half-tagger"
    half.mkdir()
    (half / "selected_tags.csv").write_text("tag_id,name,category,count\n")
    blip = root / "my-blip"
    blip.mkdir()
    (blip / "config.json").write_text(
        json.dumps({"model_type": "blip", "architectures": ["BlipForConditionalGeneration"]})
    )
    blip2 = root / "blip2"
    blip2.mkdir()
    (blip2 / "config.json").write_text(json.dumps({"model_type": "blip-2"}))

    assert detect_model_kind(wd14_dir) == "wd14"
    assert detect_model_kind(root / "junk") is None
    assert detect_model_kind(blip) == "blip"
    assert detect_model_kind(blip2) is None
    assert detect_model_kind(tmp_path / "missing") is None

    found = {f.name: f for f in find_model_folders([root, wd14_dir.parent, tmp_path / "nowhere"])}
    assert set(found) == {"half-tagger", "my-blip", "tiny-wd14"}
    assert found["tiny-wd14"].usable and found["tiny-wd14"].kind == "wd14"
    assert not found["half-tagger"].usable and "model.onnx" in found["half-tagger"].problem
    assert "selected_tags.csv" not in found["half-tagger"].problem.split(" from ")[0]
    assert "model.safetensors" in found["my-blip"].problem

    unknown = inspect_model_folder(root / "junk")
    assert unknown.kind is None and "model.onnx and selected_tags.csv" in unknown.problem
    with pytest.raises(ModelLoadError, match="No captioning model files"):
        load_captioner(root / "junk")
    with pytest.raises(ModelLoadError, match="incomplete"):
        load_captioner(half)
