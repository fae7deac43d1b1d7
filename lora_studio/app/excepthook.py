"""Uncaught exceptions: log the traceback and tell the user in plain words, from any thread."""

from __future__ import annotations

import logging
import sys
import threading
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QApplication

from lora_studio.app.dialogs import error_dialog
from lora_studio.app.workers.error_info import ErrorInfo

log = logging.getLogger(__name__)


class ExceptionHandler(QObject):
    """Installed as ``sys.excepthook`` and ``threading.excepthook``.

    Exceptions from other threads are forwarded to the GUI thread through a queued signal, since only
    the GUI thread may open a dialog. While a dialog is open further errors are only logged, so an
    error in a repeating timer can't stack up dialogs.
    """

    error_raised = Signal(ErrorInfo)  # ErrorInfo

    def __init__(self) -> None:
        super().__init__()
        self._showing = False
        self._previous_hook = sys.excepthook
        self._previous_thread_hook = threading.excepthook
        self.error_raised.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def install(self) -> None:
        sys.excepthook = self.handle
        threading.excepthook = self._handle_thread

    def uninstall(self) -> None:
        sys.excepthook = self._previous_hook
        threading.excepthook = self._previous_thread_hook

    def handle(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            self._previous_hook(exc_type, exc, tb)
            return
        log.error("Uncaught error", exc_info=(exc_type, exc, tb))
        if exc.__traceback__ is None:
            exc = exc.with_traceback(tb)
        self.error_raised.emit(ErrorInfo.from_exception(exc))

    def _handle_thread(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        self.handle(args.exc_type, args.exc_value, args.exc_traceback)

    @Slot(ErrorInfo)
    def _show(self, info: ErrorInfo) -> None:
        if self._showing or QApplication.instance() is None:
            return
        self._showing = True
        try:
            error_dialog.show_error(info, QApplication.activeWindow())
        finally:
            self._showing = False


_handler: ExceptionHandler | None = None


def install_excepthook() -> ExceptionHandler:
    """Idempotent; call once the QApplication exists."""
    global _handler
    if _handler is None:
        _handler = ExceptionHandler()
        _handler.install()
    return _handler
