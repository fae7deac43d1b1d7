"""The reference for FLUX training speed: a plain diffusers + peft LoRA loop, written as the
diffusers FLUX LoRA examples do it (used by bench_flux_training.py and bench_gpu.py).

Same work as LoRA Studio's trainer: LoRA on every Linear of the double- and single-stream blocks,
latents and captions encoded once, flow matching on packed latents with FLUX's ids and guidance,
AdamW (8-bit when asked), optional gradient checkpointing. Base weights stay in the run's dtype:
plain diffusers has no fp8 training path and no block swapping of its own.
"""

from __future__ import annotations

import time
from typing import Any


def plain_flux_train(
    model: str,
    *,
    device: str,
    dtype: Any,
    res: int,
    rank: int,
    steps: int,
    batch: int = 1,
    gradient_checkpointing: bool = False,
    optimizer: str = "adamw",
    max_sequence_length: int = 512,
) -> list[float]:
    """Run ``steps`` optimizer steps; returns the time after each (seconds, perf_counter)."""
    import torch
    from diffusers import FluxPipeline
    from peft import LoraConfig

    pipe = FluxPipeline.from_pretrained(model, torch_dtype=dtype, local_files_only=True)
    transformer = pipe.transformer
    transformer.requires_grad_(False)
    targets = [
        n
        for n, m in transformer.named_modules()
        if isinstance(m, torch.nn.Linear) and n.startswith(("transformer_blocks.", "single_transformer_blocks."))
    ]
    transformer.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=targets))
    params = [p for p in transformer.parameters() if p.requires_grad]
    for p in params:
        p.data = p.data.float()
    if gradient_checkpointing:
        transformer.enable_gradient_checkpointing()
    with torch.no_grad():  # encoded once, as our trainer's caches do
        pipe.vae.to(device)
        pixels = torch.rand(batch, 3, res, res, device=device, dtype=pipe.vae.dtype) * 2 - 1
        latents = pipe.vae.encode(pixels).latent_dist.mode()
        latents = ((latents - pipe.vae.config.shift_factor) * pipe.vae.config.scaling_factor).float()
        pipe.vae.to("cpu")
        hidden, pooled, text_ids = pipe.encode_prompt(
            ["sks, picture"] * batch, prompt_2=None, device="cpu", max_sequence_length=max_sequence_length
        )
    pipe.text_encoder = pipe.text_encoder_2 = None
    transformer.to(device)
    hidden, pooled, text_ids = hidden.to(device), pooled.to(device), text_ids.to(device)
    if optimizer == "adamw8bit":
        import bitsandbytes as bnb

        opt: Any = bnb.optim.AdamW8bit(params, lr=1e-4)
    elif optimizer == "adafactor":
        from transformers.optimization import Adafactor

        opt = Adafactor(params, lr=1e-4, scale_parameter=False, relative_step=False, warmup_init=False)
    else:
        opt = torch.optim.AdamW(params, lr=1e-4)
    b, c, h, w = latents.shape
    packed_ids = FluxPipeline._prepare_latent_image_ids(b, h // 2, w // 2, device, dtype)
    guidance = torch.full((b,), 1.0, device=device) if transformer.config.guidance_embeds else None
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    transformer.train()
    times = []
    for _ in range(steps):
        noise = torch.randn_like(latents)
        s = torch.sigmoid(torch.randn(b, device=device))
        sigmas = (s * 3.1582 / (1 + 2.1582 * s)).view(-1, 1, 1, 1)  # "shift" sampling
        noisy = (1 - sigmas) * latents + sigmas * noise
        with torch.autocast(device, dtype=dtype, enabled=dtype != torch.float32):
            pred = transformer(
                hidden_states=FluxPipeline._pack_latents(noisy, b, c, h, w),
                encoder_hidden_states=hidden,
                pooled_projections=pooled,
                timestep=sigmas.flatten(),
                img_ids=packed_ids,
                txt_ids=text_ids,
                guidance=guidance,
                return_dict=False,
            )[0]
        pred = FluxPipeline._unpack_latents(pred, h * 8, w * 8, 8)
        loss = torch.nn.functional.mse_loss(pred.float(), (noise - latents).float())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter())
    return times
