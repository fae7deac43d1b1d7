"""The main window: three tabs, menus, a status bar and a dockable log view.

Importing this module must stay light: no torch, diffusers or transformers (tests check it).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QWidget,
)

from lora_studio.app import theme as app_theme
from lora_studio.app.app_icon import app_icon
from lora_studio.app.desktop import open_folder
from lora_studio.app.device_probe import probe_device
from lora_studio.app.diagnostics import LOG_LINES, collect_diagnostics, probe_for_diagnostics
from lora_studio.app.dialogs.about_dialog import AboutDialog
from lora_studio.app.dialogs.error_dialog import show_error
from lora_studio.app.dialogs.models_dialog import show_models_dialog
from lora_studio.app.dialogs.settings_dialog import SettingsDialog
from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel
from lora_studio.app.panels.generation.generation_panel import GenerationPanel
from lora_studio.app.panels.training.training_panel import TrainingPanel
from lora_studio.app.project_actions import ProjectActions
from lora_studio.app.state import AppContext, DeviceInfo
from lora_studio.app.widgets.log_widget import LogWidget
from lora_studio.app.widgets.recent_projects_menu import RecentProjectsMenu
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.worker import Worker
from lora_studio.core import log as core_log
from lora_studio.core import paths
from lora_studio.core.log import RingHandler
from lora_studio.core.settings import AppSettings, Theme

log = logging.getLogger(__name__)

DEFAULT_SIZE = (1280, 800)


def default_size(available: QSize | None) -> tuple[int, int]:
    """The first-start size: DEFAULT_SIZE, made smaller on a smaller screen (a 1280×720 laptop), so the
    window's bottom edge and status bar are never below the screen."""
    width, height = DEFAULT_SIZE
    if available is None or available.isEmpty():
        return width, height
    return min(width, available.width()), min(height, available.height())


def window_state_store() -> QSettings:
    """Window geometry lives in an .ini next to settings.toml (portable mode keeps working)."""
    return QSettings(str(paths.data_dir() / "window.ini"), QSettings.Format.IniFormat)


