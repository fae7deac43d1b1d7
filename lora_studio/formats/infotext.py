"""A1111-style generation parameters ("infotext"), the text other tools read from an image.

Layout (A1111 1.9+)::

    <prompt, may span lines>
    Negative prompt: <negative, may span lines>
    Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x768, ...

FLUX.1-dev images add Forge's ``Distilled CFG Scale: 3.5`` after ``CFG scale`` (usually 1).

A value that contains ``,``, ``:`` or a newline is written as a JSON string. The last line is the
parameter line only when it holds at least three ``Key: value`` pairs. Old combined sampler names
such as ``DPM++ 2M Karras`` are split into sampler and schedule type. Torch-free; Pillow is imported
by the PNG helpers only.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.PngImagePlugin import PngInfo

NEGATIVE_PREFIX = "Negative prompt:"
AUTOMATIC = "Automatic"
PNG_KEY = "parameters"

# A1111's schedule labels (modules/sd_schedulers.py); longer first so "SGM Uniform" beats "Uniform".
SCHEDULE_TYPES = (
    "Align Your Steps", "Polyexponential", "SGM Uniform", "Exponential", "KL Optimal", "Karras",
    "Uniform", "Simple", "Normal", "DDIM", "Beta",
)  # fmt: skip

# One "Key: value" pair: a key is a word (letters, digits, spaces, '-', '/'); the value is a JSON
# string (commas allowed inside) or anything up to the next comma.
_PAIR = re.compile(r'\s*(\w[\w \-/]*):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


@dataclass(frozen=True, kw_only=True)
class InfotextParams:
    """Generation parameters as A1111 writes them. ``None`` means "not recorded"."""

    prompt: str = ""
    negative_prompt: str = ""
    steps: int | None = None
    sampler: str | None = None
    schedule_type: str = AUTOMATIC
    cfg_scale: float | None = None
    distilled_cfg_scale: float | None = None  # FLUX.1-dev guidance, as Forge writes it
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    model_hash: str | None = None
    model_name: str | None = None
    clip_skip: int = 1  # A1111 numbering: 1 = last layer, 2 = penultimate (diffusers clip_skip=1)
    denoising_strength: float | None = None
    lora_hashes: dict[str, str] = field(default_factory=dict)  # LoRA alias -> 12-hex hash
    extra: dict[str, str] = field(default_factory=dict)  # other keys, written back in order
    version: str | None = None

    def with_(self, **changes: Any) -> InfotextParams:
        return replace(self, **changes)


# --- writing ----------------------------------------------------------------------------------------


def quote(value: str) -> str:
    """JSON-quote a value that contains ``,``, ``:`` or a newline (A1111's rule)."""
    if any(ch in value for ch in ",\n:"):
        return json.dumps(value, ensure_ascii=False)
    return value


def _number(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _clean_alias(name: str) -> str:
    # The Lora hashes value is itself "name: hash, name: hash", so names lose ':' and ','.
    return name.replace(":", "").replace(",", "").strip()


def format_lora_hashes(hashes: Mapping[str, str]) -> str:
    return ", ".join(f"{_clean_alias(name)}: {h}" for name, h in hashes.items())


def format_infotext(params: InfotextParams) -> str:
    """The ``parameters`` text for an image (A1111 1.9+ layout)."""
    pairs: list[tuple[str, str | None]] = [
        ("Steps", None if params.steps is None else str(params.steps)),
        ("Sampler", params.sampler),
        (
            "Schedule type",
            params.schedule_type if params.schedule_type and params.schedule_type != AUTOMATIC else None,
        ),
        ("CFG scale", None if params.cfg_scale is None else _number(params.cfg_scale)),
        (
            "Distilled CFG Scale",
            None if params.distilled_cfg_scale is None else _number(params.distilled_cfg_scale),
        ),
        ("Seed", None if params.seed is None else str(params.seed)),
        ("Size", f"{params.width}x{params.height}" if params.width and params.height else None),
        ("Model hash", params.model_hash),
        ("Model", params.model_name),
        (
            "Denoising strength",
            None if params.denoising_strength is None else _number(params.denoising_strength),
        ),
        ("Clip skip", str(params.clip_skip) if params.clip_skip and params.clip_skip > 1 else None),
        ("Lora hashes", format_lora_hashes(params.lora_hashes) if params.lora_hashes else None),
    ]
    pairs.extend(params.extra.items())
    pairs.append(("Version", params.version))
    line = ", ".join(f"{key}: {quote(str(value))}" for key, value in pairs if value is not None)
    text = params.prompt
    if params.negative_prompt:
        text += f"\n{NEGATIVE_PREFIX} {params.negative_prompt}"
    return f"{text}\n{line}" if line else text


# --- reading ----------------------------------------------------------------------------------------


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        if isinstance(decoded, str):
            return decoded
    return value


def parse_pairs(line: str) -> list[tuple[str, str]]:
    """The ``Key: value`` pairs of a parameter line, values unquoted, in order."""
    return [(m.group(1).strip(), _unquote(m.group(2))) for m in _PAIR.finditer(line) if m.group(0).strip()]


def split_sampler(name: str) -> tuple[str, str | None]:
    """``"DPM++ 2M Karras"`` -> ``("DPM++ 2M", "Karras")``; names without a schedule suffix pass through."""
    for label in SCHEDULE_TYPES:
        if name.endswith(" " + label) and len(name) > len(label) + 1:
            return name[: -len(label) - 1].strip(), label
    return name, None


def parse_lora_hashes(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in value.split(","):
        name, sep, h = part.rpartition(":")
        if sep and name.strip():
            out[name.strip()] = h.strip()
    return out


def _to_int(value: str) -> int | None:
    try:
        return int(float(value)) if "." in value or "e" in value.lower() else int(value)
    except ValueError:
        return None


def _to_float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def parse_infotext(text: str) -> InfotextParams:
    """Read A1111-style parameters. Missing keys keep their defaults; unknown keys go to ``extra``."""
    lines = text.strip().replace("\r\n", "\n").split("\n") if text.strip() else []
    pairs: list[tuple[str, str]] = []
    if lines and len(found := parse_pairs(lines[-1])) >= 3:
        pairs = found
        lines = lines[:-1]
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    in_negative = False
    for line in lines:
        stripped = line.strip()
        if not in_negative and stripped.startswith(NEGATIVE_PREFIX):
            in_negative = True
            stripped = stripped[len(NEGATIVE_PREFIX) :].strip()
        (negative_lines if in_negative else prompt_lines).append(stripped)

    values: dict[str, Any] = {
        "prompt": "\n".join(prompt_lines).strip(),
        "negative_prompt": "\n".join(negative_lines).strip(),
    }
    extra: dict[str, str] = {}
    schedule_given = False
    converters: dict[str, tuple[str, Any]] = {
        "Steps": ("steps", _to_int),
        "CFG scale": ("cfg_scale", _to_float),
        "Distilled CFG Scale": ("distilled_cfg_scale", _to_float),
        "Seed": ("seed", _to_int),
        "Model hash": ("model_hash", str),
        "Model": ("model_name", str),
        "Clip skip": ("clip_skip", _to_int),
        "Denoising strength": ("denoising_strength", _to_float),
        "Version": ("version", str),
        "Sampler": ("sampler", str),
    }
    for key, value in pairs:
        if key in converters:
            name, convert = converters[key]
            converted = convert(value)
            if converted is None:
                extra[key] = value
            else:
                values[name] = converted
        elif key == "Schedule type":
            values["schedule_type"] = value or AUTOMATIC
            schedule_given = True
        elif key == "Size" and (m := _SIZE.match(value)):
            values["width"], values["height"] = int(m.group(1)), int(m.group(2))
        elif key == "Lora hashes":
            values["lora_hashes"] = parse_lora_hashes(value)
        else:
            extra[key] = value
    if "sampler" in values and not schedule_given:
        sampler, schedule = split_sampler(values["sampler"])
        if schedule:
            values["sampler"], values["schedule_type"] = sampler, schedule
    values["extra"] = extra
    return InfotextParams(**values)


# --- PNG helpers ------------------------------------------------------------------------------------


def png_info_for(text: str, extra: Mapping[str, str] | None = None) -> PngInfo:
    """A ``PngInfo`` holding ``parameters`` = ``text`` (Pillow writes tEXt for Latin-1, iTXt otherwise)."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(PNG_KEY, text)
    for key, value in (extra or {}).items():
        info.add_text(key, value)
    return info


def _exif_user_comment(image: Any) -> str | None:
    exif = image.getexif()
    raw = exif.get_ifd(0x8769).get(0x9286) if exif else None
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw
    data = bytes(raw)
    code, body = data[:8], data[8:]
    if code.startswith(b"UNICODE"):
        for encoding in ("utf-16-be", "utf-16-le"):
            try:
                text = body.decode(encoding)
            except UnicodeDecodeError:
                continue
            if text.isprintable() or "\n" in text:
                return text.rstrip("\x00")
        return None
    return body.decode("utf-8", errors="replace").rstrip("\x00")


def read_png_parameters(path: str | os.PathLike[str]) -> str | None:
    """The ``parameters`` text of an image (PNG text chunk, or EXIF UserComment for JPEG/WebP)."""
    from PIL import Image

    with Image.open(Path(path)) as image:
        chunks = getattr(image, "text", None) or image.info  # .text also sees chunks after the pixels
        text = chunks.get(PNG_KEY)
        if isinstance(text, str):
            return text
        return _exif_user_comment(image)
