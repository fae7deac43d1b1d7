"""Run a training job in a child process, with the same events and controls as in a thread.

Why a process: while the engine trains in a thread of the app, it holds the interpreter lock for
long stretches (model loading, sample pictures), so the window stutters; a crash in native code
(a CUDA abort, a hard out-of-memory) would take the whole app down; and a stuck thread can't be
stopped. A child process fixes all three: the app only reads its messages, and Stop can end it.

How it works:

* :class:`TrainingProcess` starts the child with the ``spawn`` start method (the only one Windows
  has, and the one a frozen build supports: the entry point calls ``multiprocessing.freeze_support()``).
* The job is a picklable ``job(reporter, control) -> result`` (:func:`train_job` makes one). The
  child runs it with its own :class:`RunControl`.
* Every event the job reports travels back through a queue (events are frozen dataclasses of plain
  data). Log records of the child arrive as :class:`LogLine` events and go into the app's log.
* :meth:`TrainingProcess.run` has the ``(reporter, control)`` signature of any job: it pumps the
  child's messages to ``reporter`` and mirrors ``control`` (cancel, pause, resume, commands) to the
  child. It returns the job's result (a :class:`TrainSummary` for training: the model itself stays
  in the child) or raises the job's exception: :class:`Cancelled` and every
  :class:`LoraStudioError` arrive as themselves, others with the child's traceback as their cause.
* If the child dies, :meth:`run` raises a :class:`TrainingError` that says so; if a cancel is not
  honoured within ``stop_grace_s`` (no message from the child for that long), the child is ended.

This module is Qt-free and does not import torch; only the child does.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import multiprocessing
import multiprocessing.util  # noqa: F401 - registers its exit handler before ours (ours runs first)
import os
import pickle
import queue
import signal
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lora_studio.core.control import Command, RunControl
from lora_studio.core.errors import Cancelled, TrainingError
from lora_studio.core.events import Event, LogLine, Reporter, StatusChanged
from lora_studio.training.config import TrainConfig

log = logging.getLogger(__name__)

Job = Callable[[Reporter, RunControl], Any]
"""What runs in the child: ``job(reporter, control) -> result``. Must be picklable (a module-level
function, or a :func:`functools.partial` of one with picklable arguments)."""

_CONTEXT = multiprocessing.get_context("spawn")

# Messages from the child: (kind, payload...) pickled to bytes by the child.
_EVENT, _RESULT, _ERROR = "event", "result", "error"
# Messages to the child.
_CANCEL, _PAUSE, _RESUME, _COMMAND = "cancel", "pause", "resume", "command"

_NICENESS = 10  # the child's priority on Linux/macOS: about what Windows calls "below normal"

STOPPED_UNEXPECTEDLY = "The training process stopped unexpectedly ({code})."
RESUME_HINT = "Your last saved state is kept: use Resume."


# -- the result that crosses the process boundary ----------------------------------------------------
@dataclass(frozen=True, slots=True)
class TrainSummary:
    """What a finished training run produced, as plain data (``TrainResult`` without the model)."""

    final_lora: Path | None
    lora_files: tuple[Path, ...] = ()
    state_path: Path | None = None
    steps: int = 0
    total_steps: int = 0
    epochs: int = 0
    losses: tuple[float, ...] = ()
    validation: tuple[tuple[int, float], ...] = ()
    samples: tuple[Path, ...] = field(default=())

    @classmethod
    def from_result(cls, result: Any) -> TrainSummary:
        """Copy the plain fields of a ``TrainResult`` (anything with the same attributes)."""
        return cls(
            final_lora=result.final_lora,
            lora_files=tuple(result.lora_files),
            state_path=result.state_path,
            steps=int(result.steps),
            total_steps=int(result.total_steps),
            epochs=int(result.epochs),
            losses=tuple(float(x) for x in result.losses),
            validation=tuple((int(s), float(v)) for s, v in result.validation),
            samples=tuple(result.samples),
        )


def train_job(config: TrainConfig, resume_from: str | Path | None = None) -> Job:
    """A picklable job that runs :func:`lora_studio.training.trainer.run_training` in the child."""
    return functools.partial(_run_training, config, None if resume_from is None else str(resume_from))


def _run_training(
    config: TrainConfig, resume_from: str | None, reporter: Reporter, control: RunControl
) -> Any:
    from lora_studio.training.trainer import run_training

    return run_training(config, reporter, control, resume_from=resume_from)


# -- the parent side ----------------------------------------------------------------------------------
class _RemoteTraceback(Exception):  # noqa: N818 - only ever shown as the cause of the real error
    """Carries the child's traceback text, so error details show where it really happened."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f"\n\nIn the training process:\n{self.text}"