class MainWindow(QMainWindow):
    diagnostics_copied = Signal()
    diagnostics_failed = Signal()

    def __init__(
        self,
        context: AppContext,
        ring: RingHandler | None = None,
        *,
        state_store: QSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.context = context
        self._state_store = state_store if state_store is not None else window_state_store()
        self._device_worker: Worker | None = None
        self._diagnostics_worker: Worker | None = None
        self.setWindowTitle("LoRA Studio")
        self.setWindowIcon(app_icon())
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)

        self.dataset_panel = DatasetPanel(context)
        self.training_panel = TrainingPanel(context)
        self.generation_panel = GenerationPanel(context)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.tabBar().setObjectName("mainTabBar")
        for panel in (self.dataset_panel, self.training_panel, self.generation_panel):
            self.tabs.addTab(panel, panel.title)
        self.setCentralWidget(self.tabs)

        self._ring = ring if ring is not None else core_log.ring()
        self.log_widget = LogWidget(self._ring)
        self.log_dock = QDockWidget("Log", self)
        self.log_dock.setObjectName("logDock")
        self.log_dock.setWidget(self.log_widget)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.log_dock)
        self.log_dock.hide()

        self.projects = ProjectActions(context, self)
        self._build_status_bar()
        self._build_menus()

        context.project_changed.connect(self._on_project_changed)
        context.device_changed.connect(self._on_device_changed)
        context.settings_changed.connect(self._on_settings_changed)
        context.jobs.busy_changed.connect(self._on_busy_changed)
        self._on_project_changed()
        self._restore_window_state()

    # -- building ------------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.project_status = QLabel()
        self.job_status = QLabel()
        self.device_status = QLabel("Device: not checked yet")
        for label in (self.project_status, self.job_status, self.device_status):
            label.setContentsMargins(8, 0, 8, 0)
        bar.addWidget(self.project_status, 1)
        bar.addPermanentWidget(self.job_status)
        bar.addPermanentWidget(self.device_status)

    def _build_menus(self) -> None:
        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        self.new_action = file_menu.addAction("&New project…", self.projects.new_project)
        self.new_action.setShortcut(QKeySequence.StandardKey.New)
        self.open_action = file_menu.addAction("&Open project…", self.projects.open_project)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.recent_menu = RecentProjectsMenu(self.context, self)
        self.recent_menu.project_chosen.connect(self.projects.open_path)
        file_menu.addMenu(self.recent_menu)
        self.demo_action = file_menu.addAction("Open &demo project", self.projects.open_demo)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit", self.close)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        edit_menu = menus.addMenu("&Edit")
        # The caption history is app-wide: its Undo/Redo work from every tab (text fields keep
        # their own Ctrl+Z while they have the focus).
        edit_menu.addAction(self.dataset_panel.undo_action)
        edit_menu.addAction(self.dataset_panel.redo_action)
        edit_menu.addSeparator()
        self.settings_action = edit_menu.addAction("&Settings…", self.open_settings)
        self.settings_action.setShortcut(QKeySequence.StandardKey.Preferences)
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)

        view_menu = menus.addMenu("&View")
        log_action = self.log_dock.toggleViewAction()
        log_action.setText("&Log")
        log_action.setShortcut(QKeySequence("Ctrl+L"))
        view_menu.addAction(log_action)
        theme_menu = view_menu.addMenu("&Theme")
        self.theme_actions = QActionGroup(self)
        for value, label in app_theme.THEME_LABELS.items():
            action = theme_menu.addAction(label)
            action.setCheckable(True)
            action.setData(value.value)
            action.setChecked(value == self.context.settings.theme)
            self.theme_actions.addAction(action)
        self.theme_actions.triggered.connect(self._on_theme_chosen)

        help_menu = menus.addMenu("&Help")
        about = help_menu.addAction("&About LoRA Studio", self.show_about)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        help_menu.addAction("&Copy diagnostics", self.copy_diagnostics)
        self.models_action = help_menu.addAction("&Models…", lambda: show_models_dialog(self.context, self))
        self.models_action.setStatusTip("Download captioning and masking models (the only download)")
        help_menu.addSeparator()
        help_menu.addAction("Open &log folder", lambda: self._open_folder(paths.logs_dir()))
        help_menu.addAction(
            "Open &models folder", lambda: self._open_folder(self.context.settings.checkpoint_folders()[0])
        )

    # -- state -> widgets ----------------------------------------------------------------------
    @Slot()
    def _on_project_changed(self, *_: object) -> None:
        name = self.context.project_name
        self.setWindowTitle(f"{name} — LoRA Studio" if name else "LoRA Studio")
        path = self.context.project_path
        self.project_status.setText(f"Project: {name}" if name else "No project open")
        self.project_status.setToolTip(str(path) if path else "")

    @Slot(DeviceInfo)
    def _on_device_changed(self, device: DeviceInfo) -> None:
        self.device_status.setText(f"Device: {device.summary}")
        self.device_status.setToolTip(device.details)

    @Slot(AppSettings)
    def _on_settings_changed(self, settings: AppSettings) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app_theme.apply_theme(app, settings.theme)
        for action in self.theme_actions.actions():
            action.setChecked(action.data() == settings.theme.value)

    @Slot(bool)
    def _on_busy_changed(self, busy: bool) -> None:
        job = self.context.jobs.current_gpu_job()
        # "Working: zorb…" — a bare run name ("zorb…") in the corner did not say what it was
        self.job_status.setText(f"Working: {job.name}…" if busy and job else "")

    @Slot(QAction)
    def _on_theme_chosen(self, action: QAction) -> None:
        self.context.update_settings(dataclasses.replace(self.context.settings, theme=Theme(action.data())))

    # -- commands ------------------------------------------------------------------------------
    @Slot()
    def open_settings(self) -> None:
        dialog = SettingsDialog(self.context.settings, self)
        if dialog.exec() == SettingsDialog.DialogCode.Accepted:
            self.context.update_settings(dialog.edited_settings())

    @Slot()
    def show_about(self) -> None:
        dialog = AboutDialog(self.context, self)
        dialog.copy_diagnostics_requested.connect(self.copy_diagnostics)
        self.diagnostics_copied.connect(dialog.show_copied)
        self.diagnostics_failed.connect(dialog.show_copy_failed)
        dialog.exec()

    @Slot()
    def start_device_check(self) -> None:
        """Find out the device in the background (imports torch; the window stays responsive)."""
        if self._device_worker is not None or self.context.device is not None:
            return
        self.device_status.setText("Device: checking…")
        worker = Worker(probe_device, name="Device check", gpu=False)
        worker.finished.connect(self._on_device_checked)
        worker.failed.connect(self._on_device_check_failed)
        self._device_worker = worker
        self.context.jobs.start(worker)

    @Slot(DeviceInfo)
    def _on_device_checked(self, device: DeviceInfo) -> None:
        self._device_worker = None
        self.context.set_device(device)

    @Slot(ErrorInfo)
    def _on_device_check_failed(self, info: ErrorInfo) -> None:
        self._device_worker = None
        self.device_status.setText("Device: check failed (see the log)")

    @Slot()
    def copy_diagnostics(self) -> None:
        """Torch's version and the device need torch: gather them in a worker, then copy."""
        if self._diagnostics_worker is not None:
            return
        self.statusBar().showMessage("Gathering diagnostics…")
        known = self.context.device
        worker = Worker(lambda r, c: probe_for_diagnostics(r, c, known), name="Diagnostics", gpu=False)
        worker.finished.connect(self._on_diagnostics_ready)
        worker.failed.connect(self._on_diagnostics_failed)
        self._diagnostics_worker = worker
        self.context.jobs.start(worker)

    @Slot(object)
    def _on_diagnostics_ready(self, result: tuple[str, DeviceInfo]) -> None:
        self._diagnostics_worker = None
        torch_version, device = result
        if self.context.device is None:
            self.context.set_device(device)
        log_lines = self._ring.tail(LOG_LINES) if self._ring else []
        text = collect_diagnostics(self.context, device, torch_version, log_lines)
        QGuiApplication.clipboard().setText(text)
        self.statusBar().showMessage("Diagnostics copied. Paste them into your bug report.", 8000)
        self.diagnostics_copied.emit()

    @Slot(ErrorInfo)
    def _on_diagnostics_failed(self, info: ErrorInfo) -> None:
        self._diagnostics_worker = None
        self.statusBar().clearMessage()
        self.diagnostics_failed.emit()
        show_error(info, self)

    def _open_folder(self, folder: Path) -> None:
        if not open_folder(folder):
            self.statusBar().showMessage(f"Couldn't open {folder}", 8000)

    # -- window state and closing --------------------------------------------------------------
    def _restore_window_state(self) -> None:
        geometry = self._state_store.value("main_window/geometry")
        state = self._state_store.value("main_window/state")
        if isinstance(geometry, QByteArray) and self.restoreGeometry(geometry):
            if isinstance(state, QByteArray):
                self.restoreState(state)
            return
        self.resize(*default_size(self.screen().availableGeometry().size() if self.screen() else None))

    def save_window_state(self) -> None:
        self._state_store.setValue("main_window/geometry", self.saveGeometry())
        self._state_store.setValue("main_window/state", self.saveState())
        self._state_store.sync()

    def confirm_stop_jobs(self) -> bool:
        """Ask before closing while a graphics-card job runs. True means: go ahead and close."""
        job = self.context.jobs.current_gpu_job()
        if job is None:
            return True
        answer = QMessageBox.question(
            self,
            "Stop and quit?",
            f"{job.name} is still running. If you quit now it stops, and progress since the last "
            "saved step is lost.\n\nStop it and quit?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if not self.confirm_stop_jobs():
            event.ignore()
            return
        if self.context.jobs.running():
            self.statusBar().showMessage("Stopping…")
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            try:
                self.context.jobs.shutdown()
            finally:
                QApplication.restoreOverrideCursor()
        self.save_window_state()
        self.log_widget.detach()
        event.accept()
