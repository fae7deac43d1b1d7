"""Small pieces of the training loop: seeding, memory readout, OOM advice."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from lora_studio.core.errors import TrainingError
from lora_studio.training.config import TrainConfig


def oom_error(exc: BaseException, config: TrainConfig) -> TrainingError:
    r, d = config.run, config.dataset
    tips = []
    if r.batch_size > 1:
        tips.append(f"batch size {r.batch_size} -> {max(1, r.batch_size // 2)}")
    tips.append(f"resolution {d.resolution} -> {max(256, d.resolution - 128)}")
    if not r.gradient_checkpointing:
        tips.append("turn on gradient checkpointing")
    if config.optimizer.optimizer != "adamw8bit":
        tips.append("use the AdamW8bit optimizer")
    if d.latent_cache == "none":
        tips.append("cache latents")
    if config.network.train_text_encoder:
        tips.append("train the UNet only (no text encoder)")
    mem = config.memory
    if mem.unet_weights == "full":
        tips.append("keep the model weights in fp8")
    elif mem.unet_weights in ("fp8", "int8") and mem.blocks_to_swap == 0:
        tips.append("keep some blocks in system memory (block swapping), or 4-bit NF4 weights")
    return TrainingError(
        "Training ran out of GPU memory.",
        hint="Lower one of these and start again (a state was saved if possible): " + "; ".join(tips) + ".",
        details=str(exc),
    )


def saved_network(config_toml: str) -> Any:
    import tomllib

    from lora_studio.training.config import config_from_dict

    try:
        return config_from_dict(tomllib.loads(config_toml))[0].network
    except Exception:  # an unreadable config in a state is not fatal; the weights are checked too
        return None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def memory_mb(device: torch.device, held: Any = None) -> float:
    """Memory figure for progress reports: on CUDA the peak the allocator handed out; elsewhere
    the bytes of the tensors ``held()`` yields (the session's models, optimizer and caches), or
    the process's resident memory when no such accounting is given."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    if held is not None:
        from lora_studio.diffusion.memory import storage_bytes

        return storage_bytes(held()) / 2**20
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        return 0.0