_live: weakref.WeakSet[TrainingProcess] = weakref.WeakSet()


class TrainingProcess:
    """One job in one child process. Start it with :meth:`run` (or :meth:`start`, then :meth:`run`).

    ``stop_grace_s``: after a cancel, how long the child may stay silent before it is ended.
    ``threads``: CPU threads for torch in the child (default: all cores but one, for the app).
    ``lower_priority``: run the child at a lower CPU priority, so the app stays responsive.
    """

    def __init__(
        self,
        job: Job,
        *,
        name: str = "Training",
        stop_grace_s: float = 60.0,
        threads: int | None = None,
        lower_priority: bool = True,
        poll_s: float = 0.05,
    ) -> None:
        self.job = job
        self.name = name
        self.stop_grace_s = stop_grace_s
        self.threads = threads
        self.lower_priority = lower_priority
        self.poll_s = poll_s
        self._events: Any = None  # made in start(): the thread that calls run() does that work,
        self._commands: Any = None  # not the one (often the GUI thread) that made this object
        self._process: Any = None
        self._killed = threading.Event()  # ended by us (hard stop), not by itself

    # -- queries --------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def exitcode(self) -> int | None:
        return None if self._process is None else self._process.exitcode

    @property
    def is_alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    # -- control --------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the child (does nothing if it was started already)."""
        if self._process is not None:
            return
        self._events, self._commands = _CONTEXT.Queue(), _CONTEXT.Queue()
        options = {"threads": self.threads, "lower_priority": self.lower_priority}
        # The job travels pickled, so the child lowers its priority before importing what it needs.
        job = pickle.dumps(self.job, protocol=pickle.HIGHEST_PROTOCOL)
        # Not a daemon: daemonic processes may not start their own (the data loader's workers).
        self._process = _CONTEXT.Process(
            target=_child_main,
            args=(job, self._events, self._commands, options),
            name=f"lora-studio-{self.name}",
            daemon=False,
        )
        if self.lower_priority and sys.platform.startswith("linux"):
            _start_from_low_priority_thread(self._process)
        else:
            self._process.start()
        _live.add(self)
        log.info("%s runs in process %s.", self.name, self._process.pid)

    def kill(self) -> None:
        """End the child now (thread-safe). :meth:`run` then raises :class:`Cancelled`."""
        self._killed.set()
        if self.is_alive:
            log.warning("Ending the training process %s.", self.pid)
            self._process.terminate()
            self._process.join(5)
            if self._process.is_alive():
                self._process.kill()

    def run(self, reporter: Reporter, control: RunControl) -> Any:
        """Run the job in the child; report its events; mirror ``control`` to it. Blocks until it ends.

        Returns the job's result; raises its exception, :class:`Cancelled`, or a
        :class:`TrainingError` when the child stopped without an answer.
        """
        if self._process is None:
            reporter(StatusChanged("Starting the training process…"))
        self.start()
        mirror = _ControlMirror(control, self._commands)
        cancelled_at: float | None = None
        last_message = time.monotonic()
        try:
            while True:
                mirror.sync()
                if control.cancelled and cancelled_at is None:
                    cancelled_at = time.monotonic()
                message = self._receive(self.poll_s)
                if message is not None:
                    last_message = time.monotonic()
                    done, value = self._handle(message, reporter)
                    if done:
                        return value
                    continue
                if not self._process.is_alive():
                    return self._after_exit(reporter)
                silent_s = time.monotonic() - max(cancelled_at or 0.0, last_message)
                if cancelled_at is not None and silent_s > self.stop_grace_s:
                    reporter(LogLine("WARNING", f"The training process did not stop within "
                                                f"{self.stop_grace_s:.0f} s of Stop; it was ended."))
                    self.kill()
        finally:
            self._close()

    # -- internals ------------------------------------------------------------------------------
    def _receive(self, timeout: float) -> tuple[Any, ...] | None:
        try:
            data = self._events.get(timeout=timeout)
        except queue.Empty:
            return None
        except (EOFError, OSError):  # the pipe broke: the child is gone
            time.sleep(timeout)
            return None
        try:
            return pickle.loads(data)
        except Exception:  # a message we can't read must not end the run
            log.exception("A message from the training process could not be read")
            return None

    def _handle(self, message: tuple[Any, ...], reporter: Reporter) -> tuple[bool, Any]:
        kind = message[0]
        if kind == _EVENT:
            event = message[1]
            if isinstance(event, LogLine):
                level = logging.getLevelName(event.level)
                level = level if isinstance(level, int) else logging.INFO
                log.log(level, "[training process] %s", event.text)
                if level < logging.WARNING:
                    return False, None  # informational lines go to the log file, not the run's log
            reporter(event)
            return False, None
        if kind == _RESULT:
            return True, message[1]
        if kind == _ERROR:
            exc, trace = message[1], message[2]
            if trace and not isinstance(exc, Cancelled):
                exc.__cause__ = _RemoteTraceback(trace)
            raise exc
        log.warning("Unknown message from the training process: %r", kind)
        return False, None

    def _after_exit(self, reporter: Reporter) -> Any:
        # The child may have sent its last words just before it exited: read what is left.
        while (message := self._receive(0.5)) is not None:
            done, value = self._handle(message, reporter)
            if done:
                return value
        code = self._process.exitcode
        if self._killed.is_set():
            log.info("%s was ended (exit code %s).", self.name, code)
            raise Cancelled()
        raise TrainingError(
            STOPPED_UNEXPECTEDLY.format(code=describe_exit_code(code)),
            hint=RESUME_HINT,
            details=(
                "The process that trains ended without reporting an error. Common causes: the graphics "
                "card driver stopped it (out of memory, a driver reset), the computer ran out of memory, "
                f"or another program ended it. Exit code: {code}."
            ),
        )

    def _close(self) -> None:
        process = self._process
        if process is not None:
            with contextlib.suppress(Exception):
                self._commands.put(None)  # tells the child's listener to stop
            process.join(30)
            if process.is_alive():
                log.warning("%s did not exit after its job ended; ending it.", self.name)
                self.kill()
        for q in (self._commands, self._events):
            if q is None:
                continue
            with contextlib.suppress(Exception):
                q.cancel_join_thread()
                q.close()
        _live.discard(self)


