from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from lora_studio.app.main_window import MainWindow
from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel
from lora_studio.app.panels.generation.generation_panel import GenerationPanel
from lora_studio.app.panels.training.training_panel import TrainingPanel
from lora_studio.app.state import DeviceInfo
from lora_studio.core.settings import Theme, load_settings


def menu_titles(window: MainWindow) -> list[str]:
    return [a.text().replace("&", "") for a in window.menuBar().actions()]


def test_window_opens_with_three_tabs_and_menus(window):
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == [
        "Dataset",
        "Training",
        "Generation",
    ]
    assert isinstance(window.tabs.widget(0), DatasetPanel)
    assert isinstance(window.tabs.widget(1), TrainingPanel)
    assert isinstance(window.tabs.widget(2), GenerationPanel)
    assert menu_titles(window) == ["File", "Edit", "View", "Help"]
    assert window.project_status.text() == "No project open"


def test_device_shows_in_status_bar(window):
    window.context.set_device(DeviceInfo("NVIDIA GeForce RTX 3060", "12 GB"))
    assert window.device_status.text() == "Device: NVIDIA GeForce RTX 3060"


def test_theme_menu_saves_setting(window, settings_file):
    dark = next(a for a in window.theme_actions.actions() if a.data() == "dark")
    dark.trigger()
    assert window.context.settings.theme == Theme.DARK
    assert load_settings(settings_file).theme == Theme.DARK
    app = QApplication.instance()
    assert app.palette().color(QPalette.ColorRole.Window).lightness() < 100  # the look changed too
    light = next(a for a in window.theme_actions.actions() if a.data() == "light")
    light.trigger()
    assert app.palette().color(QPalette.ColorRole.Window).lightness() > 200


def test_log_view_shows_logged_line(window, qtbot):
    logging.getLogger("lora_studio.test").warning("a line for the log view")
    qtbot.waitUntil(lambda: "a line for the log view" in window.log_widget.text(), timeout=2000)
    window.log_widget.set_min_level(logging.ERROR)
    assert "a line for the log view" not in window.log_widget.text()
    window.log_widget.set_min_level(logging.INFO)
    assert "a line for the log view" in window.log_widget.text()
    window.log_widget.clear()
    assert window.log_widget.text() == ""


def test_log_view_receives_lines_from_other_threads(window, qtbot):
    import threading

    t = threading.Thread(target=lambda: logging.getLogger("lora_studio.worker").info("from a worker"))
    t.start()
    t.join()
    qtbot.waitUntil(lambda: "from a worker" in window.log_widget.text(), timeout=2000)


def test_window_geometry_is_restored(qtbot, context, ring, tmp_path):
    store = QSettings(str(tmp_path / "w.ini"), QSettings.Format.IniFormat)
    first = MainWindow(context, ring, state_store=store)
    qtbot.addWidget(first)
    first.resize(640, 480)  # fits the offscreen screen (restoreGeometry clamps to it)
    first.save_window_state()
    second = MainWindow(context, ring, state_store=store)
    qtbot.addWidget(second)
    assert (second.width(), second.height()) == (640, 480)


@pytest.fixture
def make_project():
    """Real LoRA Studio projects (lora_studio.dataset.project), named after their folder."""
    from lora_studio.dataset.project import create_project

    def make(path: Path) -> Path:
        create_project(path, path.name.title())
        return path

    return make


def test_open_project_updates_title_status_and_recent_menu(window, tmp_path, make_project, settings_file):
    a, b = make_project(tmp_path / "cat"), make_project(tmp_path / "dog")
    assert window.projects.open_path(a)
    assert window.projects.open_path(b)
    assert window.windowTitle() == "Dog — LoRA Studio"
    assert window.project_status.text() == "Project: Dog"
    assert window.recent_menu.project_paths() == [str(b), str(a)]
    assert load_settings(settings_file).recent_projects == (str(b), str(a))

    window.recent_menu.actions()[1].trigger()  # "cat", from the menu
    assert window.context.project_path == a
    assert window.recent_menu.project_paths() == [str(a), str(b)]


def test_clear_recent_projects(window, tmp_path, make_project, settings_file):
    assert window.projects.open_path(make_project(tmp_path / "cat"))
    clear = next(a for a in window.recent_menu.actions() if a.text() == "Clear this list")
    clear.trigger()
    assert window.recent_menu.project_paths() == []
    assert load_settings(settings_file).recent_projects == ()


def test_open_project_failure_shows_plain_error(window, tmp_path, no_dialogs):
    (tmp_path / "holiday photos").mkdir()  # a folder, but not a project
    assert not window.projects.open_path(tmp_path / "holiday photos")
    assert "is not a LoRA Studio project" in no_dialogs[0].message
    assert window.context.project is None
    assert not window.projects.open_path(tmp_path / "gone")
    assert "not there any more" in no_dialogs[1].message


