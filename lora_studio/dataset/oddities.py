"""Files in a picture folder that training would silently ignore or misread, each with a reason.

Shared by the dataset check (which lists them) and the kohya import (which reports them as
skipped): broken links, picture types we don't train on (GIF, TIFF … — decided: skipped with a
reason, never converted behind the user's back), captions without a picture, and one caption
shared by two pictures of the same name (``twin.png`` + ``twin.jpg`` both read ``twin.txt``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lora_studio.dataset.naming import is_image_file, is_unsupported_image, natural_key

# Why a type is not trained on, and what to do (the rest get a generic line).
_TYPE_REASONS = {
    ".gif": "GIF pictures (often animated) are not trained on; save the frame you want as PNG",
    ".tif": "TIFF pictures are not trained on; save it as PNG (lossless) to use it",
    ".tiff": "TIFF pictures are not trained on; save it as PNG (lossless) to use it",
}


@dataclass(frozen=True, slots=True)
class Oddity:
    code: str  # broken-link, unsupported-format, orphan-caption, shared-caption
    path: Path
    reason: str


def folder_oddities(folder: Path, caption_extensions: tuple[str, ...] = (".txt", ".caption")) -> list[Oddity]:
    """The odd files directly in ``folder`` (not below it), in name order."""
    try:
        entries = sorted(folder.iterdir(), key=lambda p: natural_key(p.name))
    except OSError:
        return []
    out: list[Oddity] = []
    stems: dict[str, list[Path]] = {}
    for p in entries:
        if p.name.startswith("."):
            continue
        if p.is_symlink() and not p.exists():
            target = os.readlink(p)
            out.append(Oddity("broken-link", p, f"it is a link to {target}, which does not exist"))
            continue
        if not p.is_file():
            continue
        if is_image_file(p):
            stems.setdefault(p.stem, []).append(p)
        elif is_unsupported_image(p):
            reason = _TYPE_REASONS.get(
                p.suffix.lower(),
                f"{p.suffix.lstrip('.').upper()} pictures are not trained on; save it as PNG or JPEG to use it",
            )
            out.append(Oddity("unsupported-format", p, reason))
    exts = tuple(e.lower() for e in caption_extensions)
    for p in entries:
        if p.name.startswith(".") or p.suffix.lower() not in exts or not p.is_file():
            continue
        pictures = stems.get(p.stem, [])
        if not pictures:
            out.append(Oddity("orphan-caption", p, "a caption without a picture of the same name"))
        elif len(pictures) > 1:
            names = " and ".join(x.name for x in pictures)
            out.append(
                Oddity(
                    "shared-caption",
                    p,
                    f"{names} share this one caption; rename one picture (and give it its own caption) "
                    "if they show different things",
                )
            )
    return out
