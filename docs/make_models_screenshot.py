"""Screenshot of the Models dialog with real downloads from a stand-in hub on this machine.

Usage: .venv/bin/python docs/make_models_screenshot.py [OUT_DIR]   (default docs/screenshots)

Nothing goes online and nothing is staged: a local server (tests/captioning/hub_server.py) serves a
tiny tagger built in code under the names of three WD taggers; the script presses Download on them in
the real dialog: one finishes, one is paused half-way, one is still downloading when the picture is
taken (its server holds back the rest of the file). The sizes shown are the tiny models' sizes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["LORA_STUDIO_HOME"] = tempfile.mkdtemp(prefix="lora-studio-models-shot-")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(out: Path) -> None:
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from lora_studio.app.dialogs.model_row_widget import RowState
    from lora_studio.app.dialogs.models_dialog import ModelsDialog
    from lora_studio.app.launch import create_application
    from lora_studio.app.main_window import MainWindow
    from lora_studio.app.state import AppContext
    from lora_studio.core.log import setup_logging
    from lora_studio.core.paths import set_offline_environment
    from lora_studio.core.settings import AppSettings
    from tests.captioning.hub_server import FakeHub
    from tests.captioning.tiny_models import TAGS, build_wd14

    set_offline_environment()
    out.mkdir(parents=True, exist_ok=True)
    home = Path(os.environ["LORA_STUDIO_HOME"])
    ring = setup_logging(logging.INFO, to_file=False)
    app = create_application()

    def wait_until(condition, timeout_s: float = 60.0) -> None:
        end = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > end:
                raise TimeoutError("the dialog did not get there in time")
            QApplication.processEvents()
            time.sleep(0.02)

    tags = TAGS + [(f"tag_{i}", 0, 0.01, None) for i in range(600)]
    repo = build_wd14(home / "repo", tags=tags)
    hub = FakeHub()
    for name in ("wd-swinv2-tagger-v3", "wd-convnext-tagger-v3", "wd-vit-tagger-v3"):
        hub.add_repo(f"SmilingWolf/{name}", repo, lfs=("model.onnx",))
    hub.start()
    os.environ["HF_ENDPOINT"] = hub.url
    try:
        context = AppContext(AppSettings(), settings_path=home / "settings.toml")
        captioners = home / "models" / "captioners"
        context.update_settings(dataclasses.replace(context.settings, captioner_dirs=(str(captioners),)))
        window = MainWindow(context, ring, state_store=QSettings(str(home / "w.ini"), QSettings.Format.IniFormat))
        window.show()
        window.models_action.trigger()
        dialog = window.findChild(ModelsDialog, "modelsDialog")
        rows = dialog.rows

        QTest.mouseClick(rows["wd-swinv2-tagger-v3"].download_button, Qt.MouseButton.LeftButton)
        wait_until(lambda: rows["wd-swinv2-tagger-v3"].state == RowState.INSTALLED)

        hub.hold_after["model.onnx"] = 4000
        paused = rows["wd-convnext-tagger-v3"]
        QTest.mouseClick(paused.download_button, Qt.MouseButton.LeftButton)
        wait_until(lambda: paused.progress.maximum() == 1000 and paused.progress.value() > 0)
        QTest.mouseClick(paused.pause_button, Qt.MouseButton.LeftButton)
        time.sleep(0.5)
        hub.release.set()
        wait_until(lambda: paused.state == RowState.PAUSED)

        hub.release.clear()
        hub.hold_after["model.onnx"] = 6500
        running = rows["wd-vit-tagger-v3"]
        QTest.mouseClick(running.download_button, Qt.MouseButton.LeftButton)
        wait_until(lambda: running.progress.maximum() == 1000 and running.progress.value() >= 250)  # 6500 bytes of 22.6 kB
        dialog.resize(960, 760)
        for _ in range(5):
            QApplication.processEvents()
        dialog.grab().save(str(out / "models-dialog.png"))
        print("wrote", out / "models-dialog.png")
        hub.release.set()
        wait_until(lambda: running.state == RowState.INSTALLED)
        context.jobs.shutdown(10000)
        window.close()
    finally:
        hub.release.set()
        hub.stop()
    app.quit()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots")
