"""Training presets as data: purpose (style, character, quick test) x family x VRAM tier. Torch-free.

``preset(purpose, family, vram_gb)`` returns a full :class:`TrainConfig`; the UI then fills in the
base model, dataset and output. Values follow common kohya community settings.
"""

from __future__ import annotations

import enum
from typing import Any

from lora_studio.core.families import ModelFamily
from lora_studio.training.config import (
    BaseWeights,
    LatentCache,
    ModelPrediction,
    NetworkTarget,
    OptimizerKind,
    Precision,
    SchedulerKind,
    TimestepSampling,
    TrainConfig,
    update,
)


class Purpose(enum.StrEnum):
    STYLE = "style"
    CHARACTER = "character"  # character / subject / person
    QUICK_TEST = "quick_test"


VRAM_TIERS = (6, 8, 12, 16, 24)

_PURPOSE: dict[Purpose, dict[str, Any]] = {
    Purpose.STYLE: {
        "network.rank": 32,
        "network.alpha": 16.0,
        "run.epochs": 10,
        "dataset.shuffle_tags": True,
        "dataset.keep_tokens": 1,
        "dataset.flip": True,
        "scheduler.scheduler": SchedulerKind.COSINE,
        "scheduler.warmup_ratio": 0.05,
        "loss.min_snr_gamma": 5.0,
        "loss.noise_offset": 0.0357,
    },
    Purpose.CHARACTER: {
        "network.rank": 16,
        "network.alpha": 8.0,
        "run.epochs": 10,
        "dataset.shuffle_tags": True,
        "dataset.keep_tokens": 1,
        "dataset.flip": False,
        "scheduler.scheduler": SchedulerKind.COSINE,
        "scheduler.warmup_ratio": 0.05,
        "loss.min_snr_gamma": 5.0,
    },
    Purpose.QUICK_TEST: {
        "network.rank": 8,
        "network.alpha": 4.0,
        "run.epochs": 2,
        "scheduler.scheduler": SchedulerKind.CONSTANT,
        "run.save_every_n_epochs": 0,
    },
}

_FAMILY: dict[ModelFamily, dict[str, Any]] = {
    ModelFamily.SD1: {
        "dataset.resolution": 512,
        "dataset.bucket_min": 256,
        "dataset.bucket_max": 1024,
        "optimizer.learning_rate": 1e-4,
        "optimizer.text_encoder_lr": 5e-5,
        "model.clip_skip": 1,
    },
    ModelFamily.SD2: {
        "dataset.resolution": 768,
        "dataset.bucket_min": 384,
        "dataset.bucket_max": 1280,
        "optimizer.learning_rate": 1e-4,
        "optimizer.text_encoder_lr": 5e-5,
    },
    ModelFamily.SDXL: {
        "dataset.resolution": 1024,
        "dataset.bucket_min": 512,
        "dataset.bucket_max": 2048,
        "dataset.bucket_step": 64,
        "optimizer.learning_rate": 1e-4,
        "network.train_text_encoder": False,
    },
}


_FAMILY[ModelFamily.FLUX] = {
    # The FLUX.1-dev LoRA guides (kohya sd-scripts' flux_train_network on 12-24 GB cards).
    "dataset.resolution": 1024,
    "dataset.bucket_min": 256,
    "dataset.bucket_max": 2048,
    "dataset.bucket_step": 64,
    "dataset.latent_cache": LatentCache.DISK,
    "dataset.cache_text_encoder_outputs": True,
    "flux.cache_text_encoder_outputs_to_disk": True,
    "flux.guidance_scale": 1.0,
    "flux.timestep_sampling": TimestepSampling.SHIFT,
    "flux.discrete_flow_shift": 3.1582,
    "flux.model_prediction_type": ModelPrediction.RAW,
    "network.train_text_encoder": False,
    "optimizer.learning_rate": 1e-4,
    "run.save_precision": Precision.BF16,
    "run.gradient_checkpointing": True,
    "run.batch_size": 1,
    "memory.unet_weights": BaseWeights.FP8,  # the bf16 transformer alone is 23.8 GB
    "memory.text_encoder_weights": BaseWeights.FP8,
}

# FLUX learns from few pictures shown many times: the guides train ~13 pictures, repeats 1, no
# regularisation set, for about 200 epochs (2,600 steps at batch 1). Epochs follow the picture count.
FLUX_STEPS = {Purpose.STYLE: 3000, Purpose.CHARACTER: 2600, Purpose.QUICK_TEST: 200}
_FLUX_PURPOSE: dict[Purpose, dict[str, Any]] = {
    Purpose.STYLE: {"network.rank": 16, "network.alpha": 16.0, "dataset.flip": True},
    Purpose.CHARACTER: {"network.rank": 8, "network.alpha": 8.0, "dataset.flip": False},
    Purpose.QUICK_TEST: {"network.rank": 8, "network.alpha": 8.0, "run.save_every_n_epochs": 0},
}
FLUX_VRAM_TIERS = (12, 16, 24)
# Blocks kept in system memory on 12 GB cards: the first 16 double-stream blocks (about 5 GB in fp8).
FLUX_BLOCKS_TO_SWAP_12GB = 16
# On 16 GB the guide's run peaks at about 15.6 GB: too close to the edge for a card that also drives
# a screen. Six swapped blocks free about 2.5 GB for a small slowdown.
FLUX_BLOCKS_TO_SWAP_16GB = 6


