from __future__ import annotations

import sys
import threading

import pytest

from lora_studio.app.dialogs.error_dialog import ErrorDialog
from lora_studio.app.excepthook import ExceptionHandler
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.core.errors import ModelLoadError


@pytest.fixture
def handler(qapp):
    h = ExceptionHandler()
    h.install()
    yield h
    h.uninstall()


def _raise(exc: BaseException):
    try:
        raise exc
    except BaseException:
        return sys.exc_info()


def test_uncaught_error_is_logged_and_shown(handler, qtbot, no_dialogs, caplog):
    sys.excepthook(*_raise(RuntimeError("kaboom")))
    qtbot.waitUntil(lambda: bool(no_dialogs), timeout=2000)
    info = no_dialogs[0]
    assert not info.expected and "unexpected problem" in info.message
    assert "RuntimeError: kaboom" in info.details
    assert any(r.exc_info and r.getMessage() == "Uncaught error" for r in caplog.records)


def test_known_error_shows_its_own_words(handler, qtbot, no_dialogs):
    sys.excepthook(
        *_raise(ModelLoadError("That file is not a Stable Diffusion model.", hint="Pick another."))
    )
    qtbot.waitUntil(lambda: bool(no_dialogs), timeout=2000)
    assert no_dialogs[0].message == "That file is not a Stable Diffusion model."
    assert no_dialogs[0].hint == "Pick another."


def test_error_in_a_thread_reaches_the_gui_thread(handler, qtbot, no_dialogs):
    def boom():
        raise ValueError("from a thread")

    t = threading.Thread(target=boom)
    t.start()
    t.join()
    qtbot.waitUntil(lambda: bool(no_dialogs), timeout=2000)
    assert "ValueError: from a thread" in no_dialogs[0].details


def test_error_dialog_details_and_copy(qtbot):
    from PySide6.QtGui import QGuiApplication

    info = ErrorInfo("It broke.", "Try again.", "Traceback: line 1", expected=True)
    dialog = ErrorDialog(info)
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.details.isVisible()
    dialog.toggle_button.click()
    assert dialog.details.isVisible() and dialog.details.toPlainText() == "Traceback: line 1"
    dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == "It broke.\n\nTry again.\n\nTraceback: line 1"
