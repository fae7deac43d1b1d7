"""Infotext for generated images (A1111 ``parameters`` chunk) and requests rebuilt from infotext.

Like A1111, LoRAs appear twice: as ``<lora:name:weight>`` tags in the prompt (that is how A1111,
Forge and Civitai record weights) and as ``Lora hashes: "name: 12-hex, …"``. Reading an infotext
finds each LoRA by name in the LoRA folders, and by hash when the name is not there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lora_studio import __version__
from lora_studio.core.errors import GenerationError
from lora_studio.generation.request import (
    DISTILLED_CFG_DEFAULT,
    LORA_EXTENSIONS,
    GenerationRequest,
    LoraSpec,
    extract_lora_tags,
    find_lora_file,
    lora_tag,
    split_sampler_name,
)

VERSION_TEXT = f"LoRA Studio {__version__}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def lora_short_hash(path: str | os.PathLike[str]) -> str:
    """A1111's 12-hex LoRA hash (kohya's stored ``sshs_model_hash`` when present), cached."""
    from lora_studio.formats.hashes import cached_lora_hash
    from lora_studio.formats.safetensors_meta import read_header

    try:
        metadata = read_header(path).metadata
    except Exception:  # noqa: BLE001 - a hash is best effort; the LoRA already loaded
        metadata = {}
    return cached_lora_hash(path, metadata)


def build_infotext(
    request: GenerationRequest,
    entry: Any,
    seed: int,
    width: int,
    height: int,
    model_hash: str | None,
    extra: dict[str, str] | None = None,
) -> str:
    """The A1111 infotext for one image of ``request`` (``extra``: more parameter-line fields,
    e.g. hires fix and ``TI hashes``)."""
    from lora_studio.formats.infotext import InfotextParams, format_infotext

    sampler, schedule = split_sampler_name(request.sampler, request.schedule)
    is_flux = bool(getattr(entry, "is_flux", False))
    if is_flux and schedule == "Automatic":
        schedule = "Simple"  # what FLUX's "Automatic" runs (Forge writes Simple)
    distilled = None
    if getattr(entry, "has_distilled_guidance", False):
        distilled = DISTILLED_CFG_DEFAULT if request.distilled_cfg is None else request.distilled_cfg
    loras = [s for s in request.active_loras]
    prompt = request.prompt
    if loras:
        prompt = (prompt + " " if prompt else "") + " ".join(
            lora_tag(s.name, s.weight, s.unet_weight, s.te_weight, number=_num) for s in loras
        )
    params = InfotextParams(
        prompt=prompt,
        # FLUX.1 reads a negative prompt only with real CFG (scale above 1): don't claim one otherwise.
        negative_prompt="" if is_flux and request.cfg <= 1.0 else request.negative,
        steps=request.steps,
        sampler=sampler,
        schedule_type=schedule,
        cfg_scale=request.cfg,
        distilled_cfg_scale=distilled,
        seed=seed,
        width=width,
        height=height,
        model_hash=model_hash,
        model_name=Path(request.model).stem if Path(request.model).suffix else Path(request.model).name,
        clip_skip=1 if is_flux else request.clip_skip,  # FLUX uses CLIP's pooled output only
        denoising_strength=(
            request.hires.denoise
            if request.hires and not (request.init_image or request.mask)
            else (request.strength if (request.init_image or request.mask) else None)
        ),
        lora_hashes={s.name: lora_short_hash(s.path) for s in loras},
        extra=dict(extra or {}),
        version=VERSION_TEXT,
    )
    return format_infotext(params)


def next_image_path(out_dir: Path, seed: int, prefix: str = "") -> Path:
    """``<prefix>NNNNN-<seed>.png`` with NNNNN one past the highest number in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pattern = re.compile(re.escape(prefix) + r"(\d{5,})-")
    highest = -1
    for name in os.listdir(out_dir):
        m = pattern.match(name)
        if m:
            highest = max(highest, int(m.group(1)))
    return out_dir / f"{prefix}{highest + 1:05d}-{seed}.png"


