"""Stop a command-line run politely on every "please stop" the operating system sends.

Ctrl+C (SIGINT), SIGTERM (a polite "End task", ``kill``, a logout or shutdown) and SIGHUP (the
terminal was closed) on Linux/macOS; on Windows Ctrl+Break (SIGBREAK) and the console's close,
logoff and shutdown events, which arrive through ``SetConsoleCtrlHandler`` rather than as signals.
Each calls ``on_stop(signal_number, frame)``; the run then saves a state and ends.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from lora_studio.core.control import RunControl

log = logging.getLogger(__name__)

Handler = Callable[[int, Any], None]

# Windows console control events (wincon.h).
CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT = 2, 5, 6
# Windows ends the process this long after a close event (logoff/shutdown allow a bit more).
_WINDOWS_GRACE_S = 20.0


def _posix_signals() -> list[int]:
    names = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK"]
    return [getattr(signal, n) for n in names if hasattr(signal, n)]


@contextlib.contextmanager
def stop_signals(on_stop: Handler, control: RunControl) -> Iterator[None]:
    """Route stop requests to ``on_stop`` while the block runs; restore the old handlers after."""
    previous: dict[int, Any] = {}
    for sig in _posix_signals():
        try:
            previous[sig] = signal.signal(sig, on_stop)
        except (OSError, ValueError):  # not the main thread, or not allowed here
            continue
    finished = threading.Event()
    console_handler = _install_windows_console_handler(control, finished) if sys.platform == "win32" else None
    try:
        yield
    finally:
        finished.set()
        for sig, old in previous.items():
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(sig, old)
        if console_handler is not None:
            _remove_windows_console_handler(console_handler)


def _install_windows_console_handler(control: RunControl, finished: threading.Event) -> Any:
    """Windows: closing the console window, logging off or shutting down arrive as console events,
    in a thread of their own; the process is ended when the handler returns, so it waits (within
    the time Windows allows) until the run has saved its state."""
    try:
        import ctypes
        from ctypes import wintypes

        routine = ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.DWORD)  # type: ignore[attr-defined]  # Windows-only name

        def handler(event: int) -> bool:
            if event in (CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT):
                control.cancel()
                finished.wait(_WINDOWS_GRACE_S)
                return True
            return False  # Ctrl+C / Ctrl+Break: the signal handlers take them

        callback = routine(handler)
        if not ctypes.windll.kernel32.SetConsoleCtrlHandler(callback, True):  # type: ignore[attr-defined]
            return None
        return callback  # keep a reference: ctypes callbacks must outlive their registration
    except Exception:  # no console (a windowed build), or ctypes refused
        log.debug("Could not install the console close handler", exc_info=True)
        return None


def _remove_windows_console_handler(callback: Any) -> None:
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.windll.kernel32.SetConsoleCtrlHandler(callback, False)  # type: ignore[attr-defined]
