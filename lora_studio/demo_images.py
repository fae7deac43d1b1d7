"""Synthetic pictures for the demo project: a small orange mascot ("zorb") in varied scenes.

Drawn with Pillow from a seed, so the demo needs no downloads and is the same on every machine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

TRIGGER = "zorb"

BACKGROUNDS = {
    "blue background": (70, 120, 200),
    "green grass": (80, 160, 70),
    "pink background": (230, 150, 180),
    "night sky": (25, 30, 70),
    "beach": (235, 210, 150),
    "white background": (245, 245, 245),
}
POSES = ("smiling", "waving", "jumping", "sleeping")


@dataclass(frozen=True)
class DemoImage:
    image: Image.Image
    caption: str


def draw_mascot(seed: int, size: int = 128) -> DemoImage:
    rng = random.Random(seed)
    bg_name, bg = rng.choice(sorted(BACKGROUNDS.items()))
    pose = POSES[seed % len(POSES)]
    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    # Scenery details so captions have something to describe.
    if bg_name == "night sky":
        for _ in range(12):
            x, y = rng.randrange(size), rng.randrange(size // 2)
            d.point((x, y), fill=(255, 255, 200))
    if bg_name in ("green grass", "beach"):
        d.rectangle((0, int(size * 0.75), size, size), fill=tuple(max(0, c - 40) for c in bg))
    r = int(size * rng.uniform(0.22, 0.3))
    cx = int(size * rng.uniform(0.35, 0.65))
    cy = int(size * (0.4 if pose == "jumping" else 0.55))
    body = (245, 140, 30)
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=body, outline=(120, 60, 10), width=max(1, size // 64))
    eye = max(2, r // 5)
    for ex in (cx - r // 3, cx + r // 3):
        if pose == "sleeping":
            d.line((ex - eye, cy - r // 4, ex + eye, cy - r // 4), fill=(30, 20, 10), width=2)
        else:
            d.ellipse((ex - eye, cy - r // 4 - eye, ex + eye, cy - r // 4 + eye), fill=(255, 255, 255))
            d.ellipse((ex - eye // 2, cy - r // 4 - eye // 2, ex + eye // 2, cy - r // 4 + eye // 2), fill=(20, 20, 20))
    d.arc((cx - r // 2, cy - r // 6, cx + r // 2, cy + r // 2), 20, 160, fill=(90, 30, 10), width=2)
    if pose == "waving":
        d.line((cx + r, cy, cx + r + r // 2, cy - r), fill=body, width=max(3, r // 4))
    caption = f"{TRIGGER}, orange round mascot, {pose}, {bg_name}"
    return DemoImage(img, caption)
