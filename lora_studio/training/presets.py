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
    NetworkTarget,
    OptimizerKind,
    Precision,
    SchedulerKind,
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


def _vram(family: ModelFamily, vram_gb: int) -> dict[str, Any]:
    """Memory ladder (performance-reliability.md §2/§3): GC -> cache TE -> 8-bit optimizer -> batch,
    then the base weights: SDXL keeps its UNet in fp8 on 8 GB cards and in 4-bit NF4 on 6 GB cards
    (SDXL's bf16 UNet alone is 5.1 GB)."""
    xl = family == ModelFamily.SDXL
    tiers: dict[int, dict[str, Any]] = {
        6: {
            "run.batch_size": 1,
            "run.gradient_checkpointing": True,
            "optimizer.optimizer": OptimizerKind.ADAMW8BIT,
            "network.train_text_encoder": False,
            "dataset.latent_cache": LatentCache.DISK,
            "memory.unet_weights": BaseWeights.NF4 if xl else BaseWeights.FULL,
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
            "run.gradient_checkpointing": xl,
            "network.train_text_encoder": not xl,
        },
        24: {"run.batch_size": 4 if xl else 8, "run.gradient_checkpointing": False},
    }
    tier = max((t for t in VRAM_TIERS if t <= vram_gb), default=VRAM_TIERS[0])
    return tiers[tier]


def preset(purpose: Purpose | str, family: ModelFamily | str, vram_gb: int = 12) -> TrainConfig:
    """A complete config for ``purpose`` on ``family`` that fits in ``vram_gb`` of GPU memory."""
    purpose, family = Purpose(purpose), ModelFamily(family)
    changes: dict[str, Any] = {"model.family": family, "run.precision": Precision.BF16}
    changes.update(_FAMILY[family])
    changes.update(_PURPOSE[purpose])
    changes.update(_vram(family, vram_gb))
    if purpose == Purpose.QUICK_TEST:
        changes["network.target"] = NetworkTarget.ATTENTION
    return update(TrainConfig(), **changes)


def preset_names() -> list[tuple[Purpose, ModelFamily, int]]:
    return [(p, f, v) for p in Purpose for f in (ModelFamily.SD1, ModelFamily.SDXL) for v in VRAM_TIERS]
