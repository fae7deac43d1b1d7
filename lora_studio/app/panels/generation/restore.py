"""Settings back from a picture's stored text (ours, A1111's, Forge's), tolerant of missing LoRAs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from lora_studio.app.panels.generation.model_library import Library
from lora_studio.core.errors import GenerationError
from lora_studio.generation.request import GenerationRequest, LoraSpec

_TAG = re.compile(r"<(?:lora|lyco):([^:>]+)(?::[^>]*)?>", re.IGNORECASE)


def restore_request(
    infotext: str, library: Library, lora_dirs: Sequence[Path], base: GenerationRequest
) -> tuple[GenerationRequest, list[str]]:
    """The request ``infotext`` describes, and notes in plain words about what could not be found.

    LoRAs are found by name (then by hash) in ``lora_dirs``; a LoRA that is nowhere is left out
    (and named in the notes) instead of failing the whole restore. ``request.model`` is the model
    *name* as the text records it; the caller looks it up.
    """
    from lora_studio.generation.metadata import request_from_infotext

    notes: list[str] = []
    text = infotext
    missing: list[str] = []
    while True:
        try:
            request = request_from_infotext(text, lora_dirs, base=base)
            break
        except GenerationError as exc:
            name = _missing_name(exc.message, text)
            if name is None:
                raise
            missing.append(name)
            text = re.sub(
                r"<(?:lora|lyco):" + re.escape(name) + r"(?::[^>]*)?>", "", text, flags=re.IGNORECASE
            )
    if missing:
        notes.append("Not found in your LoRA folders: " + ", ".join(missing) + ".")
    # Prefer the library's copy of each LoRA (same file as the mixer row), by name.
    loras: list[LoraSpec] = []
    for spec in request.loras:
        item = library.lora_named(spec.name)
        loras.append(replace(spec, path=str(item.path)) if item is not None else spec)
    return replace(request, loras=tuple(loras)), notes


def _missing_name(message: str, text: str) -> str | None:
    """Which LoRA a "not found" error is about (the name sits in “…” quotes)."""
    match = re.search(r"“([^”]+)”", message)
    if match is None:
        return None
    name = match.group(1)
    if not any(m.group(1).strip().lower() == name.lower() for m in _TAG.finditer(text)):
        return None
    return name
