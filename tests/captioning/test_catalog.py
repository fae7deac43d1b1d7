"""The catalogue of downloadable models: stable unique names, sensible file choices, no torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lora_studio.captioning.catalog import (
    CATALOG,
    CatalogModel,
    FileRule,
    Task,
    format_size,
    get_model,
    models_for,
)
from lora_studio.core.errors import ModelLoadError


def test_names_are_unique_plain_folder_names():
    names = [m.name for m in CATALOG]
    assert len(names) == len(set(names))
    for model in CATALOG:
        assert "/" not in model.name and "\\" not in model.name and not model.name.startswith(".")
        assert model.repo.count("/") == 1
        assert model.licence and model.good_for and model.approx_size > 1_000_000


def test_every_family_the_issue_names_is_there():
    kinds = {m.kind for m in CATALOG}
    assert {"wd14", "blip", "florence2", "qwen_vl", "llava", "clipseg", "bg_remover"} <= kinds
    assert {m.task for m in CATALOG} == set(Task)
    assert len(models_for("wd14")) >= 5
    assert get_model("wd-swinv2-tagger-v3").repo == "SmilingWolf/wd-swinv2-tagger-v3"


def test_select_takes_the_needed_files_and_names_the_missing_ones():
    qwen = get_model("Qwen3-VL-2B-Instruct")
    listing = [
        ".gitattributes",
        "README.md",
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "tokenizer.json",
        "merges.txt",
        "preprocessor_config.json",
        "onnx/model.onnx",
    ]
    assert qwen.select(listing) == [
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "tokenizer.json",
        "merges.txt",
        "preprocessor_config.json",
    ]
    with pytest.raises(ModelLoadError, match="model.onnx") as err:
        get_model("wd-vit-tagger-v3").select(["selected_tags.csv", "README.md"])
    assert "models/captioners/wd-vit-tagger-v3" in err.value.hint


def test_installed_in_checks_required_files(tmp_path):
    wd = get_model("wd-vit-tagger-v3")
    folder = tmp_path / wd.name
    assert not wd.installed_in(folder)
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"x")
    assert not wd.installed_in(folder)
    (folder / "selected_tags.csv").write_text("tag_id,name,category,count\n")
    assert wd.installed_in(folder)
    nested = CatalogModel(**{**_fields(wd), "files": (FileRule(("onnx/model.onnx",)),)})
    (tmp_path / "nested" / "onnx").mkdir(parents=True)
    assert not nested.installed_in(tmp_path / "nested")
    (tmp_path / "nested" / "onnx" / "model.onnx").write_bytes(b"x")
    assert nested.installed_in(tmp_path / "nested")


def _fields(model: CatalogModel) -> dict:
    return {name: getattr(model, name) for name in CatalogModel.__dataclass_fields__}


def test_unknown_name_and_sizes():
    with pytest.raises(ModelLoadError, match="no model called"):
        get_model("nope")
    assert format_size(1_260_000_000) == "1.3 GB"
    assert format_size(470_000_000) == "470 MB"
    assert format_size(999) == "999 bytes"


def test_catalog_imports_no_heavy_or_network_modules():
    code = (
        "import sys, lora_studio.captioning.catalog\n"
        "bad = [m for m in ('torch', 'transformers', 'huggingface_hub', 'PySide6', 'urllib.request')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