def save_png(
    image: Any, out_dir: Path, request: GenerationRequest, index: int, seed: int, infotext: str
) -> Path:
    """Write ``image`` atomically as a PNG with ``parameters`` = ``infotext``; return its path."""
    from lora_studio.core.fileio import atomic_write_with
    from lora_studio.formats.infotext import png_info_for

    del index  # numbering follows the folder, so parallel batches never overwrite each other
    path = next_image_path(Path(out_dir), seed, request.file_prefix)
    info = png_info_for(infotext)
    atomic_write_with(path, lambda tmp: image.save(tmp, format="PNG", pnginfo=info))
    return path


def _find_by_hash(short_hash: str, lora_dirs: Sequence[str | os.PathLike[str]]) -> Path | None:
    wanted = short_hash.lower()
    for folder in lora_dirs:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for candidate in sorted(folder.rglob("*")):
            if candidate.suffix.lower() in LORA_EXTENSIONS and candidate.is_file():
                try:
                    if lora_short_hash(candidate).lower().startswith(wanted):
                        return candidate
                except Exception:  # noqa: BLE001 - unreadable files are skipped
                    continue
    return None


@dataclass(frozen=True)
class MissingLora:
    """A LoRA an infotext names that is in none of the LoRA folders (neither by name nor by hash)."""

    name: str
    hash: str | None  # the short hash the infotext records ("Lora hashes"), when it does
    weight: float = 1.0


@dataclass(frozen=True)
class InfotextRequest:
    """A request rebuilt from infotext, and the LoRAs it names that could not be found."""

    request: GenerationRequest
    missing: tuple[MissingLora, ...] = ()


def request_from_infotext(
    text: str,
    lora_dirs: Sequence[str | os.PathLike[str]],
    *,
    model: str | None = None,
    base: GenerationRequest | None = None,
) -> InfotextRequest:
    """Turn infotext (ours, A1111's or Forge's) back into a request.

    ``model`` overrides the model (infotext names it but cannot say where it is); fields that
    infotext does not record (output folder, batch size …) come from ``base``. Each LoRA is
    found by name, then by the hash the text records; those found neither way are left out of
    the request and listed in ``missing`` (the rest of the request is still usable).
    """
    from lora_studio.formats.infotext import parse_infotext
    from lora_studio.generation.hires import hires_from_infotext

    params = parse_infotext(text)
    hires = hires_from_infotext(params.extra, params.denoising_strength)
    prompt, tags = extract_lora_tags(params.prompt)
    loras: list[LoraSpec] = []
    missing: list[MissingLora] = []
    for tag in tags:
        try:
            path = find_lora_file(tag.name, lora_dirs)
        except GenerationError:
            short = params.lora_hashes.get(tag.name.replace(":", "").replace(",", "").strip())
            found = _find_by_hash(short, lora_dirs) if short else None
            if found is None:
                missing.append(MissingLora(tag.name, short or None, tag.weight))
                continue
            path = found
        loras.append(LoraSpec(str(path), tag.weight, True, tag.unet_weight, tag.te_weight))
    request = base or GenerationRequest(model=model or "", prompt="")
    try:
        sampler, schedule = split_sampler_name(params.sampler or request.sampler, params.schedule_type)
    except GenerationError:
        sampler, schedule = request.sampler, request.schedule
    rebuilt = replace(
        request,
        model=model or request.model or (params.model_name or ""),
        prompt=prompt,
        negative=params.negative_prompt,
        loras=tuple(loras),
        sampler=sampler,
        schedule=schedule,
        steps=params.steps or request.steps,
        cfg=params.cfg_scale if params.cfg_scale is not None else request.cfg,
        distilled_cfg=params.distilled_cfg_scale
        if params.distilled_cfg_scale is not None
        else request.distilled_cfg,
        seed=params.seed if params.seed is not None else request.seed,
        clip_skip=params.clip_skip or 1,
        width=params.width or request.width,
        height=params.height or request.height,
        strength=(
            params.denoising_strength
            if params.denoising_strength is not None and hires is None
            else request.strength
        ),
        hires=hires,
    )
    return InfotextRequest(rebuilt, tuple(missing))
