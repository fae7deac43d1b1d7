"""Render the FLUX.1 views of the Training and Generation panels to PNGs (the FLUX demo project).

Usage: .venv/bin/python tests/app/make_flux_screenshots.py [OUT_DIR]  (default docs/screenshots)
Writes training-flux.png (preset bar on FLUX.1 + 16 GB, the FLUX.1 settings group) and
generation-flux.png (a FLUX model loaded, Distilled CFG Scale, a picture made by the real engine on
the tiny random-weight FLUX). Not a test; runs offscreen with a throw-away data folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["LORA_STUDIO_HOME"] = tempfile.mkdtemp(prefix="lora-studio-flux-shots-")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main(out: Path) -> None:
    from PySide6.QtWidgets import QApplication

    from lora_studio.app.launch import create_application
    from lora_studio.app.panels.generation.generation_panel import GenerationPanel
    from lora_studio.app.panels.training.training_panel import TrainingPanel
    from lora_studio.app.state import AppContext, DeviceInfo
    from lora_studio.app.theme import apply_theme
    from lora_studio.core.families import ModelFamily
    from lora_studio.core.settings import AppSettings, Theme
    from lora_studio.demo import create_demo_project, model_file
    from lora_studio.training.config import update

    out.mkdir(parents=True, exist_ok=True)
    app = create_application()
    apply_theme(app, Theme.LIGHT)
    home = Path(os.environ["LORA_STUDIO_HOME"])
    demo = create_demo_project(home / "FLUX demo", family="flux")
    model = demo / model_file("flux")
    settings = AppSettings(output_dir=str(home / "outputs"), device="cpu")
    context = AppContext(settings, settings_path=home / "settings.toml")
    context.set_device(DeviceInfo("NVIDIA GeForce RTX 4060 Ti, 16 GB"))
    context.open_project(demo)

    def wait(cond, timeout: float = 300) -> None:
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.02)
        for _ in range(10):
            app.processEvents()
            time.sleep(0.02)

    # -- Training: FLUX.1 + 16 GB from the preset bar, the FLUX.1 group in view
    panel = TrainingPanel(context)
    panel.resize(1280, 800)
    panel.show()
    panel.set_config(update(panel.config(), **{"model.base_model": str(model), "run.output_name": "zorb-flux"}))
    bar = panel.presets
    bar.family.setCurrentIndex(bar.family.findData(ModelFamily.FLUX.value))
    bar.vram.setCurrentIndex(bar.vram.findData(16))
    bar.purpose.setCurrentIndex(bar.purpose.findData("character"))
    bar.apply_button.click()
    panel.form_control.refresh_checks()
    panel.form.tabs.setCurrentIndex(1)  # Advanced: the FLUX.1 group lives there
    group = panel.form.groups["flux"]
    wait(lambda: group.isVisible(), 10)
    scroll = panel.form.tabs.currentWidget()
    scroll.ensureWidgetVisible(group, 0, 0)
    bar_pos = scroll.verticalScrollBar()
    bar_pos.setValue(group.mapTo(scroll.widget(), group.rect().topLeft()).y() - 8)
    wait(lambda: True)
    panel.grab().save(str(out / "training-flux.png"))

    # -- Generation: the FLUX model, Distilled CFG Scale, a picture
    gen = GenerationPanel(context)
    gen.resize(1280, 800)
    gen.show()
    picker = gen.model_picker.combo
    wait(lambda: picker.findData(str(model)) >= 0 and gen.jobs.idle, 120)
    picker.setCurrentIndex(picker.findData(str(model)))
    wait(lambda: gen.jobs.idle)
    s = gen.settings_widget
    s.size_preset.setCurrentIndex(s.size_preset.findData("custom"))
    s.width_spin.setValue(256)
    s.height_spin.setValue(256)
    s.steps.setValue(8)
    s.seed.setText("1234")
    s.options.distilled_cfg.setValue(3.5)
    gen.prompt_editor.prompt.setPlainText("zorb, an orange round mascot waving on a beach, bright summer light")
    gen.requests.generate()
    wait(lambda: gen.jobs.idle and len(gen.gallery.entries) > 0, 600)
    wait(lambda: True)
    gen.grab().save(str(out / "generation-flux.png"))
    context.jobs.shutdown(20000)
    QApplication.processEvents()
    print("wrote", out / "training-flux.png", out / "generation-flux.png")
    os._exit(0)  # skip interpreter teardown of Qt objects


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
