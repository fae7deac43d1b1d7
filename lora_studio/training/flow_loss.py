"""Flow-matching loss of FLUX training, with sd-scripts' options and meanings.

A picture's latents ``x0`` and noise ``n`` are mixed at a noise level ``sigma`` in [0, 1]:
``x_sigma = (1 - sigma) x0 + sigma n``; the transformer predicts the velocity ``n - x0``.

* :func:`draw_sigmas` picks the levels (``timestep_sampling`` sigma / uniform / sigmoid / shift /
  flux_shift, with ``sigmoid_scale``, ``discrete_flow_shift`` and ``weighting_scheme``);
* :func:`apply_prediction_type` turns the output into what is compared (``raw`` / ``additive`` /
  ``sigma_scaled``) and gives the loss weight of ``sigma_scaled``;
* :func:`pack_latents` / :func:`unpack_latents` / :func:`image_ids` are FLUX's 2x2 patch packing.

Every random draw comes from the step's CPU generator, so resumed runs draw the same values.
"""

from __future__ import annotations

import math

import torch

from lora_studio.training.config import FluxConfig, ModelPrediction, TimestepSampling, WeightingScheme

NUM_TRAIN_TIMESTEPS = 1000


def shifted(sigmas: torch.Tensor, shift: float) -> torch.Tensor:
    """The discrete flow shift of SD3/FLUX schedules: more of the levels near pure noise for shift > 1."""
    return sigmas * shift / (1 + (shift - 1) * sigmas)


def flux_mu(latent_height: int, latent_width: int) -> float:
    """FLUX.1's resolution-dependent shift: linear in the number of packed tokens, 0.5 at 256
    tokens and 1.15 at 4096 (what FLUX.1 samples with)."""
    tokens = (latent_height // 2) * (latent_width // 2)
    slope = (1.15 - 0.5) / (4096 - 256)
    return 0.5 + slope * (tokens - 256)


def schedule_sigmas(shift: float, steps: int = NUM_TRAIN_TIMESTEPS) -> torch.Tensor:
    """The levels of the discrete flow-matching training schedule, from most to least noisy
    (the sigmas of diffusers' FlowMatchEulerDiscreteScheduler with ``shift``)."""
    t = torch.linspace(1, steps, steps, dtype=torch.float64).flip(0) / steps
    return shifted(t, shift).float()


def _density(cfg: FluxConfig, batch: int, gen: torch.Generator) -> torch.Tensor:
    """Where in [0, 1) ``sigma`` sampling picks its schedule steps (SD3's timestep densities)."""
    scheme = WeightingScheme(cfg.weighting_scheme)
    if scheme == WeightingScheme.LOGIT_NORMAL:
        u = torch.randn(batch, generator=gen) * cfg.logit_std + cfg.logit_mean
        return torch.sigmoid(u)
    u = torch.rand(batch, generator=gen)
    if scheme == WeightingScheme.MODE:
        return 1 - u - cfg.mode_scale * (torch.cos(math.pi * u / 2) ** 2 - 1 + u)
    return u


def draw_sigmas(cfg: FluxConfig, batch: int, latent_hw: tuple[int, int], gen: torch.Generator) -> torch.Tensor:
    """Noise levels [B] in [0, 1] for one batch, as ``cfg.timestep_sampling`` says."""
    kind = TimestepSampling(cfg.timestep_sampling)
    if kind == TimestepSampling.UNIFORM:
        return torch.rand(batch, generator=gen)
    if kind == TimestepSampling.SIGMA:
        schedule = schedule_sigmas(cfg.discrete_flow_shift)
        index = (_density(cfg, batch, gen) * NUM_TRAIN_TIMESTEPS).long().clamp(0, NUM_TRAIN_TIMESTEPS - 1)
        return schedule[index]
    s = torch.sigmoid(torch.randn(batch, generator=gen) * cfg.sigmoid_scale)
    if kind == TimestepSampling.SHIFT:
        return shifted(s, cfg.discrete_flow_shift)
    if kind == TimestepSampling.FLUX_SHIFT:
        return shifted(s, math.exp(flux_mu(*latent_hw)))  # exp(mu) shift = FLUX's time_shift(mu, 1, s)
    return s  # sigmoid


def loss_weighting(cfg: FluxConfig, sigmas: torch.Tensor) -> torch.Tensor:
    """SD3's post-hoc loss weights (used with ``sigma_scaled``)."""
    scheme = WeightingScheme(cfg.weighting_scheme)
    if scheme == WeightingScheme.SIGMA_SQRT:
        return sigmas.float() ** -2.0
    if scheme == WeightingScheme.COSMAP:
        return 2 / (math.pi * (1 - 2 * sigmas + 2 * sigmas**2))
    return torch.ones_like(sigmas)


def apply_prediction_type(
    cfg: FluxConfig, pred: torch.Tensor, noisy: torch.Tensor, sigmas: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(what is compared with the target ``noise - latents``, per-element weights or None).

    ``sigmas`` broadcast to ``pred`` ([B, 1, 1, 1]). As in sd-scripts' FLUX training, the target
    stays ``noise - latents`` for every type.
    """
    kind = ModelPrediction(cfg.model_prediction_type)
    if kind == ModelPrediction.ADDITIVE:
        return pred + noisy, None
    if kind == ModelPrediction.SIGMA_SCALED:
        return pred * (-sigmas) + noisy, loss_weighting(cfg, sigmas)
    return pred, None


# -- packing: [B, C, H, W] latents <-> [B, H/2 * W/2, C * 4] tokens ----------------------------
def pack_latents(latents: torch.Tensor) -> torch.Tensor:
    b, c, h, w = latents.shape
    x = latents.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, (h // 2) * (w // 2), c * 4)


def unpack_latents(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Back to [B, C, height, width] (latent size)."""
    b, _, d = tokens.shape
    c = d // 4
    x = tokens.view(b, height // 2, width // 2, c, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, c, height, width)


def image_ids(height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """FLUX's position ids of the packed tokens [H/2 * W/2, 3]: (0, row, column)."""
    h, w = height // 2, width // 2
    ids = torch.zeros(h, w, 3)
    ids[..., 1] = torch.arange(h)[:, None]
    ids[..., 2] = torch.arange(w)[None, :]
    return ids.reshape(h * w, 3).to(device, dtype)
