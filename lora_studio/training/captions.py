"""Caption augmentation with kohya semantics (torch-free).

Order per sample: trigger injection -> caption dropout -> tag shuffle (first ``keep_tokens`` tags
fixed) -> tag dropout (kept tags never dropped). All randomness comes from the ``rng`` passed in,
which the data plan derives from (seed, epoch, position) so that resumed runs see the same captions.
"""

from __future__ import annotations

import random

from lora_studio.training.config import DatasetConfig


def split_tags(caption: str, separator: str = ",") -> list[str]:
    return [t.strip() for t in caption.split(separator) if t.strip()]


def inject_trigger(caption: str, trigger: str, separator: str = ",") -> tuple[str, bool]:
    """Put ``trigger`` first unless the caption already contains it as a tag. Returns (caption, injected)."""
    trigger = trigger.strip()
    if not trigger or trigger in split_tags(caption, separator):
        return caption, False
    joiner = separator if separator.endswith(" ") else separator + " "
    return (f"{trigger}{joiner}{caption}" if caption.strip() else trigger), True


def augment_caption(caption: str, cfg: DatasetConfig, rng: random.Random, trigger: str = "") -> str:
    """The caption a training step sees for ``caption`` under the dataset options."""
    sep = cfg.tag_separator or ","
    trigger = trigger or cfg.trigger_word
    caption, injected = inject_trigger(caption, trigger, sep)
    if cfg.caption_dropout > 0 and rng.random() < cfg.caption_dropout:
        return ""
    if not (cfg.shuffle_tags or cfg.tag_dropout > 0):
        return caption
    tags = split_tags(caption, sep)
    keep = min(len(tags), cfg.keep_tokens + (1 if injected else 0))
    fixed, rest = tags[:keep], tags[keep:]
    if cfg.shuffle_tags:
        rng.shuffle(rest)
    if cfg.tag_dropout > 0:
        rest = [t for t in rest if rng.random() >= cfg.tag_dropout]
    joiner = sep if sep.endswith(" ") else sep + " "
    return joiner.join(fixed + rest)
