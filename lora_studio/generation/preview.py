"""Cheap previews during sampling: latents → RGB by a fixed linear map (no VAE decode).

Each of the 4 latent channels contributes a fixed amount to R, G and B; the factors are the
widely used least-squares fits for the SD1.x/SD2.x and SDXL VAEs. A 64×64 latent gives a 64×64
preview (1/8 of the image size), good enough to see composition and colours emerge.
"""

from __future__ import annotations

import io

import torch

_SD1_FACTORS = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
_SDXL_FACTORS = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)


def latents_to_rgb(latents: torch.Tensor, sdxl: bool = False) -> torch.Tensor:
    """``[4, h, w]`` latents → ``[h, w, 3]`` uint8 RGB on the CPU."""
    factors = torch.tensor(_SDXL_FACTORS if sdxl else _SD1_FACTORS, dtype=torch.float32)
    lat = latents.detach().float().cpu()[:4]
    rgb = torch.einsum("chw,cr->hwr", lat, factors[: lat.shape[0]])
    rgb = ((rgb + 1.0) * 127.5).clamp(0, 255)
    return rgb.to(torch.uint8)


def latents_to_preview_png(latents: torch.Tensor, sdxl: bool = False, min_size: int = 64) -> bytes:
    """A small PNG preview of one image's latents (upscaled to at least ``min_size`` px)."""
    return rgb_preview_png(latents_to_rgb(latents, sdxl), min_size)


def rgb_preview_png(rgb: torch.Tensor, min_size: int = 64) -> bytes:
    """``[h, w, 3]`` uint8 RGB as a fast PNG, upscaled (nearest) to at least ``min_size`` px."""
    from PIL import Image

    image = Image.fromarray(rgb.numpy(), "RGB")
    if min(image.size) < min_size:
        scale = -(-min_size // min(image.size))
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
