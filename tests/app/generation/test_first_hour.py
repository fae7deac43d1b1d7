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
