"""Editing ``<lora:name:weight>`` tags inside prompt text (pure functions, no Qt)."""

from __future__ import annotations

import re

from lora_studio.core.errors import GenerationError
from lora_studio.generation.request import PromptLora, extract_lora_tags


def _tag_pattern(name: str) -> re.Pattern[str]:
    return re.compile(r"<(?:lora|lyco):" + re.escape(name) + r"(?::[^>]*)?>", re.IGNORECASE)


def format_weight(weight: float) -> str:
    text = f"{weight:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def lora_tag(name: str, weight: float, unet: float | None = None, te: float | None = None) -> str:
    parts = [f"<lora:{name}:{format_weight(weight)}"]
    parts += [f"{key}={format_weight(value)}" for key, value in (("unet", unet), ("te", te)) if value is not None]
    return ":".join(parts) + ">"


def set_lora_tag(text: str, name: str, weight: float, unet: float | None = None, te: float | None = None) -> str:
    """Put ``<lora:name:weight[:unet=…][:te=…]>`` in ``text``: replace the existing tag, else append one."""
    tag = lora_tag(name, weight, unet, te)
    pattern = _tag_pattern(name)
    if pattern.search(text):
        return pattern.sub(lambda _m: tag, text, count=1)
    stripped = text.rstrip()
    if not stripped:
        return tag
    separator = " " if stripped.endswith((",", ">")) else ", "
    return stripped + separator + tag


def remove_lora_tag(text: str, name: str) -> str:
    """Remove every tag for ``name`` and tidy the commas and spaces it leaves behind."""
    pattern = _tag_pattern(name)
    if not pattern.search(text):
        return text
    out = pattern.sub("", text)
    out = re.sub(r"[ \t]{2,}", " ", out)
    out = re.sub(r",(\s*,)+", ",", out)
    return out.strip().strip(",").strip()


def read_lora_tags(text: str) -> list[PromptLora]:
    """The complete, readable tags in ``text`` (a half-typed one such as ``<lora:a:0.`` is ignored)."""
    try:
        return extract_lora_tags(text)[1]
    except GenerationError:
        tags: list[PromptLora] = []
        for match in re.finditer(r"<(?:lora|lyco):[^>]*>", text, re.IGNORECASE):
            try:
                tags.extend(extract_lora_tags(match.group(0))[1])
            except GenerationError:
                continue
        return tags


def strip_lora_tags(text: str) -> str:
    """``text`` without any LoRA tag (for token counting and captions)."""
    out = re.sub(r"<(?:lora|lyco):[^>]*>", "", text, flags=re.IGNORECASE)
    out = re.sub(r"[ \t]{2,}", " ", out)
    return re.sub(r",(\s*,)+", ",", out).strip().strip(",").strip()
