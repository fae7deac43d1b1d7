"""Render the main window and dialogs to PNGs for docs and visual review.

Usage: .venv/bin/python tests/app/make_screenshots.py [OUT_DIR]   (default docs/screenshots)
Not a test (pytest doesn't collect it); runs offscreen with a throw-away data folder.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["LORA_STUDIO_HOME"] = tempfile.mkdtemp(prefix="lora-studio-shots-")


def main(out: Path) -> None:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from lora_studio.app.dialogs.about_dialog import AboutDialog
    from lora_studio.app.dialogs.error_dialog import ErrorDialog
    from lora_studio.app.dialogs.new_project_dialog import NewProjectDialog
    from lora_studio.app.dialogs.settings_dialog import SettingsDialog
    from lora_studio.app.launch import create_application
    from lora_studio.app.main_window import MainWindow
    from lora_studio.app.state import AppContext, DeviceInfo
    from lora_studio.app.theme import apply_theme
    from lora_studio.app.workers.error_info import ErrorInfo
    from lora_studio.core.errors import TrainingError
    from lora_studio.core.log import setup_logging
    from lora_studio.core.settings import AppSettings, Theme

    out.mkdir(parents=True, exist_ok=True)
    ring = setup_logging(logging.INFO, to_file=False)
    app = create_application()
    home = Path(os.environ["LORA_STUDIO_HOME"])

    def settle() -> None:
        for _ in range(3):
            QApplication.processEvents()

    for theme in (Theme.LIGHT, Theme.DARK):
        suffix = "" if theme == Theme.LIGHT else "-dark"
        settings = AppSettings(
            theme=theme,
            lora_dirs=(r"C:\Users\ana\stable-diffusion-webui\models\Lora",),
            recent_projects=(r"C:\Users\ana\Documents\LoRA Studio\Miso the cat",),
        )
        context = AppContext(settings, settings_path=home / "settings.toml")
        apply_theme(app, theme)
        store = QSettings(str(home / f"window{suffix}.ini"), QSettings.Format.IniFormat)
        window = MainWindow(context, ring, state_store=store)
        window.resize(1280, 800)
        context.set_device(DeviceInfo("NVIDIA GeForce RTX 3060, 12 GB"))
        window.show()
        settle()
        window.grab().save(str(out / f"main-window{suffix}.png"))
        if theme == Theme.LIGHT:
            log = logging.getLogger("lora_studio.app")
            log.info("Opened the main window")
            log.warning("No base models found in the checkpoints folder yet")
            window.log_dock.show()
            window.tabs.setCurrentIndex(1)
            settle()
            window.grab().save(str(out / "main-window-log.png"))
            window.log_dock.hide()
            window.tabs.setCurrentIndex(0)

        settings_dialog = SettingsDialog(settings, window)
        settings_dialog.show()
        settle()
        settings_dialog.grab().save(str(out / f"settings{suffix}.png"))
        settings_dialog.findChild(QTabWidgetType()).setCurrentIndex(1)
        settle()
        settings_dialog.grab().save(str(out / f"settings-model-folders{suffix}.png"))
        settings_dialog.close()

        about = AboutDialog(context, window)
        about.show()
        settle()
        about.grab().save(str(out / f"about{suffix}.png"))
        about.close()

        if theme == Theme.LIGHT:
            new_project = NewProjectDialog(window)
            new_project.name_edit.setText("Miso the cat")
            new_project.show()
            settle()
            new_project.grab().save(str(out / "new-project.png"))
            new_project.close()
            try:
                raise TrainingError(
                    "The graphics card ran out of memory.",
                    hint="Lower the batch size to 1 or pick the “8 GB card” preset, then start again.",
                )
            except TrainingError as exc:
                info = ErrorInfo.from_exception(exc, title="Training failed")
            error = ErrorDialog(info, window)
            error.show()
            error.toggle_button.setChecked(True)
            settle()
            error.grab().save(str(out / "error-dialog.png"))
            error.close()
        window.hide()
        window.deleteLater()
        settle()


def QTabWidgetType():  # noqa: N802 - a tiny helper to keep the imports above lazy
    from PySide6.QtWidgets import QTabWidget

    return QTabWidget


if __name__ == "__main__":
    main(
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    )
