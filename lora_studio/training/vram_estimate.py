"""A rough GPU-memory estimate for a training config, and the card's size from the device info. Pure.

Formula (GB), fitted to the measurements in shared/research/performance-reliability.md §2
(kohya SDXL ladder: rank 32 bs1 17.4 GB, with gradient checkpointing 9.4 GB, +3.7 GB per extra
picture; SD 1.5 bs1 512 px with checkpointing ≈ 4 GB)::

    total = context + weights + lora_training + batch × activations × (resolution / native)²

* context: 0.8 (CUDA context and allocator slack)
* weights (fp16/bf16; ×2 in fp32): UNet (SD1 1.72, SD2 1.73, SDXL 5.13), text encoders
  (0.25 / 0.70 / 1.64, left out when caption encodings are cached and the text encoder is frozen),
  VAE 0.17 (left out when pictures are cached)
* lora_training: trainable parameters × 16 bytes (weights, gradients, two AdamW states; 10 bytes
  for 8-bit AdamW, 12 for Adafactor/Lion); parameters per rank: SD1 0.4 M, SD2 0.45 M, SDXL 1.45 M
  for attention; ×2 with feed-forward; ×2.6 with convolutions; text encoder +15%
* activations per picture at the native size: SD1 3.5 / SD2 4.5 / SDXL 10.5 without gradient
  checkpointing; 1.0 / 1.3 / 3.0 with it

It is meant to be within about ±30%: enough to warn before a run that can't fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lora_studio.core.families import ModelFamily
from lora_studio.training.config import BaseWeights, NetworkTarget, OptimizerKind, Precision, TrainConfig

# FLUX.1: the 11.9 B-parameter transformer (22.2 GB in bf16), T5-XXL + CLIP-L 9.1 GB, LoRA on every
# block Linear 5.37 M parameters per rank; activations at 1024 px measured by kohya's 16 GB guide
# (15.6 GB peak with fp8 weights, rank 8, checkpointing).
_UNET = {ModelFamily.SD1: 1.72, ModelFamily.SD2: 1.73, ModelFamily.SDXL: 5.13, ModelFamily.FLUX: 22.2}
_TE = {ModelFamily.SD1: 0.25, ModelFamily.SD2: 0.70, ModelFamily.SDXL: 1.64, ModelFamily.FLUX: 9.1}
_VAE = 0.17
_CONTEXT = 0.8
_PARAMS_PER_RANK = {ModelFamily.SD1: 0.40e6, ModelFamily.SD2: 0.45e6, ModelFamily.SDXL: 1.45e6, ModelFamily.FLUX: 5.37e6}
_ACT = {ModelFamily.SD1: (3.5, 1.0), ModelFamily.SD2: (4.5, 1.3), ModelFamily.SDXL: (10.5, 3.0), ModelFamily.FLUX: (30.0, 3.0)}
# bf16 GB of one FLUX.1 double- / single-stream block (blocks are swapped double ones first)
_FLUX_BLOCKS = ((19, 0.633), (38, 0.263))


def _flux_swapped_gb(count: int) -> float:
    """bf16 GB that ``count`` swapped FLUX blocks take off the card (one comes back while it runs,
    and the next one is on its way)."""
    out, left = 0.0, count
    for n, gb in _FLUX_BLOCKS:
        take = min(n, left)
        out, left = out + take * gb, left - take
    return max(0.0, out - 2 * _FLUX_BLOCKS[0][1]) if count else 0.0
# Share of the bf16 UNet size held with low-precision base weights (convolutions and norms of
# bitsandbytes models stay bf16, so 4-bit keeps about 30 %).
_BASE_WEIGHTS = {BaseWeights.FULL: 1.0, BaseWeights.FP8: 0.5, BaseWeights.INT8: 0.5, BaseWeights.NF4: 0.3}
_TARGET_FACTOR = {NetworkTarget.ATTENTION: 1.0, NetworkTarget.ATTENTION_FF: 2.0, NetworkTarget.ATTENTION_FF_CONV: 2.6}


@dataclass(frozen=True, slots=True)
class VramEstimate:
    total_gb: float
    parts: tuple[tuple[str, float], ...]
    available_gb: float | None = None
    no_card: bool = False  # the device was checked: this computer has no NVIDIA graphics card

    @property
    def fits(self) -> bool:
        return self.available_gb is None or self.total_gb <= self.available_gb * 0.95

    @property
    def tight(self) -> bool:
        return self.available_gb is not None and self.fits and self.total_gb > self.available_gb * 0.8

    def summary(self) -> str:
        if self.no_card:
            return (
                f"Would need about {self.total_gb:.1f} GB on a graphics card. This computer has no NVIDIA card, "
                "so training runs on the processor: it works, but is very slow (fine for the demo)."
            )
        if self.available_gb is None:
            return f"Needs about {self.total_gb:.1f} GB of graphics memory (card not checked yet)."
        text = f"Needs about {self.total_gb:.1f} GB of {self.available_gb:.0f} GB graphics memory"
        if not self.fits:
            return text + " — it will probably not fit."
        return text + (" — tight, but should fit." if self.tight else " — fits.")


def estimate_vram(
    config: TrainConfig,
    family: ModelFamily | None,
    available_gb: float | None = None,
    *,
    calibration: float = 1.0,
    no_card: bool = False,
) -> VramEstimate:
    """``calibration``: measured / estimated from a probe (``training.fit.calibration``)."""
    fam = config.model.family or family or ModelFamily.SD1
    n, r, d = config.network, config.run, config.dataset
    scale = 2.0 if r.precision == Precision.FP32 else 1.0
    frozen_te = not n.train_text_encoder
    base = _UNET[fam] - (_flux_swapped_gb(config.memory.blocks_to_swap) if fam == ModelFamily.FLUX else 0.0)
    weights = base * scale * _BASE_WEIGHTS[config.memory.unet_weights]
    if not (frozen_te and d.cache_text_encoder_outputs):
        weights += _TE[fam] * scale
    if d.latent_cache.value == "none":
        weights += _VAE * scale
    factor = 1.0 if fam == ModelFamily.FLUX else _TARGET_FACTOR.get(n.target, 2.0)  # FLUX: every block Linear
    params = _PARAMS_PER_RANK[fam] * n.rank * factor
    if n.train_text_encoder:
        params *= 1.15
    # LoHa has two low-rank pairs per layer; LoKr's Kronecker factors are far smaller than a LoRA's.
    params *= {"loha": 2.0, "lokr": 0.25}.get(str(n.algo), 1.0)
    per_param = {OptimizerKind.ADAMW8BIT: 10, OptimizerKind.ADAFACTOR: 12, OptimizerKind.LION: 12}.get(
        config.optimizer.optimizer, 16
    )
    lora = params * per_param / 2**30
    no_gc, gc = _ACT[fam]
    act = (gc if r.gradient_checkpointing else no_gc) * (d.resolution / fam.default_resolution) ** 2
    if r.precision == Precision.FP32:
        act *= 1.6
    batch = r.batch_size * act
    formula = (("base model", weights), ("LoRA and optimizer", lora), (f"{r.batch_size} picture(s) per step", batch), ("overhead", _CONTEXT))
    parts = tuple((name, gb * calibration) for name, gb in formula)
    return VramEstimate(sum(v for _, v in parts), parts, available_gb, no_card=no_card)


_GB_RE = re.compile(r"(\d+(?:\.\d+)?)\s*GB", re.IGNORECASE)
_MB_RE = re.compile(r"vram_total_mb:\s*(\d+(?:\.\d+)?)")


def vram_from_device(summary: str, details: str = "") -> float | None:
    """The card's memory in GB from ``DeviceInfo`` text (``"RTX 3060, 12 GB"``), None for CPU/unknown."""
    if m := _MB_RE.search(details):
        return float(m.group(1)) / 1024
    if "processor only" in summary.lower() or "no nvidia" in summary.lower():
        return None
    if m := _GB_RE.search(summary):
        return float(m.group(1))
    return None


def has_no_card(summary: str) -> bool:
    """Whether ``DeviceInfo.summary`` says the computer has no NVIDIA graphics card."""
    text = summary.lower()
    return "processor only" in text or "no nvidia" in text


def vram_tier(gb: float | None, tiers: tuple[int, ...] = (6, 8, 12, 16, 24)) -> int:
    """The largest preset tier that fits in ``gb`` (12 when unknown)."""
    if gb is None:
        return 12
    return max((t for t in tiers if t <= gb + 0.5), default=tiers[0])