def _start_from_low_priority_thread(process: Any) -> None:
    """On Linux the priority is per thread and a new process inherits it from the thread that starts
    it: starting from a short-lived, lowered thread makes the child low from its first instruction
    (its start-up doesn't compete with the window either), and no thread of the app is lowered."""
    failure: list[BaseException] = []

    def start() -> None:
        with contextlib.suppress(OSError):
            os.nice(_NICENESS)
        try:
            process.start()
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    starter = threading.Thread(target=start, name="start training process")
    starter.start()
    starter.join()
    if failure:
        raise failure[0]


class _ControlMirror:
    """Sends what happens to the parent's RunControl (cancel, pause, commands) to the child."""

    def __init__(self, control: RunControl, commands: Any) -> None:
        self.control = control
        self.commands = commands
        self.cancel_sent = False
        self.paused = False

    def sync(self) -> None:
        c = self.control
        if c.cancelled and not self.cancel_sent:
            self.cancel_sent = True
            self.commands.put((_CANCEL,))
        if c.paused != self.paused and not self.cancel_sent:
            self.paused = c.paused
            self.commands.put((_PAUSE,) if c.paused else (_RESUME,))
        for command in c.take_commands():
            self.commands.put((_COMMAND, str(command)))


def describe_exit_code(code: int | None) -> str:
    """Exit codes in words: signals on Linux/macOS, NTSTATUS codes in hex on Windows."""
    if code is None:
        return "exit code unknown"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"exit code {code}, {signal.Signals(-code).name}"
        return f"exit code {code}"
    if code >= 0x80000000 or code > 0xFFFF:
        return f"exit code {code} / 0x{code & 0xFFFFFFFF:08X}"
    return f"exit code {code}"


@atexit.register
def _end_children_at_exit() -> None:
    """Closing the app must not wait for a training run that ignored Stop."""
    for process in list(_live):
        if process.is_alive:
            process.kill()


# -- the child side -----------------------------------------------------------------------------------
class _Sender:
    """Pickles messages in the caller's thread (so a bad one raises here) and queues them."""

    def __init__(self, events: Any) -> None:
        self.events = events
        self.lock = threading.Lock()

    def send(self, *message: Any) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        with self.lock:
            self.events.put(data)

    def event(self, event: Event) -> None:
        self.send(_EVENT, event)


