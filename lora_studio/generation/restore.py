"""Settings back from a picture's stored text (ours, A1111's, Forge's), tolerant of missing LoRAs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from lora_studio.generation.model_library import Library
from lora_studio.generation.request import GenerationRequest, LoraSpec


def restore_request(
    infotext: str, library: Library, lora_dirs: Sequence[Path], base: GenerationRequest
) -> tuple[GenerationRequest, list[str]]:
    """The request ``infotext`` describes, and notes in plain words about what could not be found.

    LoRAs are found by name (then by hash) in ``lora_dirs``; a LoRA that is nowhere is left out
    (and named in the notes) instead of failing the whole restore. ``request.model`` is the model
    *name* as the text records it; the caller looks it up.
    """
    from lora_studio.generation.metadata import request_from_infotext

    restored = request_from_infotext(infotext, lora_dirs, base=base)
    notes: list[str] = []
    if restored.missing:
        names = ", ".join(f"{m.name} (hash {m.hash})" if m.hash else m.name for m in restored.missing)
        notes.append("Not found in your LoRA folders: " + names + ".")
    notes.extend(_embedding_notes(infotext))
    # Prefer the library's copy of each LoRA (same file as the mixer row), by name.
    loras: list[LoraSpec] = []
    for spec in restored.request.loras:
        item = library.lora_named(spec.name)
        loras.append(replace(spec, path=str(item.path)) if item is not None else spec)
    return replace(restored.request, loras=tuple(loras)), notes


def _embedding_notes(infotext: str, dirs: Sequence[Path] | None = None) -> list[str]:
    """A note naming the embeddings the text records (``TI hashes``) that are not in the folders."""
    from lora_studio.formats.infotext import parse_infotext
    from lora_studio.generation.embedding_files import (
        INFOTEXT_KEY,
        default_embedding_dirs,
        list_embeddings,
        parse_ti_hashes,
    )

    recorded = parse_ti_hashes(parse_infotext(infotext).extra.get(INFOTEXT_KEY, ""))
    if not recorded:
        return []
    folders = list(dirs) if dirs is not None else default_embedding_dirs()
    have = {e.name.lower() for e in list_embeddings(folders) if not e.pickled}
    missing = [f"{name} (hash {h})" for name, h in recorded.items() if name.lower() not in have]
    if not missing:
        return []
    where = ", ".join(str(f) for f in folders)
    return [f"Embeddings not in {where}: {', '.join(missing)}. The picture used them; without them it will differ."]
