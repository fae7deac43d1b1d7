"""Textual-inversion embeddings in prompts, as A1111 and ComfyUI users write them.

An embedding is a ``.safetensors`` file in an embeddings folder (``models/embeddings/``). A prompt
uses it by file name: ``EasyNegative`` (A1111: the bare name) or ``embedding:EasyNegative``
(ComfyUI), in the prompt or the negative prompt. File layouts read (from the header, no pickle):

* SD 1.x / 2.x: one tensor ``[vectors, width]`` — ``emb_params`` (A1111 saving to safetensors),
  ``string_to_param.*`` or any single key (diffusers' ``learned_embeds``);
* SDXL: ``clip_l`` ``[vectors, 768]`` and ``clip_g`` ``[vectors, 1280]`` (one set per text encoder).

Pickled embeddings (``.pt``, ``.bin``) are refused with a message: unpickling can run code.

Using one: see :mod:`lora_studio.generation.embeddings`.

Infotext: ``TI hashes: "name: 12-hex"`` (sha256 of the file, as A1111 writes it). This module is
torch-free (the app lists embeddings with it); :mod:`lora_studio.generation.embeddings` loads them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lora_studio.core.errors import GenerationError

log = logging.getLogger(__name__)

EMBEDDING_SUFFIXES = (".safetensors",)
PICKLED_SUFFIXES = (".pt", ".bin", ".pth", ".ckpt")
TI_HASH_LEN = 12
INFOTEXT_KEY = "TI hashes"
_SDXL_KEYS = ("clip_l", "clip_g")
_WIDTH_FAMILY = {768: "SD 1.x", 1024: "SD 2.x"}


def default_embedding_dirs() -> list[Path]:
    """``models/embeddings`` beside the other model folders (NMKD / A1111 layout)."""
    from lora_studio.core.paths import default_models_root

    return [default_models_root() / "embeddings"]


@dataclass(frozen=True, slots=True)
class EmbeddingFile:
    """An embedding file found in a folder (from its header only)."""

    path: Path
    vectors: int = 0
    widths: tuple[int, ...] = ()  # one per text encoder: (768,) SD1, (1024,) SD2, (768, 1280) SDXL
    sdxl: bool = False
    pickled: bool = False

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def family_label(self) -> str:
        if self.pickled:
            return "pickled (not loaded)"
        if self.sdxl:
            return "SDXL"
        return _WIDTH_FAMILY.get(self.widths[0], f"width {self.widths[0]}") if self.widths else "unknown"


def _tensor_keys(path: Path) -> dict[str, tuple[int, ...]]:
    from lora_studio.formats.safetensors_meta import read_header

    return {name: info.shape for name, info in read_header(path).tensors.items()}


def inspect_embedding(path: str | os.PathLike[str]) -> EmbeddingFile:
    """What an embedding file holds; raises :class:`GenerationError` for a file that is not one."""
    path = Path(path)
    if path.suffix.lower() in PICKLED_SUFFIXES:
        return EmbeddingFile(path, pickled=True)
    try:
        shapes = _tensor_keys(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable header is "not an embedding"
        raise GenerationError(f"“{path.name}” is not a readable embedding file.", details=str(exc)) from exc
    if all(k in shapes for k in _SDXL_KEYS):
        l_shape, g_shape = _as_2d(shapes["clip_l"]), _as_2d(shapes["clip_g"])
        return EmbeddingFile(path, l_shape[0], (l_shape[1], g_shape[1]), sdxl=True)
    key = single_key(shapes)
    if key is None:
        raise GenerationError(
            f"“{path.name}” is not a textual-inversion embedding.",
            hint="An embedding holds one tensor (emb_params) or clip_l + clip_g for SDXL; "
            "LoRA files go into the LoRA folder.",
        )
    rows, width = _as_2d(shapes[key])
    return EmbeddingFile(path, rows, (width,))


def _as_2d(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 1:
        return 1, shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    raise GenerationError(f"An embedding tensor has the shape {shape}; expected [vectors, width].")


def single_key(shapes: dict[str, tuple[int, ...]]) -> str | None:
    if "emb_params" in shapes:
        return "emb_params"
    params = [k for k in shapes if k.startswith("string_to_param")]
    if len(params) == 1:
        return params[0]
    return next(iter(shapes)) if len(shapes) == 1 else None


def list_embeddings(dirs: Iterable[str | os.PathLike[str]]) -> list[EmbeddingFile]:
    """Every embedding in ``dirs`` (sub-folders too), by name; unreadable files are skipped.

    A ``.safetensors`` file wins over a pickled one of the same name; pickled ones are listed so a
    prompt naming one gets a clear refusal.
    """
    found: dict[str, EmbeddingFile] = {}
    for folder in dirs:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            suffix = path.suffix.lower()
            if not path.is_file() or suffix not in (*EMBEDDING_SUFFIXES, *PICKLED_SUFFIXES):
                continue
            try:
                item = inspect_embedding(path)
            except GenerationError as exc:
                log.info("Skipped %s: %s", path, exc.message)
                continue
            key = item.name.lower()
            if key not in found or (found[key].pickled and not item.pickled):
                found[key] = item
    return sorted(found.values(), key=lambda e: e.name.lower())


def reference_pattern(names: Sequence[str]) -> re.Pattern[str] | None:
    if not names:
        return None
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    # A whole word (names may hold '-' and '.'), optionally ComfyUI's "embedding:" prefix and
    # the file extension.
    return re.compile(
        rf"(?<![\w\-.])(?:embedding:)?({alternatives})(?:\.safetensors|\.pt)?(?![\w\-])", re.IGNORECASE
    )


def referenced(text: str, embeddings: Sequence[EmbeddingFile]) -> list[EmbeddingFile]:
    """The embeddings ``text`` names, in order of first use."""
    by_name = {e.name.lower(): e for e in embeddings}
    pattern = reference_pattern([e.name for e in embeddings])
    if pattern is None:
        return []
    out: dict[str, EmbeddingFile] = {}
    for m in pattern.finditer(text):
        item = by_name[m.group(1).lower()]
        out.setdefault(item.name.lower(), item)
    return list(out.values())


def prompt_reference(name: str, style: str = "a1111") -> str:
    """How a prompt names an embedding: ``name`` (A1111) or ``embedding:name`` (ComfyUI)."""
    return f"embedding:{name}" if style == "comfyui" else name


def ti_hash(path: str | os.PathLike[str]) -> str:
    """A1111's ``TI hashes`` value: the first 12 hex digits of the file's sha256 (cached)."""
    from lora_studio.formats.hashes import default_cache

    return default_cache().get(path, "sha256")[:TI_HASH_LEN]


def format_ti_hashes(used: Sequence[EmbeddingFile]) -> str:
    return ", ".join(f"{e.name.replace(':', '').replace(',', '')}: {ti_hash(e.path)}" for e in used)


def parse_ti_hashes(value: str) -> dict[str, str]:
    """``"a: 0123456789ab, b: …"`` → ``{"a": "0123456789ab", …}``."""
    out: dict[str, str] = {}
    for part in value.split(","):
        name, sep, h = part.rpartition(":")
        if sep and name.strip():
            out[name.strip()] = h.strip()
    return out