def flux_epochs(purpose: Purpose, pictures: int, batch_size: int = 1) -> int:
    """Epochs that give a FLUX run about the guides' number of steps for ``pictures`` pictures."""
    per_epoch = max(1, -(-max(1, pictures) // max(1, batch_size)))
    return max(1, round(FLUX_STEPS[purpose] / per_epoch))


def _flux(purpose: Purpose, vram_gb: int, pictures: int) -> dict[str, Any]:
    tier = max((t for t in FLUX_VRAM_TIERS if t <= vram_gb), default=FLUX_VRAM_TIERS[0])
    changes: dict[str, Any] = {
        "loss.min_snr_gamma": 0.0,  # an epsilon/v idea; flow matching has no SNR weighting
        "loss.noise_offset": 0.0,
        "dataset.shuffle_tags": False,  # FLUX captions are sentences
        "dataset.keep_tokens": 0,
        "scheduler.scheduler": SchedulerKind.CONSTANT,
        "scheduler.warmup_ratio": 0.0,
        **_FLUX_PURPOSE[purpose],
    }
    if tier == 12:
        changes["memory.blocks_to_swap"] = FLUX_BLOCKS_TO_SWAP_12GB
        changes["optimizer.optimizer"] = OptimizerKind.ADAMW8BIT
    elif tier == 16:
        # the 16 GB guide: Adafactor with a fixed learning rate (peaks at about 15.6 GB)
        changes["memory.blocks_to_swap"] = FLUX_BLOCKS_TO_SWAP_16GB
        changes["optimizer.optimizer"] = OptimizerKind.ADAFACTOR
        changes["optimizer.args"] = {"scale_parameter": False, "relative_step": False, "warmup_init": False}
        changes["optimizer.learning_rate"] = 5e-4
    else:
        changes["optimizer.optimizer"] = OptimizerKind.ADAMW8BIT
        changes["run.gradient_checkpointing"] = True
    changes["run.epochs"] = flux_epochs(purpose, pictures)
    return changes


def _vram(family: ModelFamily, vram_gb: int) -> dict[str, Any]:
    """Memory ladder (performance-reliability.md §2/§3): GC -> cache TE -> 8-bit optimizer -> batch,
    then the base weights: SDXL keeps its UNet in fp8 on 8 GB cards and in 4-bit NF4 on 6 GB cards
    (SDXL's bf16 UNet alone is 5.1 GB), and trains at 896 px there (activations at 1024 px with
    checkpointing are about 3 GB per picture). Every tier fits its card by the memory estimate
    (``training.vram_estimate``; tests/training/test_presets_fit.py)."""
    xl = family == ModelFamily.SDXL
    tiers: dict[int, dict[str, Any]] = {
        6: {
            "run.batch_size": 1,
            "run.gradient_checkpointing": True,
            "optimizer.optimizer": OptimizerKind.ADAMW8BIT,
            "network.train_text_encoder": False,
            "dataset.latent_cache": LatentCache.DISK,
            "memory.unet_weights": BaseWeights.NF4 if xl else BaseWeights.FULL,
            **({"dataset.resolution": 896} if xl else {}),
        },
        8: {
            "run.batch_size": 1,
            "run.gradient_checkpointing": True,
            "optimizer.optimizer": OptimizerKind.ADAMW8BIT,
            "network.train_text_encoder": False if xl else True,
            "dataset.latent_cache": LatentCache.DISK,
            "memory.unet_weights": BaseWeights.FP8 if xl else BaseWeights.FULL,
        },
        12: {
            "run.batch_size": 1 if xl else 2,
            "run.gradient_checkpointing": xl,
            "optimizer.optimizer": OptimizerKind.ADAMW8BIT if xl else OptimizerKind.ADAMW,
            "network.train_text_encoder": not xl,
        },
        16: {
            "run.batch_size": 2 if xl else 4,
            "run.gradient_checkpointing": True,
            "network.train_text_encoder": not xl,
        },
        24: {"run.batch_size": 4, "run.gradient_checkpointing": xl},
    }
    tier = max((t for t in VRAM_TIERS if t <= vram_gb), default=VRAM_TIERS[0])
    return tiers[tier]


def preset(
    purpose: Purpose | str, family: ModelFamily | str, vram_gb: int = 12, *, pictures: int = 13
) -> TrainConfig:
    """A complete config for ``purpose`` on ``family`` that fits in ``vram_gb`` of GPU memory.
    FLUX runs take their epochs from the number of ``pictures`` (repeats 1)."""
    purpose, family = Purpose(purpose), ModelFamily(family)
    changes: dict[str, Any] = {"model.family": family, "run.precision": Precision.BF16}
    changes.update(_FAMILY[family])
    if family == ModelFamily.FLUX:
        changes.update(_flux(purpose, vram_gb, pictures))
        return update(TrainConfig(), **changes)
    changes.update(_PURPOSE[purpose])
    changes.update(_vram(family, vram_gb))
    if purpose == Purpose.QUICK_TEST:
        changes["network.target"] = NetworkTarget.ATTENTION
    return update(TrainConfig(), **changes)


def preset_names() -> list[tuple[Purpose, ModelFamily, int]]:
    plain = [(p, f, v) for p in Purpose for f in (ModelFamily.SD1, ModelFamily.SDXL) for v in VRAM_TIERS]
    return plain + [(p, ModelFamily.FLUX, v) for p in Purpose for v in FLUX_VRAM_TIERS]
