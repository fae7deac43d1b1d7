"""What a run checks and holds before the model loads, so that no run is lost to its output folder.

* :func:`check_output_folder`: the folder exists or can be made, can be written, and has room for
  the files the run will write (an estimate from the base model's size and the rank).
* :class:`RunLock`: one run per output folder. A lock file holds the PID, host and start time of
  the run; a lock whose process is gone is stale and taken over; a live one is refused with a
  message that names the other run.
* :func:`rescue_dir`: where a state goes when the output folder can no longer be written.

Torch-free.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from lora_studio.core.errors import TrainingError
from lora_studio.training import run_files
from lora_studio.training.config import NetworkTarget, TrainConfig

log = logging.getLogger(__name__)

LOCK_NAME = ".lora-studio-run.lock"
_MB = 1 << 20
# A LoRA of rank 1 holds roughly this fraction of the base model's bytes (kohya SD1.5 rank 32 is
# ~37 MB of a 2 GB model; SDXL rank 32 ~220 MB of 6.9 GB); LoCon about doubles it.
_LORA_FRACTION_PER_RANK = 0.0012


def estimate_output_bytes(config: TrainConfig) -> int:
    """Room the run's files need at once: the LoRA files it keeps, a state (fp32 weights and two
    optimizer moments) being written next to the previous ones, and a margin. An estimate."""
    base = _size_of(Path(config.model.base_model))
    n, r = config.network, config.run
    factor = n.rank + (n.conv_rank if n.target == NetworkTarget.ATTENTION_FF_CONV else 0)
    lora = int(base * _LORA_FRACTION_PER_RANK * factor)
    state = lora * 6  # fp32 (2x the fp16 file) x (weights + 2 Adam moments)
    loras_at_once = 2 if r.keep_last else 1  # a new intermediate before pruning; else one at a time
    states_at_once = max(1, r.keep_last_states) + 1  # the kept ones and the one being written
    # States of this run already on the disk (a resume) take part of that room already.
    existing = 0
    with contextlib.suppress(OSError):
        folder = Path(r.output_dir) / run_files.STATE_DIR
        existing = sum(p.stat().st_size for p in folder.glob(f"{r.output_name}-state-s*.pt"))
    states = max(state, states_at_once * state - existing)
    return loras_at_once * lora + states + 8 * _MB


def _size_of(path: Path) -> int:
    try:
        if path.is_file():
            return path.stat().st_size
        if path.is_dir():
            total = 0
            for p in path.rglob("*"):
                if p.suffix in (".safetensors", ".bin") and p.is_file():
                    total += p.stat().st_size
            return total
    except OSError:
        pass
    return 0


def check_output_folder(config: TrainConfig) -> Path:
    """Make sure the output folder can take the run's files; raise TrainingError saying why not."""
    out = Path(config.run.output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainingError(
            f"The output folder {out} cannot be created: {exc.strerror or exc}.",
            hint="Choose an output folder you can write to.",
        ) from exc
    probe = out / f".lora-studio-write-test-{os.getpid()}.tmp"
    try:
        with open(probe, "wb") as fh:
            fh.write(b"x")
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            raise TrainingError(
                f"The disk holding {out} is full; free {-(-estimate_output_bytes(config) // _MB)} MB "
                "and start again.",
                hint="Or choose an output folder on another disk.",
            ) from exc
        raise TrainingError(
            f"The output folder {out} cannot be written to ({exc.strerror or exc}).",
            hint="Choose another output folder, or make this one writable, before training.",
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    need = estimate_output_bytes(config)
    try:
        free = shutil.disk_usage(out).free
    except OSError:
        return out
    if free < need:
        raise TrainingError(
            f"The disk holding {out} has {free / _MB:.0f} MB free; this run needs about "
            f"{need / _MB:.0f} MB for its LoRA files and states.",
            hint=f"Free {-(-(need - free) // _MB)} MB, or choose an output folder on another disk.",
        )
    return out


def rescue_dir() -> Path:
    """A writable folder for states that could not be saved in the output folder."""
    from lora_studio.core.paths import data_dir

    path = data_dir() / "rescued-states"
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- the run lock --------------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":
        try:
            import psutil

            return bool(psutil.pid_exists(pid))
        except ImportError:
            return True  # can't tell: assume it runs (the message says how to clear it)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """Hold ``<output folder>/.lora-studio-run.lock`` for the length of a run (a context manager)."""

    def __init__(self, folder: str | os.PathLike[str], *, description: str = "") -> None:
        self.path = Path(folder) / LOCK_NAME
        self.description = description
        self.held = False

    def owner(self) -> dict[str, Any] | None:
        """What the lock file says (None if there is none or it cannot be read)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _is_stale(self, info: dict[str, Any] | None) -> bool:
        if info is None:
            # Unreadable: a run killed while writing it, or one writing it right now.
            try:
                return time.time() - self.path.stat().st_mtime > 5
            except OSError:
                return True
        if info.get("host") != socket.gethostname():
            return False  # another computer (a shared drive): we can't check its processes
        return not _pid_alive(int(info.get("pid", 0)))

    def acquire(self) -> None:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.time(),
            "run": self.description,
        }
        for _attempt in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                other = self.owner()
                if self._is_stale(other):
                    log.info("Taking over a stale run lock %s (%s).", self.path, other)
                    with contextlib.suppress(OSError):
                        self.path.unlink()
                    continue
                raise self._busy(other) from None
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(info, fh)
            self.held = True
            return
        raise self._busy(self.owner())

    def _busy(self, other: dict[str, Any] | None) -> TrainingError:
        other = other or {}
        started = other.get("started")
        when = time.strftime("%H:%M", time.localtime(started)) if isinstance(started, (int, float)) else "?"
        what = f" ({other['run']})" if other.get("run") else ""
        host = other.get("host")
        where = f" on {host}" if host and host != socket.gethostname() else ""
        return TrainingError(
            f"The output folder {self.path.parent} is in use by another training run{what}: "
            f"process {other.get('pid', '?')}{where}, started at {when}.",
            hint="Wait for it to finish or stop it, or choose another output folder. If no such run "
            f"exists any more, delete {self.path.name} in that folder.",
        )

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        info = self.owner()
        if info is None or info.get("pid") == os.getpid():
            with contextlib.suppress(OSError):
                self.path.unlink()

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
