"""Pieces of the Generation panel: tags, memory, LoRA rows and info, project files, img2img, bake."""

from __future__ import annotations

import json
import shutil

import pytest

from lora_studio.core.families import ModelFamily
from lora_studio.generation.model_library import LoraItem, scan_library
from lora_studio.generation.request import read_lora_tags, remove_lora_tag, set_lora_tag
from tests.app.generation.conftest import set_small


def test_prompt_tag_editing():
    assert set_lora_tag("", "a", 1.0) == "<lora:a:1>"
    assert set_lora_tag("a cat", "a", 0.5) == "a cat, <lora:a:0.5>"
    assert set_lora_tag("a cat, <lora:A:0.5>, sofa", "a", -1.25) == "a cat, <lora:a:-1.25>, sofa"
    assert remove_lora_tag("a cat, <lora:a:0.5>, sofa", "a") == "a cat, sofa"
    assert remove_lora_tag("<lora:a:0.5> a cat", "a") == "a cat"
    # a half-typed tag is ignored, the complete one is read
    tags = read_lora_tags("x <lora:b:0.3> <lora:a:0.")
    assert [(t.name, t.weight) for t in tags] == [("b", 0.3)]
    assert [t.name for t in read_lora_tags("x <lora:b:oops> <lora:c:1>")] == ["c"]


def test_memory_survives_a_broken_file(tmp_path):
    from lora_studio.generation.generation_memory import GenerationMemory

    memory = GenerationMemory.load(tmp_path)
    memory.set_weight("Miso", 0.7)
    memory.add_prompt("a cat", "blurry")
    memory.add_prompt("a dog", "")
    memory.add_prompt("a cat", "blurry")
    memory.save()
    again = GenerationMemory.load(tmp_path)
    assert again.weight("miso") == 0.7 and again.history == [("a cat", "blurry"), ("a dog", "")]
    again.path.write_text("{not json", "utf-8")
    assert GenerationMemory.load(tmp_path).weights == {}


def test_row_warns_when_the_base_model_family_differs(qtbot, tmp_path):
    from lora_studio.app.panels.generation.lora_row_widget import LoraRowWidget

    row = LoraRowWidget(LoraItem(tmp_path / "xl-style.safetensors", ModelFamily.SDXL, "folder"), 0.5)
    qtbot.addWidget(row)
    row.set_model_family(ModelFamily.SD1)
    assert row.has_mismatch and "SDXL" in row.warning.toolTip()
    row.set_model_family(ModelFamily.SDXL)
    assert not row.has_mismatch
    seen = []
    row.changed.connect(lambda *a: seen.append(a))
    row.spin.setValue(0.75)  # typing a strength enables the LoRA
    assert seen[-1] == ("xl-style", True, 0.75) and row.enabled


def test_info_dialog_offers_trigger_words(qtbot, tmp_path):
    from lora_studio.app.panels.generation.lora_info_dialog import LoraInfoDialog
    from lora_studio.diffusion.tiny import build_tiny_pipeline
    from lora_studio.formats.lora_keys import save_kohya_lora
    from tests.generation.conftest import add_random_lora, peft_state_dicts

    pipe = build_tiny_pipeline("sd1", 0)
    add_random_lora(pipe, 3)
    tags = {"4_miso": {"miso": 20, "cat": 20, "sofa": 3}}
    path = save_kohya_lora(
        tmp_path / "miso.safetensors", peft_state_dicts(pipe), family="sd1", alpha_for=lambda *_: 2.0,
        metadata={"ss_tag_frequency": json.dumps(tags), "ss_base_model_version": "sdxl_base_v1-0", "ss_epoch": "3"},
    )  # fmt: skip
    library = scan_library([], [tmp_path])
    item = library.lora_named("miso")
    assert item is not None and item.family == ModelFamily.SDXL and item.epoch == 3
    dialog = LoraInfoDialog(item)
    qtbot.addWidget(dialog)
    words = [b.text() for b in dialog.trigger_buttons]
    assert words[:2] == ["cat", "miso"] or words[:2] == ["miso", "cat"]
    inserted = []
    dialog.insert_requested.connect(inserted.append)
    dialog.trigger_buttons[0].click()
    assert inserted == [words[0]]
    assert path.exists()


def test_project_models_and_loras_are_listed_first(qtbot, panel, gen_context, gen_library, tmp_path):
    root = tmp_path / "proj"
    gen_context.create_project(root, "Proj")
    qtbot.waitUntil(lambda: panel.jobs.idle, timeout=30000)
    shutil.copytree(gen_library["model"], root / "models" / "demo-model")
    (root / "output").mkdir()
    shutil.copyfile(gen_library["loras"] / "alpha.safetensors", root / "output" / "proj-e000003.safetensors")
    panel.models.refresh_library()
    qtbot.waitUntil(lambda: panel.mixer.row("proj-e000003") is not None and panel.jobs.idle, timeout=30000)
    assert panel.state.library.models[0].source == "project" and panel.state.library.models[0].name == "demo-model"
    assert "this project" in panel.mixer.row("proj-e000003").details_label.text()
    assert "this project" in panel.model_picker.combo.itemText(0)


def test_img2img_with_a_painted_mask(qtbot, panel, tmp_path, monkeypatch):
    from PIL import Image
    from PySide6.QtCore import QPointF

    from lora_studio.app.panels.generation.mask_painter_dialog import MaskPainterDialog

    shown = []
    monkeypatch.setattr(
        "lora_studio.app.panels.generation.request_controller.show_error",
        lambda info, _p=None: shown.append(info),
    )
    start = tmp_path / "start.png"
    Image.new("RGB", (64, 64), (200, 120, 40)).save(start)
    init = panel.settings_widget.init_image
    init.set_image(start)

    def paint(self):
        self.canvas.stroke(QPointF(10, 10), QPointF(50, 50))
        return True

    monkeypatch.setattr(MaskPainterDialog, "exec", paint)
    init.paint_button.click()
    assert init.mask_path is not None and init.mask_path.is_file()
    with Image.open(init.mask_path) as mask:
        assert mask.getpixel((30, 30)) == 255 and mask.getpixel((60, 2)) == 0
    set_small(panel)
    panel.prompt_editor.prompt.setPlainText("a cat")
    fields = panel.build_request()
    assert fields.init_image == str(start) and fields.mask == str(init.mask_path)
    panel.generate_button.click()
    qtbot.waitUntil(lambda: panel.jobs.idle, timeout=120000)
    assert not shown, shown
    assert "Denoising strength: 0.6" in panel.gallery.current().infotext


def test_bake(qtbot, panel, tmp_path):
    from lora_studio.diffusion.families import inspect_checkpoint

    panel.mixer.row("alpha").check.setChecked(True)
    panel.mixer.row("alpha").spin.setValue(0.5)
    out = tmp_path / "baked.safetensors"
    panel.requests.bake(panel.model_picker.current().path, panel.requests.lora_specs(), out)
    qtbot.waitUntil(lambda: panel.jobs.idle, timeout=180000)
    assert out.is_file(), panel.status.text()
    assert inspect_checkpoint(out).family == ModelFamily.SD1
    assert "baked.safetensors" in panel.status.text()


@pytest.mark.parametrize("text", ["0, 0.5, 1", "1,2"])
def test_grid_value_parsing(text):
    from lora_studio.app.panels.generation.grid_dialog import parse_values, training_stem

    assert len(parse_values("weight", text)) == len(text.split(","))
    with pytest.raises(ValueError):
        parse_values("steps", "ten")
    assert training_stem("miso-e000004") == "miso" == training_stem("miso")
