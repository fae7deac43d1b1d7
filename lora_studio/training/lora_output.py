"""Building the kohya metadata of a trained LoRA and writing the file."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from lora_studio.core import paths  # noqa: F401 - keeps the cache folder import cheap and early
from lora_studio.training.captions import split_tags
from lora_studio.training.checkpoints import save_lora_file
from lora_studio.training.config import LatentCache, Precision, TrainConfig
from lora_studio.training.network import alpha_lookup
from lora_studio.training.session import TrainingSession, torch_dtype


def base_model_identity(path: str) -> dict[str, str]:
    """Name and hashes of the base model (hashes only for single files; cached across runs)."""
    p = Path(path)
    out = {"base_model_name": p.stem if p.is_file() else p.name}
    if p.is_file():
        try:
            from lora_studio.formats.hashes import default_cache, legacy_model_hash

            out["base_model_sha256"] = default_cache().get(p, "sha256")
            out["base_model_hash"] = legacy_model_hash(p)
        except Exception:  # hashes are informative; never fail a save for them
            pass
    return out


def training_info(
    session: TrainingSession,
    *,
    step: int,
    epoch: int,
    total_steps: int,
    batches_per_epoch: int,
    steps_per_epoch: int,
    started_at: float,
    session_id: str,
    base: dict[str, Any],
) -> Any:
    from lora_studio.formats.lora_metadata import LoraTrainingInfo

    cfg: TrainConfig = session.config
    d, n, o, r = cfg.dataset, cfg.network, cfg.optimizer, cfg.run
    train_src = [s for s in session.sources if not s.is_reg]
    reg_src = [s for s in session.sources if s.is_reg]
    tags: dict[str, Counter[str]] = {}
    dirs: dict[str, dict[str, int]] = {}
    reg_dirs: dict[str, dict[str, int]] = {}
    for s in session.sources:
        folder = f"{s.repeats}_{s.concept}"
        target = reg_dirs if s.is_reg else dirs
        entry = target.setdefault(folder, {"n_repeats": s.repeats, "img_count": 0})
        entry["img_count"] += 1
        if not s.is_reg:
            tags.setdefault(folder, Counter()).update(split_tags(s.item.caption, d.tag_separator or ","))
    buckets = Counter(s.bucket for s in train_src)
    conv = n.target.value.endswith("conv")
    triggers = tuple(dict.fromkeys(t for t in [d.trigger_word, *(s.trigger for s in train_src)] if t))
    return LoraTrainingInfo(
        output_name=r.output_name,
        family=session.family,
        prediction=session.prediction,
        network_dim=n.rank,
        network_alpha=n.alpha,
        conv_dim=n.conv_rank if conv else None,
        conv_alpha=n.conv_alpha if conv else None,
        network_dropout=n.dropout,
        train_text_encoder=bool(cfg.trains_text_encoder),
        learning_rate=o.learning_rate,
        unet_lr=cfg.unet_lr,
        text_encoder_lr=cfg.text_encoder_lr if cfg.trains_text_encoder else None,
        optimizer=o.optimizer.value if hasattr(o.optimizer, "value") else str(o.optimizer),
        lr_scheduler=str(cfg.scheduler.scheduler),
        lr_warmup_steps=cfg.scheduler.warmup_steps,
        max_grad_norm=o.max_grad_norm,
        epochs=-(-total_steps // max(1, steps_per_epoch)),
        epoch=epoch,
        steps=step,
        max_train_steps=total_steps,
        batch_size=r.batch_size,
        gradient_accumulation_steps=r.grad_accumulation,
        gradient_checkpointing=r.gradient_checkpointing,
        num_train_images=sum(s.repeats for s in train_src),
        num_reg_images=len(reg_src),
        num_batches_per_epoch=batches_per_epoch,
        resolution=(d.resolution, d.resolution),
        enable_bucket=d.enable_buckets,
        min_bucket_reso=d.bucket_min,
        max_bucket_reso=d.bucket_max,
        bucket_info={"buckets": {f"{w}x{h}": c for (w, h), c in sorted(buckets.items())}},
        clip_skip=cfg.model.clip_skip,
        max_token_length=d.max_token_length,
        mixed_precision=_precision_name(r.precision),
        save_precision=_precision_name(r.save_precision),
        cache_latents=d.latent_cache != LatentCache.NONE,
        seed=r.seed,
        noise_offset=cfg.loss.noise_offset,
        min_snr_gamma=cfg.loss.min_snr_gamma,
        zero_terminal_snr=cfg.model.zero_terminal_snr,
        prior_loss_weight=cfg.loss.prior_loss_weight,
        shuffle_caption=d.shuffle_tags,
        keep_tokens=d.keep_tokens,
        caption_dropout_rate=d.caption_dropout,
        caption_tag_dropout_rate=d.tag_dropout,
        caption_extension=d.caption_extension,
        flip_aug=d.flip,
        color_aug=d.color_jitter > 0,
        tag_frequency={k: dict(v) for k, v in tags.items()},
        dataset_dirs=dirs,
        reg_dataset_dirs=reg_dirs,
        training_started_at=started_at,
        training_finished_at=time.time(),
        session_id=session_id,
        trigger_words=triggers,
        **base,
    )


def _precision_name(p: Precision) -> str:
    return {"fp32": "no", "fp16": "fp16", "bf16": "bf16"}[Precision(p).value]


def write_lora(session: TrainingSession, path: Path, info: Any) -> Path:
    """Write the current LoRA weights of ``session`` to ``path`` as a kohya file."""
    from lora_studio.formats.lora_metadata import build_metadata

    dtype = torch_dtype(session.config.run.save_precision)
    return save_lora_file(
        path,
        session.lora_state_dicts(),
        family=session.family,
        alpha_for=alpha_lookup(session.targets, session.config.network),
        dtype=dtype,
        metadata=build_metadata(info),
    )
