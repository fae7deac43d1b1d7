"""Issue 16: actions that used to do nothing visible, pressed through the real widgets."""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QPushButton

from lora_studio.app.state import DeviceInfo


def test_generate_without_a_model_says_what_to_do(qtbot, context, tmp_path):
    from lora_studio.app.panels.generation.generation_panel import GenerationPanel

    empty = tmp_path / "no models"
    empty.mkdir()
    context.update_settings(
        dataclasses.replace(context.settings, checkpoint_dirs=(str(empty),), lora_dirs=(str(empty),))
    )
    panel = GenerationPanel(context)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: panel.jobs.idle, timeout=20000)
    assert panel.model_picker.current() is None
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    assert not panel.generate_button.isEnabled()
    assert "No base model yet" in panel.generate_button.toolTip()
    assert "Model folders" in panel.generate_button.toolTip()
    assert panel.status.text().startswith("No base model yet")  # not "Ready."
    assert not panel.grid_button.isEnabled() and "No base model yet" in panel.grid_button.toolTip()


def test_copy_diagnostics_in_the_about_box_confirms(window, qtbot, monkeypatch):
    monkeypatch.setattr(
        "lora_studio.app.main_window.probe_for_diagnostics",
        lambda reporter, control, known=None: ("2.13.0+cpu", DeviceInfo("CPU", "no CUDA")),
    )
    QGuiApplication.clipboard().setText("")
    seen: dict[str, str] = {}

    def press_copy_then_close() -> None:
        from lora_studio.app.dialogs.about_dialog import AboutDialog

        dialog = next(
            w for w in QApplication.topLevelWidgets() if isinstance(w, AboutDialog) and w.isVisible()
        )
        button = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Copy diagnostics")
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        seen["during"] = dialog.copy_status.text()
        qtbot.waitUntil(lambda: "Copied" in dialog.copy_status.text(), timeout=5000)
        seen["after"] = dialog.copy_status.text()
        seen["visible"] = str(dialog.copy_status.isVisible())
        dialog.accept()

    QTimer.singleShot(0, press_copy_then_close)
    about = next(a for a in window.menuBar().actions()[3].menu().actions() if "About" in a.text())
    about.trigger()
    assert seen["during"] == "Gathering diagnostics…"
    assert seen["after"].startswith("Copied to the clipboard") and seen["visible"] == "True"
    assert "LoRA Studio diagnostics" in QGuiApplication.clipboard().text()


def test_log_copy_button_confirms(window, qtbot):
    qtbot.mouseClick(window.log_widget.copy_button, Qt.MouseButton.LeftButton)
    assert window.log_widget.copy_button.text() == "Copied ✓"
    qtbot.waitUntil(lambda: window.log_widget.copy_button.text() == "Copy", timeout=5000)


def test_busy_message_goes_when_the_other_job_ends(qtbot, context, tmp_path):
    import threading

    from lora_studio.app.panels.generation.generation_panel import GenerationPanel
    from lora_studio.app.workers.worker import Worker

    panel = GenerationPanel(context)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: panel.jobs.idle, timeout=20000)
    release = threading.Event()
    worker = Worker(lambda reporter, control: release.wait(10), name="Epoch comparison", gpu=True)
    context.jobs.start(worker)
    qtbot.waitUntil(lambda: "busy: Epoch comparison" in panel.status.text(), timeout=5000)
    release.set()
    qtbot.waitUntil(lambda: not context.jobs.is_busy, timeout=10000)
    qtbot.waitUntil(lambda: "busy" not in panel.status.text(), timeout=5000)


def test_every_tab_fits_1280_by_720(window):
    hint = window.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 720
    for i in range(window.tabs.count()):
        tab = window.tabs.widget(i).minimumSizeHint()
        assert tab.width() <= 1280 and tab.height() <= 720, window.tabs.tabText(i)
