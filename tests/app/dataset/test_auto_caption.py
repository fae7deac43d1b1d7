"""Auto-captioning from the Dataset panel, with the tiny WD14 tagger built in code (no download)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lora_studio.app.panels.dataset.auto_caption_dialog import AutoCaptionDialog
from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel
from lora_studio.captioning.runner import CaptionMode
from tests.captioning.tiny_models import build_wd14


@pytest.fixture(scope="module")
def models_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models") / "captioners"
    build_wd14(root / "tiny-wd14")
    (root / "half-blip").mkdir()  # recognised as BLIP, but incomplete
    (root / "half-blip" / "config.json").write_text('{"model_type": "blip"}', encoding="utf-8")
    return root


def use_captioners(context, folder: Path) -> None:
    context.update_settings(dataclasses.replace(context.settings, captioner_dirs=(str(folder),)))


def caption_files(panel: DatasetPanel) -> dict[Path, bytes]:
    return {r.caption_path: r.caption_path.read_bytes() for r in panel.model.rows()}


def test_auto_caption_a_concept_then_one_undo(panel: DatasetPanel, qtbot, context, models_root, no_dialogs):
    use_captioners(context, models_root)
    before = caption_files(panel)
    panel.concepts.select("zorb")
    dialog = panel.captions.auto_caption_dialog()
    assert isinstance(dialog, AutoCaptionDialog)
    qtbot.addWidget(dialog)

    texts = [dialog.model_list.item(i).text() for i in range(dialog.model_list.count())]
    assert any("tiny-wd14" in t and "WD14" in t for t in texts)
    blip = next(t for t in texts if "half-blip" in t)
    assert "Can't be used yet" in blip and "model.safetensors" in blip  # the core's exact problem text
    assert dialog.selected_folder().name == "tiny-wd14"  # the usable one is picked

    dialog.set_scope("concept")
    dialog.mode.setCurrentIndex(dialog.mode.findData(CaptionMode.REPLACE.value))
    dialog.general_threshold.setValue(0.5)
    dialog.exclude_tags.setText("long hair")
    ready = []
    assert dialog.start()
    dialog.worker.event.connect(lambda e: ready.append(e))
    assert not dialog.start_button.isEnabled() and dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.running, timeout=30000)
    assert not no_dialogs, no_dialogs

    report = dialog.report
    assert report is not None and not report.cancelled
    assert len(report.changed_files) == 3
    assert dialog.preview.rowCount() == 3  # live preview got every picture
    assert "one Undo restores them" in dialog.status.text()
    assert "Captioned 3 of 3" in panel.job_label.text()
    after = caption_files(panel)
    for path, old in before.items():
        text = after[path].decode("utf-8")
        assert after[path] != old
        assert text.startswith("zorb, ")  # the concept's trigger word kept first
        assert "1girl" in text and "long hair" not in text and "long_hair" not in text
    # The grid shows the new captions.
    assert all(r.caption.startswith("zorb, 1girl") for r in panel.model.rows())

    # ONE undo step restores every sidecar byte for byte.
    assert panel.history.undo_label.startswith("Auto-caption")
    panel.captions.undo()
    assert caption_files(panel) == before
    assert not panel.history.can_undo
    panel.captions.redo()
    assert caption_files(panel) == after
    dialog.close()


def test_append_to_the_selection_only(panel: DatasetPanel, qtbot, context, models_root, no_dialogs):
    use_captioners(context, models_root)
    rows = panel.model.rows()
    panel.grid.select_path(rows[1].path)
    before = caption_files(panel)
    dialog = panel.captions.auto_caption_dialog()
    qtbot.addWidget(dialog)
    dialog.set_scope("selection")
    dialog.mode.setCurrentIndex(dialog.mode.findData(CaptionMode.APPEND.value))
    dialog.keep_trigger.setChecked(False)
    assert dialog.start()
    qtbot.waitUntil(lambda: not dialog.running, timeout=30000)
    after = caption_files(panel)
    changed = [p for p in before if before[p] != after[p]]
    assert changed == [rows[1].caption_path]
    assert after[rows[1].caption_path].decode().startswith(before[rows[1].caption_path].decode())
    dialog.close()


def test_no_model_shows_what_to_put_where(panel: DatasetPanel, qtbot, context, tmp_path):
    empty = tmp_path / "no models here"
    use_captioners(context, empty)
    dialog = panel.captions.auto_caption_dialog()
    qtbot.addWidget(dialog)
    entries = [dialog.model_list.item(i).text() for i in range(dialog.model_list.count())]
    assert len(entries) == 5 and all("Not installed. Put " in t for t in entries)  # every captioner offered
    assert not dialog.start_button.isEnabled()
    text = dialog.missing_label.text()
    assert dialog.missing_label.isVisibleTo(dialog)
    assert f"No captioning model was found in {empty}" in text
    assert "model.onnx and selected_tags.csv" in text  # WD14, in plain words
    assert "SmilingWolf/wd-swinv2-tagger-v3" in text
    assert "Salesforce/blip-image-captioning-base" in text  # BLIP too
    assert str(empty / "wd-swinv2-tagger-v3") in text
    dialog.close()


def test_a_broken_model_shows_the_core_message(panel: DatasetPanel, qtbot, context, tmp_path, no_dialogs):
    root = tmp_path / "captioners"
    broken = root / "broken-wd14"
    broken.mkdir(parents=True)
    (broken / "model.onnx").write_bytes(b"not a model")
    (broken / "selected_tags.csv").write_text("tag_id,name,category,count\n1,a,0,1\n", encoding="utf-8")
    use_captioners(context, root)
    before = caption_files(panel)
    dialog = panel.captions.auto_caption_dialog()
    qtbot.addWidget(dialog)
    assert dialog.start()
    qtbot.waitUntil(lambda: not dialog.running, timeout=30000)
    assert len(no_dialogs) == 1
    assert no_dialogs[0].expected and no_dialogs[0].message  # the core's plain message, not a traceback
    assert dialog.status.text() == no_dialogs[0].message
    assert caption_files(panel) == before
    dialog.close()
