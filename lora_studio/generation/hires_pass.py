"""The two passes of the hires fix (torch; the settings are in :mod:`lora_studio.generation.hires`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from lora_studio.generation.hires import LATENT_MODES, HiresFix


def upscale_first_pass(first: Any, hires: HiresFix, width: int, height: int, vae_scale: int = 8) -> Any:
    """Latents ``[B, C, h, w]`` or a list of PIL images, upscaled to the hires target size."""
    tw, th = hires.target_size(width, height)
    if hires.is_latent:
        import torch.nn.functional as F  # noqa: N812 - torch's own spelling

        mode, antialias = LATENT_MODES[hires.upscaler]
        size = (th // vae_scale, tw // vae_scale)
        extra = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
        return F.interpolate(first, size=size, mode=mode, antialias=antialias, **extra)
    from PIL import Image

    resample = Image.Resampling.NEAREST if hires.upscaler == "Nearest" else Image.Resampling.LANCZOS
    return [im.resize((tw, th), resample) for im in first]


def generate_hires(
    txt2img: Any,
    img2img: Any,
    hires: HiresFix,
    call_kwargs: dict[str, Any],
    width: int,
    height: int,
    between_passes: Callable[[], None],
) -> list[Any]:
    """Both passes for one batch; returns the final PIL images.

    ``call_kwargs`` are the txt2img call's arguments (prompt embeddings, size, steps, CFG,
    generators, step callback). ``between_passes`` runs after the first pass (it checks for a
    cancel and reports the second pass), so a cancel there loses no second pass's work.
    """
    first = txt2img(**call_kwargs, output_type="latent" if hires.is_latent else "pil").images
    between_passes()
    scale = int(getattr(txt2img, "vae_scale_factor", 8))
    image = upscale_first_pass(first, hires, width, height, scale)
    second = {k: v for k, v in call_kwargs.items() if k not in ("width", "height")}
    steps = hires.steps or int(call_kwargs["num_inference_steps"])
    # img2img runs int(steps × strength) steps; a very low strength still runs one, as in A1111
    second["num_inference_steps"] = max(steps, math.ceil(1 / hires.denoise))
    if hires.is_latent:
        image = image.to(dtype=first.dtype)
    out = img2img(**second, image=image, strength=hires.denoise, output_type="pil")
    return list(out.images)
