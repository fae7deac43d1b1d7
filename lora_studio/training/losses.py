"""Diffusion training loss: noise, timesteps, targets (epsilon / v), min-SNR, masks, prior weight.

All randomness comes from an explicit CPU ``torch.Generator`` seeded per (run seed, step, micro-batch,
process), so a resumed run draws exactly the same noise and timesteps as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import torch

from lora_studio.core.families import Prediction


def make_noise_scheduler(
    scheduler_config: dict[str, Any], prediction: Prediction, zero_terminal_snr: bool
) -> Any:
    """A DDPM scheduler with the base model's beta schedule (for add_noise, velocity and SNR)."""
    from diffusers import DDPMScheduler

    keep = {
        k: scheduler_config[k]
        for k in ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas")
        if k in scheduler_config and scheduler_config[k] is not None
    }
    return DDPMScheduler(
        **keep,
        prediction_type="v_prediction" if prediction == Prediction.V else "epsilon",
        rescale_betas_zero_snr=zero_terminal_snr,
        clip_sample=False,
    )


def step_generator(seed: int, step: int, micro: int = 0, rank: int = 0) -> torch.Generator:
    g = torch.Generator(device="cpu")
    g.manual_seed((seed * 1_000_003 + step * 7919 + micro * 104_729 + rank * 15_485_863) % (2**63 - 1))
    return g


def draw_noise(
    latents: torch.Tensor, gen: torch.Generator, num_timesteps: int, noise_offset: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(noise, timesteps) for a batch of latents; noise offset adds per-channel constant noise."""
    b, c = latents.shape[:2]
    noise = torch.randn(latents.shape, generator=gen, dtype=torch.float32)
    if noise_offset > 0:
        noise = noise + noise_offset * torch.randn((b, c, 1, 1), generator=gen, dtype=torch.float32)
    timesteps = torch.randint(0, num_timesteps, (b,), generator=gen, dtype=torch.long)
    return noise.to(latents.device), timesteps.to(latents.device)


def snr(scheduler: Any, timesteps: torch.Tensor) -> torch.Tensor:
    ac = scheduler.alphas_cumprod.to(timesteps.device)[timesteps].float()
    return ac / (1.0 - ac).clamp(min=1e-12)


def masked_mean(err: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``err`` [B, C, H, W] per sample, over the area ``mask`` [B, 1, h, w] covers (resized
    to the latent size), or over everything without a mask."""
    if mask is None:
        return err.flatten(1).mean(1)
    m = mask.to(err.device, err.dtype)
    if m.shape[-2:] != err.shape[-2:]:
        m = torch.nn.functional.interpolate(m, size=err.shape[-2:], mode="area")
    m = m.expand_as(err)
    return (err * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp(min=1e-6)


def per_sample_loss(
    model_pred: torch.Tensor,
    *,
    latents: torch.Tensor,
    noise: torch.Tensor,
    timesteps: torch.Tensor,
    scheduler: Any,
    prediction: Prediction,
    min_snr_gamma: float = 0.0,
    mask: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """MSE per sample [B], weighted by min-SNR, the loss mask (mean over the masked area) and
    per-sample weights (prior loss weight of regularization images)."""
    if prediction == Prediction.V:
        target = scheduler.get_velocity(latents, noise, timesteps)
    else:
        target = noise
    err = (model_pred.float() - target.float()) ** 2
    loss = masked_mean(err, mask)
    if min_snr_gamma > 0:
        s = snr(scheduler, timesteps)
        clipped = torch.clamp(s, max=min_snr_gamma)
        w = clipped / (s + 1.0) if prediction == Prediction.V else clipped / s.clamp(min=1e-8)
        loss = loss * w
    if weights is not None:
        loss = loss * weights.to(loss.device, loss.dtype)
    return loss
