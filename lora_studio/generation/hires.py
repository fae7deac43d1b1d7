"""Hires fix as A1111 does it: a first pass at the base size, an upscale, a second denoising pass.

The upscale is done on the latents (A1111's "Latent" upscalers: the first pass is never decoded)
or on the decoded picture (Lanczos, Nearest; "None" is a plain Lanczos resize, as in A1111); the
second pass is img2img at the target size with the hires denoising strength. The settings and
their infotext fields (``Hires upscale`` or ``Hires resize``, ``Hires steps``, ``Hires upscaler``,
``Denoising strength``) live here, torch-free; the passes run in :mod:`~lora_studio.generation.hires_pass`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# A1111's built-in upscaler names (model upscalers such as ESRGAN need their weights: not offered).
LATENT_MODES: dict[str, tuple[str, bool]] = {
    "Latent": ("bilinear", False),
    "Latent (antialiased)": ("bilinear", True),
    "Latent (bicubic)": ("bicubic", False),
    "Latent (bicubic antialiased)": ("bicubic", True),
    "Latent (nearest)": ("nearest", False),
    "Latent (nearest-exact)": ("nearest-exact", False),
}
IMAGE_MODES = ("None", "Lanczos", "Nearest")
HIRES_UPSCALERS: tuple[str, ...] = (*LATENT_MODES, *IMAGE_MODES)
DEFAULT_UPSCALER = "Latent"
MAX_SIDE = 4096


@dataclass(frozen=True, slots=True)
class HiresFix:
    """A1111's hires-fix options. ``resize_width``/``resize_height`` (0 = unset) win over ``scale``."""

    scale: float = 2.0
    resize_width: int = 0
    resize_height: int = 0
    steps: int = 0  # 0: as many as the first pass
    denoise: float = 0.7
    upscaler: str = DEFAULT_UPSCALER

    @property
    def is_latent(self) -> bool:
        return self.upscaler in LATENT_MODES

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        """The final size for a ``width`` × ``height`` first pass (multiples of 8)."""
        if self.resize_width or self.resize_height:
            w = self.resize_width or round(self.resize_height * width / height)
            h = self.resize_height or round(self.resize_width * height / width)
        else:
            w, h = round(width * self.scale), round(height * self.scale)
        return max(8, int(w) // 8 * 8), max(8, int(h) // 8 * 8)

    def validate(self) -> list[str]:
        problems: list[str] = []
        if self.upscaler not in HIRES_UPSCALERS:
            problems.append(
                f"Unknown hires upscaler “{self.upscaler}”; choose one of: {', '.join(HIRES_UPSCALERS)}."
            )
        if not (self.resize_width or self.resize_height) and not 1.0 <= self.scale <= 8.0:
            problems.append(f"Hires upscale must be between 1 and 8 (got {self.scale:g}).")
        for label, value in (("width", self.resize_width), ("height", self.resize_height)):
            if value and not 8 <= value <= MAX_SIDE:
                problems.append(f"Hires resize {label} must be between 8 and {MAX_SIDE} (got {value}).")
        if not 0 <= self.steps <= 500:
            problems.append(f"Hires steps must be between 0 and 500 (got {self.steps}).")
        if not 0.0 < self.denoise <= 1.0:
            problems.append(f"Hires denoising strength must be in (0, 1] (got {self.denoise:g}).")
        return problems

    def infotext_fields(self) -> dict[str, str]:
        """A1111's parameter-line fields (``Denoising strength`` is written by the caller)."""
        fields: dict[str, str] = {}
        if self.resize_width or self.resize_height:
            fields["Hires resize"] = f"{self.resize_width}x{self.resize_height}"
        else:
            fields["Hires upscale"] = f"{self.scale:g}"
        if self.steps:
            fields["Hires steps"] = str(self.steps)
        fields["Hires upscaler"] = self.upscaler
        return fields


def hires_from_infotext(extra: Mapping[str, str], denoising: float | None) -> HiresFix | None:
    """The hires fix an infotext records (None when it has no ``Hires upscale``/``Hires resize``)."""
    if "Hires upscale" not in extra and "Hires resize" not in extra:
        return None
    try:
        scale = float(extra.get("Hires upscale", "2"))
        rw, _, rh = extra.get("Hires resize", "0x0").lower().partition("x")
        steps = int(extra.get("Hires steps", "0"))
        resize_w, resize_h = int(rw or 0), int(rh or 0)
    except ValueError:
        return None
    upscaler = extra.get("Hires upscaler", DEFAULT_UPSCALER)
    if upscaler not in HIRES_UPSCALERS:  # a model upscaler we don't have (ESRGAN…): the closest built-in
        upscaler = "Lanczos"
    return HiresFix(scale, resize_w, resize_h, steps, denoising if denoising is not None else 0.7, upscaler)
