"""A project's own base model, kept outside every model folder, is offered in the Generation tab.

Walking a project of our own: the Training tab pointed to /tmp/model/tiny-sd1.safetensors, the run
finished, and the Generation tab said "No models found — add one in Settings" beside the new LoRA.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QPalette

from lora_studio.app.state import AppContext
from lora_studio.app.theme import style_sheet
from lora_studio.core.settings import AppSettings


def test_the_model_typed_in_the_training_tab_appears_in_generation(
    qtbot, qapp, tmp_path: Path, tiny_sd1_dir: Path, no_dialogs
):
    from lora_studio.app.panels.generation.generation_panel import GenerationPanel
    from lora_studio.app.panels.training.training_panel import TrainingPanel

    settings = AppSettings(
        checkpoint_dirs=(str(tmp_path / "no models here"),),
        lora_dirs=(str(tmp_path / "no loras here"),),
        output_dir=str(tmp_path / "outputs"),
        device="cpu",
    )
    context = AppContext(settings, settings_path=tmp_path / "settings.toml")
    context.create_project(tmp_path / "zorb", "zorb")
    training = TrainingPanel(context)
    generation = GenerationPanel(context)
    generation.setStyleSheet(style_sheet())  # the app's look, here on this panel only
    for widget in (training, generation):
        qtbot.addWidget(widget)
        widget.resize(1280, 720)
        widget.show()
    try:
        qtbot.waitUntil(lambda: generation.jobs.idle, timeout=20000)
        picker = generation.model_picker
        assert picker.current() is None
        assert picker.combo.currentText().startswith("No models found")
        assert not generation.generate_button.isEnabled()
        # ...and it looks disabled: not the bright accent of a button that can be pressed.
        accent = generation.palette().color(QPalette.ColorRole.Highlight).rgb()
        assert button_colour(generation.generate_button) != accent

        # The person types the model's path into the Training tab's Base model field.
        line = training.form.editors["model.base_model"].property("line")
        line.setFocus()
        qtbot.keyClicks(line, str(tiny_sd1_dir))
        line.editingFinished.emit()  # what leaving the field (Tab, a click elsewhere) sends

        qtbot.waitUntil(lambda: picker.current() is not None, timeout=20000)
        assert picker.current().path.resolve() == tiny_sd1_dir.resolve()
        assert picker.combo.currentText() == f"{tiny_sd1_dir.name}  (this project)"
        assert picker.combo.isEnabled()
        qtbot.waitUntil(lambda: generation.jobs.idle, timeout=20000)
        assert generation.generate_button.isEnabled()
        assert button_colour(generation.generate_button) == accent
    finally:
        context.jobs.shutdown(20000)


def button_colour(button) -> int:
    """The colour of the button's face as drawn (just inside its border, away from the text)."""
    image = button.grab().toImage()
    return image.pixelColor(image.width() // 2, 3).rgb()
