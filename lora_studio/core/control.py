"""Run control for long jobs: a thread-safe cancel flag, pause, and a queue of commands."""

from __future__ import annotations

import enum
import queue
import threading
import time

from lora_studio.core.errors import Cancelled


class Command(enum.StrEnum):
    SAMPLE_NOW = "sample_now"
    SAVE_NOW = "save_now"


class RunControl:
    """Shared between the thread that runs a job and the thread that steers it.

    The job calls :meth:`checkpoint` at step boundaries: it raises :class:`Cancelled` after
    :meth:`cancel`, blocks while paused, and returns the commands queued since the last call.
    """

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._commands: queue.SimpleQueue[Command] = queue.SimpleQueue()

    # -- steering side -------------------------------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()  # a paused job must wake up to notice the cancel

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def send(self, command: Command) -> None:
        self._commands.put(command)

    # -- job side ------------------------------------------------------------------------------
    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def raise_if_cancelled(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    def wait_while_paused(self, poll_s: float = 0.1) -> None:
        while not self._running.wait(poll_s):
            pass
        self.raise_if_cancelled()

    def take_commands(self) -> list[Command]:
        out: list[Command] = []
        while True:
            try:
                out.append(self._commands.get_nowait())
            except queue.Empty:
                return out

    def checkpoint(self) -> list[Command]:
        """Call at every step boundary."""
        self.raise_if_cancelled()
        if self.paused:
            self.wait_while_paused()
        return self.take_commands()

    def sleep(self, seconds: float) -> None:
        """Sleep that wakes early on cancel (raises Cancelled)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self._cancel.wait(min(0.05, max(0.0, end - time.monotonic()))):
                raise Cancelled()
