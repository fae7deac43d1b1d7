"""Atomic file writes: write to a temporary file in the same folder, then rename over the target.

A crash or power cut during a write leaves either the old file or the new one, never half of each.
Temporary files are named ``.<target name>.<random>.tmp`` (:func:`is_our_temp`), so the ones a
killed process left behind can be found and swept (:func:`sweep_stale_temps`). A full disk
becomes a :class:`DiskFullError` that says how much room to make; the old file stays.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from lora_studio.core.errors import LoraStudioError

_TEMP_RE = re.compile(r"^\..+\.[A-Za-z0-9_]{6,12}\.tmp$")  # what tempfile.mkstemp makes for us
_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_LOW_SPACE = 4 << 20  # bytes: a write that failed with less than this free is blamed on the disk
_umask_lock = threading.Lock()


class DiskFullError(LoraStudioError):
    """A write failed because the disk holding ``folder`` is full. ``need_mb``: room to make."""

    def __init__(self, folder: Path, need_mb: int, *, hint: str = "try again.") -> None:
        super().__init__(
            f"The disk holding {folder} is full; free {need_mb} MB and {hint}".strip(),
            details="The previous files were kept; the file being written was removed.",
        )
        self.folder = folder
        self.need_mb = need_mb


def current_umask() -> int:
    """The process's umask (read without changing it where the OS allows)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, ValueError):
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def is_our_temp(path: Path) -> bool:
    """True for a temporary file the atomic writer makes (``.<name>.<random>.tmp``)."""
    return bool(_TEMP_RE.match(path.name))


def sweep_stale_temps(folder: str | os.PathLike[str], *, older_than_s: float = 0.0) -> list[Path]:
    """Delete the atomic writer's temporary files left in ``folder`` (not below it) by a process that
    was killed mid-write. Only call this while no other writer can be using the folder (the caller
    holds the folder's run lock), or with ``older_than_s`` large enough. Returns what was deleted."""
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    now = time.time()
    with contextlib.suppress(OSError):
        for p in folder.iterdir():
            if not is_our_temp(p) or not p.is_file():
                continue
            with contextlib.suppress(OSError):
                if now - p.stat().st_mtime >= older_than_s:
                    p.unlink()
                    removed.append(p)
    return removed


def _is_disk_full(exc: BaseException, folder: Path) -> bool:
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        return True
    # torch.save reports a full disk as RuntimeError("... iostream error"), PIL as a plain OSError:
    # judge by the free space left right after the failure.
    if isinstance(exc, (OSError, RuntimeError)) or type(exc).__name__ == "SafetensorError":
        with contextlib.suppress(OSError):
            return shutil.disk_usage(folder).free < _LOW_SPACE
    return False


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, expected_bytes: int = 0) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it replaces ``target`` atomically.

    The file gets the permissions a plain ``open()`` would give (0666 less the umask), not
    ``mkstemp``'s 0600, so other programs of the user (ComfyUI, A1111 under another account) can
    read it. A full disk raises :class:`DiskFullError`; ``expected_bytes`` (the file's likely
    size) makes its "free N MB" better.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        if _is_disk_full(exc, target.parent):
            raise DiskFullError(target.parent, _need_mb(expected_bytes, 0)) from exc
        raise
    tmp_path = Path(tmp)
    try:
        if hasattr(os, "fchmod"):
            with contextlib.suppress(OSError):  # (filesystems without modes: FAT, some network shares)
                os.fchmod(fd, 0o666 & ~current_umask())
        os.close(fd)
        try:
            yield tmp_path
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp_path, target)
        except Exception as exc:  # (torch: RuntimeError, safetensors: SafetensorError, PIL: OSError)
            if _is_disk_full(exc, target.parent):
                written = tmp_path.stat().st_size if tmp_path.exists() else 0
                raise DiskFullError(target.parent, _need_mb(expected_bytes, written)) from exc
            raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _need_mb(expected: int, written: int) -> int:
    """Room to make, in MB: the file's size (known or at least what got written) plus a margin."""
    size = max(expected, written * 2)
    return max(1, -(-(size + (16 << 20)) // (1 << 20)))


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(target, expected_bytes=len(data)) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    # newline="" keeps the caller's line endings exactly (no \n -> \r\n translation on Windows).
    with atomic_path(target) as tmp:
        with open(tmp, "w", encoding=encoding, newline="") as fh:
            fh.write(text)


def atomic_write_with(
    target: str | os.PathLike[str], writer: Callable[[Path], object], *, expected_bytes: int = 0
) -> None:
    """Call ``writer(tmp_path)`` to produce the file, then move it into place."""
    with atomic_path(target, expected_bytes=expected_bytes) as tmp:
        writer(tmp)
