"""Screenshots of the real app on the demo project: a real training run, then a real generation.

Usage: .venv/bin/python docs/make_workflow_screenshots.py [OUT_DIR]   (default docs/screenshots)

Nothing is staged: it creates the demo project in a throw-away data folder, opens the main window
on it, probes the real device, trains the demo LoRA from the Training panel (in its child process)
and grabs the window at each stage. Takes a few minutes on a CPU.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["LORA_STUDIO_HOME"] = tempfile.mkdtemp(prefix="lora-studio-workflow-")


def main(out: Path) -> None:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from lora_studio.app.device_probe import probe_device
    from lora_studio.app.launch import create_application
    from lora_studio.app.main_window import MainWindow
    from lora_studio.app.state import AppContext
    from lora_studio.core.control import RunControl
    from lora_studio.core.log import setup_logging
    from lora_studio.core.paths import set_offline_environment
    from lora_studio.core.settings import AppSettings
    from lora_studio.demo import ensure_demo_project

    set_offline_environment()
    out.mkdir(parents=True, exist_ok=True)
    ring = setup_logging(logging.INFO, to_file=False)
    app = create_application()
    home = Path(os.environ["LORA_STUDIO_HOME"])
    demo = ensure_demo_project()
    context = AppContext(AppSettings(), settings_path=home / "settings.toml")
    window = MainWindow(context, ring, state_store=QSettings(str(home / "w.ini"), QSettings.Format.IniFormat))
    window.resize(1400, 860)
    window.show()
    context.set_device(probe_device(lambda e: None, RunControl()))
    context.open_project(demo)

    def wait(condition, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                raise SystemExit(f"timed out waiting for {what}")
            QApplication.processEvents()
            time.sleep(0.02)

    def shot(name: str) -> None:
        for _ in range(5):
            QApplication.processEvents()
            time.sleep(0.05)
        window.grab().save(str(out / name))
        print("wrote", out / name)

    window.tabs.setCurrentWidget(window.dataset_panel)
    wait(lambda: window.dataset_panel.model.rowCount() > 0 and not window.dataset_panel.busy, 60, "the dataset")
    wait(lambda: window.dataset_panel.model.thumbnail_count() >= window.dataset_panel.model.rowCount(), 60, "thumbnails")
    shot("main-window.png")

    panel = window.training_panel
    window.tabs.setCurrentWidget(panel)
    assert panel.runs.start(), panel.preflight.issues
    wait(lambda: panel.queue.is_running, 30, "the run to start")
    wait(lambda: not panel.queue.is_running, 900, "the run to finish")
    panel.tabs.setCurrentWidget(panel.plot)
    shot("training-running.png")
    panel.tabs.setCurrentWidget(panel.gallery)
    shot("training-samples.png")
    window.close()
    context.jobs.shutdown()  # what the app does on quit: a folder re-scan may still be running
    app.quit()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots"))
