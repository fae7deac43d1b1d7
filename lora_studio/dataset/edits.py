"""Undo/redo for caption edits. One user action (one caption or a bulk change) = one command.

A :class:`CaptionEdit` records, per sidecar, the exact bytes before and after. Applying writes the
new bytes atomically; undo writes the old bytes back (or deletes a file the edit created), so the
files return byte-for-byte to what they were. Files in a non-UTF-8 encoding are skipped, never
rewritten.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lora_studio.core.errors import DatasetError
from lora_studio.core.fileio import atomic_write_bytes
from lora_studio.dataset import captions as cap

Transform = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class CaptionChange:
    path: Path
    old: bytes | None  # None: the file did not exist before
    new: bytes | None  # None: the file is deleted


@dataclass(frozen=True, slots=True)
class CaptionEdit:
    label: str  # shown in the Edit menu: "Undo Add tag 'smile'"
    changes: tuple[CaptionChange, ...]
    skipped: tuple[tuple[Path, str], ...] = ()  # files left alone, with the reason

    def __len__(self) -> int:
        return len(self.changes)

    def apply(self, *, forward: bool, force: bool = False) -> None:
        """Write the new bytes (``forward``) or the old ones back; all files or none."""
        _apply(self.changes if forward else reversed(self.changes), forward=forward, force=force)


class Edit(Protocol):
    """One undoable user action on the history: a caption edit, or a picture edit
    (``picture_edits.PictureEdit``: pictures moved, copied, removed or added)."""

    @property
    def label(self) -> str: ...

    def apply(self, *, forward: bool, force: bool = False) -> None: ...


def _current(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write(path: Path, data: bytes | None) -> None:
    if data is None:
        path.unlink(missing_ok=True)
    else:
        atomic_write_bytes(path, data)


def build_edit(label: str, paths: Iterable[str | os.PathLike[str]], transform: Transform) -> CaptionEdit:
    """Run ``transform`` over the captions in ``paths``; keep only the files whose text changes.

    A missing sidecar counts as an empty caption (the edit may create it).
    """
    changes: list[CaptionChange] = []
    skipped: list[tuple[Path, str]] = []
    for raw in dict.fromkeys(Path(p) for p in paths):
        old = _current(raw)
        if old is None:
            text = ""
        else:
            text, encoding = cap.decode_caption(old)
            if encoding not in ("utf-8", "utf-8-sig"):
                skipped.append((raw, f"saved in {encoding}, not UTF-8; convert it first"))
                continue
        new_text = transform(text)
        if new_text == text:
            continue  # unchanged text: leave the file (and any BOM) alone
        changes.append(CaptionChange(raw, old, cap.caption_bytes(new_text)))
    return CaptionEdit(label=label, changes=tuple(changes), skipped=tuple(skipped))


def set_caption_edit(path: str | os.PathLike[str], text: str, label: str = "Edit caption") -> CaptionEdit:
    """One caption typed by the user."""
    return build_edit(label, [path], lambda _old: text)


def _apply(changes: Iterable[CaptionChange], forward: bool, force: bool) -> None:
    changes = list(changes)
    if not force:
        moved = [c.path.name for c in changes if _current(c.path) != (c.old if forward else c.new)]
        if moved:
            names = ", ".join(moved[:5]) + (" …" if len(moved) > 5 else "")
            raise DatasetError(
                f"{len(moved)} caption file(s) changed outside LoRA Studio ({names}).",
                hint="Reload the dataset; the undo history no longer matches the files.",
            )
    done: list[CaptionChange] = []
    try:
        for c in changes:
            _write(c.path, c.new if forward else c.old)
            done.append(c)
    except OSError as exc:
        for c in reversed(done):  # put back what was already written, so the edit is all-or-nothing
            try:
                _write(c.path, c.old if forward else c.new)
            except OSError:
                pass
        raise DatasetError(
            f"A caption file could not be saved: {exc}.", hint="Is the file open in another program?"
        ) from exc


class EditStack:
    """Undo/redo history of caption edits and picture edits (most recent last)."""

    def __init__(self, limit: int = 200) -> None:
        self.limit = limit
        self._undo: list[Edit] = []
        self._redo: list[Edit] = []

    def push(self, edit: CaptionEdit) -> CaptionEdit:
        """Apply ``edit`` and record it. An edit that changes nothing is not recorded."""
        if not edit.changes:
            return edit
        edit.apply(forward=True)
        self.record(edit)
        return edit

    def record(self, edit: Edit) -> None:
        """Record an edit that is already done (a picture edit applies itself when it is made)."""
        self._undo.append(edit)
        del self._undo[: -self.limit]
        self._redo.clear()

    def undo(self, *, force: bool = False) -> Edit | None:
        if not self._undo:
            return None
        edit = self._undo[-1]
        edit.apply(forward=False, force=force)
        self._redo.append(self._undo.pop())
        return edit

    def redo(self, *, force: bool = False) -> Edit | None:
        if not self._redo:
            return None
        edit = self._redo[-1]
        edit.apply(forward=True, force=force)
        self._undo.append(self._redo.pop())
        return edit

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_label(self) -> str:
        return self._undo[-1].label if self._undo else ""

    @property
    def redo_label(self) -> str:
        return self._redo[-1].label if self._redo else ""


# -- ready-made bulk edits ------------------------------------------------------------------------------

Paths = Iterable[str | os.PathLike[str]]


def add_tag_edit(paths: Paths, tag: str, *, front: bool = False) -> CaptionEdit:
    return build_edit(f"Add tag '{tag}'", paths, lambda t: cap.add_tag(t, tag, front=front))


def remove_tag_edit(paths: Paths, tag: str) -> CaptionEdit:
    return build_edit(f"Remove tag '{tag}'", paths, lambda t: cap.remove_tag(t, tag))


def rename_tag_edit(paths: Paths, old: str, new: str) -> CaptionEdit:
    return build_edit(f"Rename tag '{old}' to '{new}'", paths, lambda t: cap.rename_tag(t, old, new))


def replace_edit(paths: Paths, old: str, new: str, *, regex: bool = False) -> CaptionEdit:
    if regex:
        cap.compile_check(old)
    return build_edit(
        f"Replace '{old}' with '{new}'", paths, lambda t: cap.replace_text(t, old, new, regex=regex)
    )


def sort_edit(paths: Paths, *, by: str = "alphabetical", keep_first: int = 0) -> CaptionEdit:
    paths = [Path(p) for p in paths]
    freq = cap.tag_frequency(cap.read_caption(p).text for p in paths) if by == "frequency" else None
    return build_edit(
        f"Sort tags ({by})", paths, lambda t: cap.sort_tags(t, by=by, frequency=freq, keep_first=keep_first)
    )


def dedupe_edit(paths: Paths) -> CaptionEdit:
    return build_edit("Remove duplicate tags", paths, cap.remove_duplicate_tags)


def add_trigger_edit(paths: Paths, trigger: str) -> CaptionEdit:
    if not trigger.strip():
        raise DatasetError(
            "The concept has no trigger word.", hint="Set a trigger word for the concept first."
        )
    return build_edit(f"Add trigger '{trigger}'", paths, lambda t: cap.add_trigger(t, trigger))


def convert_to_utf8_edit(paths: Paths) -> CaptionEdit:
    """Re-save captions as plain UTF-8: drops a BOM, or converts from the guessed other encoding.

    Only on the user's request (a "fix" in the Check list); undo restores the original bytes.
    """
    changes: list[CaptionChange] = []
    for p in dict.fromkeys(Path(x) for x in paths):
        old = _current(p)
        if old is None:
            continue
        text, encoding = cap.decode_caption(old)
        new = cap.caption_bytes(text)
        if new != old:
            changes.append(CaptionChange(p, old, new))
    return CaptionEdit("Convert captions to UTF-8", tuple(changes))
