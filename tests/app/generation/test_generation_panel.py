"""The Generation panel end to end on the tiny model: mixer, prompt sync, generate, restore, grid, dataset."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent

from lora_studio.dataset.clip_tokens import get_tokenizer
from lora_studio.formats.infotext import read_png_parameters
from tests.app.generation.conftest import set_small


def _generate(qtbot, panel, timeout: int = 120000) -> None:
    before = len(panel.gallery.entries)
    panel.generate_button.click()
    qtbot.waitUntil(lambda: not panel.is_generating() and panel.jobs.idle, timeout=timeout)
    assert len(panel.gallery.entries) > before, panel.status.text()


def test_lists_models_and_loras_and_import_stays_light(panel):
    assert panel.model_picker.current().name == "tiny-sd1"
    assert "SD 1.5" in panel.model_picker.family_label.text()
    assert sorted(panel.mixer.rows) == ["alpha", "beta", "miso-e000001", "miso-e000002"]
    assert panel.prompt_editor.prompt_count.text().endswith("/75")
    # Exact CLIP counts from the start (no tokenizer job): LoRA tags are not counted.
    panel.prompt_editor.prompt.setPlainText("zorb, (masterpiece:1.2), 1girl <lora:alpha:0.8>")
    exact = get_tokenizer().count("zorb, (masterpiece:1.2), 1girl ")
    assert panel.prompt_editor.prompt_count.text() == f"{exact}/75"


def test_panel_module_does_not_import_torch():
    import subprocess

    code = (
        "import lora_studio.app.panels.generation.generation_panel, sys\n"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_mixer_and_prompt_stay_in_sync(qtbot, panel):
    panel.prompt_editor.prompt.setPlainText("a photo of a cat")
    panel.mixer.row("alpha").check.setChecked(True)
    assert panel.prompt_editor.prompt.text == "a photo of a cat, <lora:alpha:1>"
    panel.mixer.row("alpha").spin.setValue(0.6)
    assert "<lora:alpha:0.6>" in panel.prompt_editor.prompt.text
    slider = panel.mixer.row("alpha").slider
    qtbot.keyClick(slider, Qt.Key.Key_Down)  # arrow keys step by 0.05
    assert "<lora:alpha:0.55>" in panel.prompt_editor.prompt.text
    panel.mixer.row("alpha").spin.setValue(-0.45)
    assert "<lora:alpha:-0.45>" in panel.prompt_editor.prompt.text
    # Typing a tag enables that LoRA at that weight; deleting it disables it.
    panel.prompt_editor.prompt.setPlainText("a cat <lora:beta:0.35>")
    panel.prompt_editor.flush()
    assert panel.mixer.row("beta").enabled and panel.mixer.row("beta").weight == pytest.approx(0.35)
    assert not panel.mixer.row("alpha").enabled
    # Enabled LoRAs go to the top; weights are remembered for next time.
    panel.mixer.sort_rows()
    first = panel.mixer.list_layout.itemAt(1).widget()
    assert first.name == "beta"
    panel.memory_save()
    from lora_studio.generation.generation_memory import GenerationMemory

    assert GenerationMemory.load(None).weight("alpha") == pytest.approx(-0.45)


def test_generate_with_two_loras_then_restore_from_the_png(qtbot, panel, monkeypatch):
    shown = []
    monkeypatch.setattr(
        "lora_studio.app.panels.generation.request_controller.show_error",
        lambda info, _p=None: shown.append(info),
    )
    set_small(panel)
    panel.prompt_editor.prompt.setPlainText("a photo of miso the cat")
    panel.prompt_editor.negative.setPlainText("blurry")
    panel.mixer.row("alpha").check.setChecked(True)
    panel.mixer.row("alpha").spin.setValue(0.8)
    panel.mixer.row("beta").check.setChecked(True)
    panel.mixer.row("beta").spin.setValue(-0.5)
    _generate(qtbot, panel)
    assert not shown, shown
    entry = panel.gallery.current()
    assert entry.path.is_file() and entry.seed == 1234
    assert panel.gallery.view.has_image()
    info = read_png_parameters(entry.path)
    assert "<lora:alpha:0.8>" in info and "<lora:beta:-0.5>" in info
    assert "Seed: 1234" in info and "Steps: 2" in info and "Size: 64x64" in info
    html = panel.gallery.info.toPlainText()
    assert "alpha 0.8" in html and "seed 1234" in html
    assert panel.model_picker.is_current_loaded()

    # A second run after only moving a slider reuses the loaded model (no reload).
    panel.mixer.row("beta").spin.setValue(0.25)
    _generate(qtbot, panel)
    assert "in memory" in panel.model_picker.status_label.text().lower()

    # Change everything, then drop the first PNG on the panel: its settings come back.
    panel.mixer.row("alpha").check.setChecked(False)
    panel.mixer.row("beta").check.setChecked(False)
    panel.prompt_editor.set_prompt("something else")
    panel.settings_widget.steps.setValue(9)
    panel.settings_widget.seed.clear()
    panel.settings_widget.cfg.setValue(3.0)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(entry.path))])
    drop = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    panel.dropEvent(drop)
    assert panel.mixer.row("alpha").enabled and panel.mixer.row("alpha").weight == pytest.approx(0.8)
    assert panel.mixer.row("beta").enabled and panel.mixer.row("beta").weight == pytest.approx(-0.5)
    assert panel.settings_widget.steps.value() == 2
    assert panel.settings_widget.seed_value() == 1234
    assert panel.settings_widget.cfg.value() == pytest.approx(7.0)
    assert (panel.settings_widget.width_spin.value(), panel.settings_widget.height_spin.value()) == (64, 64)
    text = panel.prompt_editor.prompt.text
    assert text.startswith("a photo of miso the cat") and "<lora:alpha:0.8>" in text
    assert panel.prompt_editor.negative.text == "blurry"
    request = panel.build_request()
    assert {Path(s.path).stem: s.weight for s in request.loras} == {"alpha": 0.8, "beta": -0.5}


def test_gui_stays_responsive_while_generating(qtbot, panel):
    # Load first: the very first load imports torch, whose C start-up holds Python's GIL for about a
    # second on any thread (the Windows app imports torch before the window opens for that reason).
    panel.model_picker.load_button.click()
    qtbot.waitUntil(lambda: panel.model_picker.is_current_loaded() and panel.jobs.idle, timeout=120000)
    set_small(panel)
    panel.settings_widget.steps.setValue(6)
    panel.settings_widget.batch_count.setValue(2)
    panel.prompt_editor.prompt.setPlainText("a cat <lora:alpha:0.7>")
    panel.prompt_editor.flush()
    gaps: list[float] = []
    last = [time.perf_counter()]

    def beat() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(beat)
    timer.start()
    _generate(qtbot, panel)
    timer.stop()
    assert len(gaps) > 10
    assert max(gaps[1:]) < 0.1, f"longest GUI pause {max(gaps) * 1000:.0f} ms"


def test_cancel_stops_generation(qtbot, panel):
    set_small(panel)
    panel.settings_widget.steps.setValue(40)
    panel.settings_widget.batch_count.setValue(5)
    panel.prompt_editor.prompt.setPlainText("a cat")
    panel.generate_button.click()
    qtbot.waitUntil(lambda: panel.progress.maximum() > 1 and panel.progress.value() >= 1, timeout=120000)
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.is_generating(), timeout=30000)
    assert panel.status.text() == "Stopped."
    assert panel.generate_button.isEnabled()


def test_grid_2x2(qtbot, panel):
    set_small(panel)
    panel.prompt_editor.prompt.setPlainText("a cat")
    panel.mixer.row("miso-e000001").check.setChecked(True)
    panel.requests.open_grid()
    dialog = panel.requests.grid_dialog
    qtbot.addWidget(dialog)
    # Defaults: the epochs of the LoRA in use across, strengths down.
    assert dialog.x_axis.current_kind() == "lora"
    assert dialog.y_axis.current_kind() == "weight"
    dialog.y_axis.values.setText("0.5, 1")
    assert "2 × 2 = 4 pictures" in dialog.count_label.text()
    dialog.run_button.click()
    qtbot.waitUntil(lambda: dialog.grid_path is not None, timeout=180000)
    qtbot.waitUntil(lambda: panel.jobs.idle, timeout=30000)
    assert dialog.view.has_image() and dialog.save_button.isEnabled()
    from PIL import Image

    with Image.open(dialog.grid_path) as grid:
        assert grid.width >= 128 and grid.height >= 128


def test_send_to_dataset(qtbot, panel, gen_context, tmp_path, monkeypatch):
    from lora_studio.app.panels.generation.gallery_widget import GalleryEntry
    from lora_studio.app.panels.generation.send_to_dataset_dialog import SendToDatasetDialog
    from lora_studio.dataset.project import add_concept

    project = gen_context.create_project(tmp_path / "proj", "Proj")
    add_concept(project, "miso")
    qtbot.waitUntil(lambda: panel.jobs.idle, timeout=30000)
    from PIL import Image

    picture = tmp_path / "00001-5.png"
    Image.new("RGB", (64, 64), "orange").save(picture)
    panel.gallery.add_entry(
        GalleryEntry(
            picture,
            5,
            "miso the cat <lora:alpha:1>\nSteps: 2, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 64x64",
        )
    )
    monkeypatch.setattr(SendToDatasetDialog, "exec", lambda self: True)
    panel.gallery.dataset_button.click()
    copies = list((tmp_path / "proj").rglob("00001-5.png"))
    assert len(copies) == 1 and "miso" in str(copies[0].parent)
    assert copies[0].with_suffix(".txt").read_text("utf-8").strip() == "miso the cat"
