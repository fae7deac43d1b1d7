"""Issue 16 item 3: a run's epoch files are one entry in the LoRA list, with the epochs to choose
from, and the full file names on hover; choosing an epoch moves the prompt's tag to that file."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import Qt


def visible_rows(panel):
    return [row for row in panel.mixer.unique_rows() if not row.isHidden()]


def test_a_runs_epochs_are_one_entry_with_an_epoch_choice(qtbot, panel, gen_library):
    # the library has miso-e000001 and miso-e000002: one entry, the latest epoch shown first
    names = sorted(row.name for row in visible_rows(panel))
    assert names == ["alpha", "beta", "miso-e000002"]
    row = panel.mixer.row("miso-e000001")
    assert row is panel.mixer.row("miso-e000002")
    combo = row.epoch_combo
    assert combo.isVisible() and [combo.itemText(i) for i in range(combo.count())] == ["epoch 2", "epoch 1"]
    assert combo.itemData(1, Qt.ItemDataRole.ToolTipRole).startswith("miso-e000001\n")
    assert row.name_label.toolTip().startswith("miso-e000002\n")  # the full name on hover
    assert "2 files of run “miso”" in row.details_label.text()
    assert not panel.mixer.row("alpha").epoch_combo.isVisible()
    assert panel.mixer.count_label.text() == "0 of 3 in use"

    # use it, then pick the first epoch: the prompt's tag follows
    qtbot.mouseClick(row.check, Qt.MouseButton.LeftButton)
    assert "<lora:miso-e000002:1>" in panel.prompt_editor.prompt.text
    combo.setCurrentIndex(1)  # what picking "epoch 1" in the list does
    text = panel.prompt_editor.prompt.text
    assert "<lora:miso-e000001:1>" in text and "miso-e000002" not in text
    assert row.name_label.text() == "miso-e000001"

    # typing another epoch's tag shows that epoch in the entry
    panel.prompt_editor.set_prompt("a cat <lora:miso-e000002:0.5>")
    panel.prompt_editor.prompt_edited.emit(panel.prompt_editor.prompt.text)
    assert row.enabled and row.name == "miso-e000002" and row.weight == pytest.approx(0.5)
    assert combo.currentText() == "epoch 2"


def test_the_final_file_joins_its_run_as_final(qtbot, panel, gen_library, tmp_path):
    loras = tmp_path / "loras"
    shutil.copytree(gen_library["loras"], loras)
    shutil.copy(loras / "beta.safetensors", loras / "miso.safetensors")
    from lora_studio.generation.model_library import scan_library

    library = scan_library([], [loras])
    panel.mixer.set_loras(library.loras, lambda _n: 1.0)
    row = panel.mixer.row("miso")
    combo = row.epoch_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["final", "epoch 2", "epoch 1"]
    assert row.name == "miso"
