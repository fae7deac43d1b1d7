"""FLUX.1 generation: what ``FluxPipeline`` / ``FluxImg2ImgPipeline`` are called with.

FLUX.1-dev was distilled with its guidance strength as an input ("Distilled CFG Scale" in Forge,
3.5 by default): one pass per step, no negative prompt. Real classifier-free guidance ("CFG scale")
stays 1 unless the user sets it above 1 *and* writes a negative prompt, as in Forge; it then costs a
second pass per step. FLUX.1-schnell has no guidance input and needs about 4 steps. CLIP-L gives
the pooled vector and T5-XXL the token sequence (512 tokens for dev, 256 for schnell, as BFL ran
them). A1111 emphasis syntax ``(word:1.2)`` is removed rather than applied: FLUX's T5 prompts are
plain sentences, and Forge does not weight them either.
"""

from __future__ import annotations

from typing import Any

import torch

from lora_studio.core.errors import GenerationError
from lora_studio.generation.prompts import parse_weighted_prompt
from lora_studio.generation.request import DISTILLED_CFG_DEFAULT, GenerationRequest

PIPELINES = {"txt2img": "FluxPipeline", "img2img": "FluxImg2ImgPipeline", "inpaint": "FluxInpaintPipeline"}


def is_schnell(pipe: Any) -> bool:
    """FLUX.1-schnell has no guidance embedding (dev has one)."""
    return not bool(pipe.transformer.config.guidance_embeds)


def distilled_cfg(pipe: Any, request: GenerationRequest) -> float | None:
    """The guidance the model is given (None for schnell, which has no guidance input)."""
    if is_schnell(pipe):
        return None
    return DISTILLED_CFG_DEFAULT if request.distilled_cfg is None else float(request.distilled_cfg)


def plain_prompt(text: str) -> str:
    """The prompt text without A1111 emphasis brackets and ``BREAK`` (see the module docstring)."""
    parts = [t for t, w in parse_weighted_prompt(text) if w >= 0]
    return " ".join("".join(parts).split())


def uses_true_cfg(request: GenerationRequest) -> bool:
    return request.cfg > 1.0 and bool(plain_prompt(request.negative))


def check_size(width: int, height: int) -> None:
    """FLUX packs 2×2 latent pixels into one token: sizes must be multiples of 16."""
    if width % 16 or height % 16:
        raise GenerationError(
            f"FLUX.1 images need a width and height that are multiples of 16 (got {width}×{height}).",
            hint="Choose e.g. 1024×1024, 896×1152 or 832×1216.",
        )


@torch.no_grad()
def encode(pipe: Any, request: GenerationRequest) -> dict[str, Any]:
    """Prompt embeddings for one batch (encoded once, repeated for the batch size) and the guidance
    keyword arguments of the FLUX pipeline call."""
    max_len = 256 if is_schnell(pipe) else 512
    n = request.batch_size

    def embeds(text: str) -> tuple[torch.Tensor, torch.Tensor]:
        seq, pooled, _ids = pipe.encode_prompt(
            prompt=text, prompt_2=text, device=pipe._execution_device, max_sequence_length=max_len
        )
        return seq.repeat(n, 1, 1), pooled.repeat(n, 1)

    seq, pooled = embeds(plain_prompt(request.prompt))
    kwargs: dict[str, Any] = {
        "prompt_embeds": seq,
        "pooled_prompt_embeds": pooled,
        "max_sequence_length": max_len,
        "num_images_per_prompt": 1,  # the embeddings already hold the batch
        "guidance_scale": distilled_cfg(pipe, request) or 0.0,
        "true_cfg_scale": 1.0,
    }
    if uses_true_cfg(request):
        neg_seq, neg_pooled = embeds(plain_prompt(request.negative))
        kwargs.update(
            negative_prompt_embeds=neg_seq,
            negative_pooled_prompt_embeds=neg_pooled,
            true_cfg_scale=request.cfg,
        )
    return kwargs


def preview_png(pipe: Any, latents: torch.Tensor, width: int, height: int) -> bytes:
    """A small PNG of one image's packed FLUX latents ``[tokens, 64]``.

    No colour fit of the FLUX autoencoder is bundled, so the preview shows the first three latent
    channels, each stretched to its own range: composition and contrast, not true colours.
    """
    from lora_studio.generation.preview import rgb_preview_png

    unpacked = pipe._unpack_latents(latents[None].float().cpu(), height, width, pipe.vae_scale_factor)[0]
    rgb = unpacked[:3]
    low = rgb.amin(dim=(1, 2), keepdim=True)
    high = rgb.amax(dim=(1, 2), keepdim=True)
    rgb = ((rgb - low) / (high - low).clamp_min(1e-6) * 255).permute(1, 2, 0).to(torch.uint8)
    return rgb_preview_png(rgb)