class _LogForwarder(logging.Handler):
    """Sends the child's log records to the app as LogLine events."""

    def __init__(self, sender: _Sender) -> None:
        super().__init__(logging.INFO)
        self.sender = sender
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sender.event(LogLine(record.levelname, self.format(record)))
        except Exception:  # logging must never raise
            self.handleError(record)


def _child_main(job_data: bytes, events: Any, commands: Any, options: dict[str, Any]) -> None:
    """Entry point of the child process."""
    if options.get("lower_priority"):
        _lower_priority()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a console: the app stops us properly
    _give_streams()
    from lora_studio.core.paths import set_offline_environment

    set_offline_environment()
    sender = _Sender(events)
    _setup_logging(sender)
    control = RunControl()
    threading.Thread(target=_listen, args=(commands, control), name="commands", daemon=True).start()
    _set_threads(options.get("threads"))
    try:
        job: Job = pickle.loads(job_data)
        result = job(sender.event, control)
        _send_result(sender, result)
    except BaseException as exc:  # everything goes back to the app; nothing is printed and lost
        _send_error(sender, exc)
    finally:
        # Make sure every message reached the pipe, then leave without the interpreter's teardown
        # (native libraries sometimes hang there; nothing of ours needs it).
        with contextlib.suppress(Exception):
            events.close()
            events.join_thread()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(0)


def _send_result(sender: _Sender, result: Any) -> None:
    if hasattr(result, "final_lora") and hasattr(result, "losses"):
        result = TrainSummary.from_result(result)
    try:
        sender.send(_RESULT, result)
    except Exception as exc:
        raise TrainingError(
            "Training finished, but its result could not be passed back to the app.",
            hint="The saved files are in the output folder.",
            details=repr(exc),
        ) from exc


def _send_error(sender: _Sender, exc: BaseException) -> None:
    if isinstance(exc, Cancelled):
        sender.send(_ERROR, Cancelled(), "")
        return
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        exc = TrainingError("The training process was interrupted.", hint=RESUME_HINT)
    try:
        # Both ways, now: some exception types can be pickled but not rebuilt.
        pickle.loads(pickle.dumps(exc))
        sender.send(_ERROR, exc, trace)
    except Exception:
        sender.send(_ERROR, RuntimeError(f"{type(exc).__name__}: {exc}"), trace)


def _listen(commands: Any, control: RunControl) -> None:
    """Applies the app's commands to the child's RunControl; stops the run if the app is gone."""
    parent = multiprocessing.parent_process()
    while True:
        try:
            message = commands.get(timeout=1.0)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                _orphaned(control)
                return
            continue
        except (EOFError, OSError):
            _orphaned(control)
            return
        if message is None:
            return
        kind = message[0]
        if kind == _CANCEL:
            control.cancel()
        elif kind == _PAUSE:
            control.pause()
        elif kind == _RESUME:
            control.resume()
        elif kind == _COMMAND:
            with contextlib.suppress(ValueError):
                control.send(Command(message[1]))


def _orphaned(control: RunControl, grace_s: float = 120.0) -> None:
    """The app went away: stop at the next step (saving a state), or give up after ``grace_s``."""
    control.cancel()
    timer = threading.Timer(grace_s, os._exit, args=(3,))
    timer.daemon = True
    timer.start()


def _give_streams() -> None:
    # A windowed (frozen) app has no console: progress bars writing to None would fail.
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115


def _setup_logging(sender: _Sender) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(_LogForwarder(sender))
    root.setLevel(logging.INFO)
    # Libraries we use are chatty at INFO; keep their warnings (as the app's own logging does).
    for name in ("httpx", "urllib3", "PIL", "diffusers", "transformers", "accelerate", "peft", "torch"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _lower_priority() -> None:
    try:
        if hasattr(os, "nice"):
            if os.nice(0) < _NICENESS:  # (already inherited on Linux; see TrainingProcess.start)
                os.nice(_NICENESS - os.nice(0))
        else:  # Windows
            import psutil

            psutil.Process().nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
    except Exception:  # best effort: psutil may be missing, or the OS may refuse
        log.debug("Could not lower the training process's priority", exc_info=True)


def _set_threads(threads: int | None) -> None:
    """CPU threads for torch: all cores but one by default, so the app's window keeps one.

    Set through the environment before torch is imported (the job imports it), so the child does
    not pay for importing torch when its job doesn't need it.
    """
    count = threads if threads else max(1, (os.cpu_count() or 1) - 1)
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(count)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(count)
