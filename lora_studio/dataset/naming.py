"""File and folder names: safe on Windows, unique within a folder, sorted the way people expect."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from lora_studio.dataset.items import IMAGE_EXTENSIONS

# Picture types we recognise but do not train on (reported by the check, skipped on import).
UNSUPPORTED_IMAGE_EXTENSIONS = (
    ".gif", ".tif", ".tiff", ".heic", ".heif", ".avif", ".jxl", ".psd", ".svg", ".ico",
    ".raw", ".cr2", ".nef", ".arw", ".dng", ".jp2", ".tga",
)  # fmt: skip
_INVALID = re.compile(r'[<>:"/\\|?*\x00-\x1f]')
_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}
_KOHYA_FOLDER = re.compile(r"^(\d+)_(.*)$")


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def is_unsupported_image(path: Path) -> bool:
    return path.suffix.lower() in UNSUPPORTED_IMAGE_EXTENSIONS and not path.name.startswith(".")


def natural_key(name: str) -> tuple:
    """``img2`` before ``img10``; case-insensitive."""
    return tuple(int(p) if p.isdigit() else p.casefold() for p in re.split(r"(\d+)", name))


def image_files(folder: Path) -> list[Path]:
    """Pictures directly inside ``folder`` (not sub-folders, not hidden files), naturally sorted."""
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return []
    return sorted((p for p in entries if p.is_file() and is_image_file(p)), key=lambda p: natural_key(p.name))


def safe_name(name: str, fallback: str = "untitled") -> str:
    """A file/folder name that works on Windows: no ``<>:"/\\|?*``, no trailing dot/space, not ``CON``."""
    cleaned = _INVALID.sub("_", name).strip().rstrip(". ")
    if not cleaned or cleaned.split(".")[0].casefold() in _RESERVED:
        cleaned = f"{cleaned}_" if cleaned else fallback
    return cleaned[:120]


def unique_stem(stem: str, taken: Iterable[str]) -> str:
    """``stem``, or ``stem_2``, ``stem_3`` … so no two pictures share a stem (and a caption file).

    Comparison ignores case, as Windows does.
    """
    used = {t.casefold() for t in taken}
    if stem.casefold() not in used:
        return stem
    n = 2
    while f"{stem}_{n}".casefold() in used:
        n += 1
    return f"{stem}_{n}"


def unique_folder(parent: Path, name: str) -> Path:
    """``parent/name``, or ``parent/name 2`` … for a folder that does not exist yet."""
    candidate = parent / name
    n = 2
    existing = {p.name.casefold() for p in parent.iterdir()} if parent.is_dir() else set()
    while candidate.name.casefold() in existing:
        candidate = parent / f"{name} {n}"
        n += 1
    return candidate


def parse_kohya_folder(name: str) -> tuple[int, str] | None:
    """``"10_sks dog"`` -> ``(10, "sks dog")``; None when the name has no repeat count."""
    m = _KOHYA_FOLDER.match(name)
    if not m:
        return None
    return int(m.group(1)), m.group(2)
