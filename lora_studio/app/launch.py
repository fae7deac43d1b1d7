"""Starts the desktop app. Imported by the CLI before Qt is loaded, so Qt is only imported inside.

Why torch may be imported first: on Windows, torch >= 2.9 fails to load its DLLs (``WinError 1114``
on ``c10.dll``) when it is imported after Qt's DLLs are in the process (pytorch/pytorch#166628,
#169429; explosion/spaCy#13894). Training and generation import torch later, in workers, so on
Windows we import it before Qt, costing a few seconds at start-up. Everywhere else we don't: the
window opens in about a second and torch loads in a worker when it is first needed.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Qt is imported inside the functions, after the torch pre-import
    from PySide6.QtWidgets import QApplication

    from lora_studio.app.main_window import MainWindow

log = logging.getLogger(__name__)

APP_NAME = "LoRA Studio"
ORG_NAME = "LoRA Studio"
WINDOWS_APP_ID = "LoRAStudio.LoRAStudio"
NO_PRELOAD_ENV = "LORA_STUDIO_NO_TORCH_PRELOAD"  # set to 1 to skip the Windows pre-import (debugging)


def needs_torch_before_qt(platform: str = sys.platform) -> bool:
    return platform == "win32" and not os.environ.get(NO_PRELOAD_ENV)


def preload_torch_if_needed(platform: str = sys.platform) -> bool:
    """Import torch before Qt where that is required (Windows). Returns True if it imported torch."""
    if not needs_torch_before_qt(platform) or "PySide6.QtCore" in sys.modules:
        return False
    if importlib.util.find_spec("torch") is None:
        return False  # the app still opens; training will explain that torch is missing
    start = time.perf_counter()
    import torch  # noqa: F401 - imported for its side effect: load torch's DLLs before Qt's

    log.debug("Imported torch before Qt in %.1f s (Windows DLL order)", time.perf_counter() - start)
    return True


def use_offscreen_without_display() -> None:
    """The self-test must run on CI machines and servers with no screen."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _set_windows_app_id() -> None:
    """Let Windows group our windows under our own taskbar icon instead of python.exe's."""
    if sys.platform != "win32":
        return
    import ctypes

    try:
        ctypes.windll.shell32.SetCurrentProcessExplicitAppUserModelID(WINDOWS_APP_ID)  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        log.debug("Could not set the Windows app id", exc_info=True)


def create_application(argv: list[str] | None = None) -> QApplication:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from lora_studio import __version__
    from lora_studio.app.app_icon import app_icon

    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    # Qt 6 scales by default; pass fractional factors (125 %, 150 %) through instead of rounding.
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    _set_windows_app_id()
    app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("lora-studio")
    app.setWindowIcon(app_icon())
    return app


def launch_app(demo: bool = False, project: str | Path | None = None, selftest: bool = False) -> int:
    """Open the main window and run until it closes. Returns the process exit code."""
    if selftest:
        use_offscreen_without_display()
    from lora_studio.app.linux_display import check_display_libraries

    problem = check_display_libraries()
    if problem:  # Qt would abort with a misleading "xcb-cursor0 is needed"
        print(problem, file=sys.stderr)
        return 1
    preload_torch_if_needed()

    from lora_studio.core.log import setup_logging

    ring = setup_logging(logging.INFO)
    log.info("LoRA Studio starting (Python %s, %s)", sys.version.split()[0], sys.platform)

    from PySide6.QtCore import QTimer

    from lora_studio.app.excepthook import install_excepthook
    from lora_studio.app.main_window import MainWindow
    from lora_studio.app.state import AppContext
    from lora_studio.app.theme import apply_theme

    app = create_application()
    install_excepthook()
    context = AppContext()
    apply_theme(app, context.settings.theme)
    # "Same as the system" follows Windows' light/dark switch while the app runs.
    app.styleHints().colorSchemeChanged.connect(lambda *_: apply_theme(app, context.settings.theme))
    window = MainWindow(context, ring)
    # Threads must end before Qt tears down (a running QThread at exit aborts the process).
    app.aboutToQuit.connect(lambda: context.jobs.shutdown())
    window.show()

    if selftest:
        from lora_studio.app.selftest import run_selftest

        return run_selftest(window)

    if project:
        window.projects.open_path(project)
    elif demo:
        window.projects.open_demo()
    else:
        _reopen_last_project(window)
    # Checking the device imports torch; do it once the window is painted.
    QTimer.singleShot(1000, window.start_device_check)
    return app.exec()


def _reopen_last_project(window: MainWindow) -> None:
    last = window.context.settings.last_project
    if not last or not Path(last).is_dir():
        return
    from lora_studio.core.errors import LoraStudioError

    try:
        window.context.open_project(last)
    except LoraStudioError as exc:  # not worth a dialog at start-up: the user didn't ask for it
        log.warning("Could not reopen the last project %s: %s", last, exc)
