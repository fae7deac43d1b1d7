"""Issue 16 item 5 on the Generation tab: another project does not inherit the last one's LoRA tags."""

from __future__ import annotations

from PySide6.QtCore import Qt


def test_opening_another_project_drops_the_lora_tags(qtbot, panel, gen_context, tmp_path):
    from lora_studio.dataset import project as P

    qtbot.mouseClick(
        panel.mixer.row("alpha").check,
        Qt.MouseButton.LeftButton,
        pos=panel.mixer.row("alpha").check.rect().center(),
    )
    panel.prompt_editor.prompt.setPlainText("a photo of a cat, <lora:alpha:1>")
    panel.prompt_editor.flush()
    assert panel.mixer.row("alpha").enabled
    other = P.create_project(tmp_path / "Other", "Other")
    gen_context.open_project(other.root)
    assert "<lora:" not in panel.prompt_editor.prompt.text
    assert "a photo of a cat" in panel.prompt_editor.prompt.text  # the words stay
    qtbot.waitUntil(lambda: panel.jobs.idle, timeout=20000)
    assert not panel.mixer.enabled_rows()


def test_a_new_lora_file_shows_up_without_refresh(qtbot, gen_context, gen_library, tmp_path):
    import dataclasses
    import shutil

    from lora_studio.app.panels.generation.generation_panel import GenerationPanel

    loras = tmp_path / "my loras"
    loras.mkdir()
    shutil.copy(gen_library["loras"] / "alpha.safetensors", loras / "alpha.safetensors")
    gen_context.update_settings(dataclasses.replace(gen_context.settings, lora_dirs=(str(loras),)))
    panel = GenerationPanel(gen_context)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: sorted(panel.mixer.rows) == ["alpha"], timeout=20000)
    shutil.copy(
        gen_library["loras"] / "beta.safetensors", loras / "zorb-2.safetensors"
    )  # a run just saved it
    qtbot.waitUntil(lambda: "zorb-2" in sorted(panel.mixer.rows), timeout=20000)
    (loras / "alpha.safetensors").unlink()
    qtbot.waitUntil(lambda: sorted(panel.mixer.rows) == ["zorb-2"], timeout=20000)