def test_new_project_dialog_creates_project(window, tmp_path, monkeypatch):
    from lora_studio.app.dialogs.new_project_dialog import NewProjectDialog

    def fake_exec(dialog):
        dialog.name_edit.setText("Miso: the cat!")
        dialog.location_edit.setText(str(tmp_path))
        return NewProjectDialog.DialogCode.Accepted

    monkeypatch.setattr(NewProjectDialog, "exec", fake_exec)
    window.new_action.trigger()
    assert window.context.project_path == tmp_path / "Miso the cat"
    assert window.context.project_name == "Miso: the cat!"


def test_demo_opens_demo_project(window, qtbot, tmp_path, monkeypatch, make_project):
    import lora_studio.demo

    demo_dir = make_project(tmp_path / "demo")  # stands in for the tiny model build (tests/test_demo.py)
    monkeypatch.setattr(lora_studio.demo, "ensure_demo_project", lambda reporter=None: demo_dir)
    window.demo_action.trigger()
    qtbot.waitUntil(lambda: window.context.project_path == demo_dir, timeout=5000)


def test_close_while_job_runs_asks_and_can_be_refused(window, qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from lora_studio.app.workers.worker import Worker

    def long_job(reporter, control):
        while True:
            control.checkpoint()
            control.sleep(0.01)

    worker = window.context.jobs.start(Worker(long_job, name="Training"))
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: answers.pop(0))
    assert not window.close()  # refused: still open, still training
    assert worker.is_running
    assert window.close()  # accepted: cancelled and waited for
    assert not worker.is_running and not window.context.jobs.running()


def test_settings_dialog_edits_persist(window, settings_file, monkeypatch, tmp_path):
    from lora_studio.app.dialogs.settings_dialog import SettingsDialog

    def fake_exec(dialog):
        dialog.checkpoints.add_folder(tmp_path / "sd-models")
        dialog.loras.add_folder(tmp_path / "loras")
        dialog.output_edit.setText(str(tmp_path / "out"))
        dialog.theme_box.setCurrentIndex(dialog.theme_box.findData("light"))
        dialog.device_box.setCurrentIndex(dialog.device_box.findData("cpu"))
        return SettingsDialog.DialogCode.Accepted

    monkeypatch.setattr(SettingsDialog, "exec", fake_exec)
    window.settings_action.trigger()
    saved = load_settings(settings_file)
    assert saved.checkpoint_dirs == (str(tmp_path / "sd-models"),)
    assert saved.lora_dirs == (str(tmp_path / "loras"),)
    assert saved.captioner_dirs == ()
    assert saved.output_dir == str(tmp_path / "out")
    assert saved.theme == Theme.LIGHT and saved.device == "cpu"
    assert window.context.settings == saved


def test_settings_dialog_keeps_unlisted_values(qtbot):
    from lora_studio.app.dialogs.settings_dialog import SettingsDialog
    from lora_studio.core.settings import AppSettings

    original = AppSettings(device="cuda:1", recent_projects=("/a",), captioner_dirs=("/c",))
    dialog = SettingsDialog(original)
    qtbot.addWidget(dialog)
    assert dialog.edited_settings() == original
    dialog.captioners.list.setCurrentRow(0)
    dialog.captioners.remove_selected()
    assert dialog.edited_settings() == dataclasses.replace(original, captioner_dirs=())


def test_copy_diagnostics(window, qtbot, monkeypatch):
    from PySide6.QtGui import QGuiApplication

    monkeypatch.setattr(
        "lora_studio.app.main_window.probe_for_diagnostics",
        lambda reporter, control, known=None: ("2.13.0+cpu", DeviceInfo("CPU", "no CUDA")),
    )
    logging.getLogger("lora_studio.test").info("recent line for diagnostics")
    window.copy_diagnostics()
    qtbot.waitUntil(lambda: "LoRA Studio diagnostics" in QGuiApplication.clipboard().text(), timeout=5000)
    text = QGuiApplication.clipboard().text()
    for expected in ("PySide6:", "Python:", "torch: 2.13.0+cpu", "no CUDA", "Data folder", "recent line for"):
        assert expected in text
    assert window.device_status.text() == "Device: CPU"


def test_about_box_offers_diagnostics(window, qtbot):
    from PySide6.QtWidgets import QLabel, QPushButton

    from lora_studio import __version__
    from lora_studio.app.dialogs.about_dialog import AboutDialog

    dialog = AboutDialog(window.context, window)
    qtbot.addWidget(dialog)
    assert any(__version__ in label.text() for label in dialog.findChildren(QLabel))
    with qtbot.waitSignal(dialog.copy_diagnostics_requested, timeout=1000):
        next(b for b in dialog.findChildren(QPushButton) if b.text() == "Copy diagnostics").click()


def test_help_opens_folders(window, monkeypatch, tmp_path):
    opened = []
    monkeypatch.setattr(
        "lora_studio.app.desktop.QDesktopServices.openUrl", lambda url: opened.append(url) or True
    )
    for action in window.menuBar().actions()[3].menu().actions():
        if "folder" in action.text():
            action.trigger()
    assert [Path(u.toLocalFile()).name for u in opened] == ["logs", "checkpoints"]
