"""How AUTOMATIC1111's LoRA pages read a LoRA's metadata, restated as checks (written for these tests
from reading ``extensions-builtin/Lora``: ``ui_edit_user_metadata.py`` builds the metadata table and
the tag list, ``network.py`` picks the SD version, and the safetensors reader decodes every value
that starts with ``{`` as JSON). ``a1111_view`` raises where A1111's code would raise."""

from __future__ import annotations

import datetime
import json
import re
from typing import Any


def decode(metadata: dict[str, str]) -> dict[str, Any]:
    """A1111's reader: values that look like a JSON object become one; the rest stay strings."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if isinstance(value, str) and value[0:1] == "{":
            try:
                value = json.loads(value)
            except ValueError:
                pass
        out[key] = value
    return out


def sd_version(metadata: dict[str, Any]) -> str:
    if str(metadata.get("ss_base_model_version", "")).startswith("sdxl_"):
        return "SDXL"
    if str(metadata.get("ss_v2", "")) == "True":
        return "SD2"
    return "SD1" if metadata else "Unknown"


def tags(metadata: dict[str, Any]) -> list[tuple[str, int]]:
    """The "training dataset tags" list: counts summed over folders, long free-text tags split in words."""
    found: dict[str, int] = {}
    freq = metadata.get("ss_tag_frequency", {})
    if freq is not None and hasattr(freq, "items"):
        for folder_tags in freq.values():
            for tag, count in folder_tags.items():
                found[tag.strip()] = found.get(tag.strip(), 0) + int(count)
    if found and sum(len(t) for t in found) / len(found) >= 16:
        words: dict[str, int] = {}
        for text, count in found.items():
            for word in re.findall(r"[-_\w']+", text):
                if len(word) >= 3:
                    words[word] = words.get(word, 0) + count
        found = words
    return sorted(found.items(), key=lambda kv: kv[1], reverse=True)


def a1111_view(raw: dict[str, str]) -> dict[str, Any]:
    """The rows of A1111's LoRA metadata table, plus its SD version and tag list."""
    metadata = decode(raw)
    rows: dict[str, Any] = {}
    labels = {
        "ss_output_name": "Output name",
        "ss_sd_model_name": "Model",
        "ss_clip_skip": "Clip skip",
        "ss_network_module": "Kohya module",
    }
    for key, label in labels.items():
        value = metadata.get(key)
        if value is not None and str(value) != "None":
            assert isinstance(value, str), f"{key} must be text, A1111 html-escapes it"
            rows[label] = value
    started = metadata.get("ss_training_started_at")
    if started:
        rows["Date trained"] = datetime.datetime.fromtimestamp(float(started), datetime.UTC).strftime(
            "%Y-%m-%d %H:%M"
        )
    buckets = metadata.get("ss_bucket_info")
    if buckets and "buckets" in buckets:
        resolutions: dict[str, int] = {}
        for bucket in buckets["buckets"].values():
            size = bucket["resolution"]
            text = f"{size[1]}x{size[0]}"
            resolutions[text] = resolutions.get(text, 0) + int(bucket["count"])
        rows["Resolutions"] = resolutions
    image_count = 0
    for params in metadata.get("ss_dataset_dirs", {}).values():
        image_count += int(params.get("img_count", 0))
    if image_count:
        rows["Dataset size"] = image_count
    return {"rows": rows, "sd_version": sd_version(metadata), "tags": tags(metadata)}
