"""Building the kohya metadata of a trained LoRA and writing the file."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from lora_studio.core import paths  # noqa: F401 - keeps the cache folder import cheap and early
from lora_studio.core.families import ModelFamily
from lora_studio.training.checkpoints import save_lora_file
from lora_studio.training.config import BaseWeights, LatentCache, Precision, TrainConfig
from lora_studio.training.lycoris import network_metadata, uses_lycoris_file, write_lycoris_file
from lora_studio.training.network import alpha_lookup
from lora_studio.training.session import TrainingSession, torch_dtype


def base_model_identity(path: str, vae: str = "") -> dict[str, str]:
    """Name and hashes of the base model and of a separate VAE, as sd-scripts records them: the
    file name with its extension (or the folder name), hashes only for single files (cached)."""
    out: dict[str, str] = {}
    for prefix, name_key, source in (("base_model", "base_model_name", path), ("vae", "vae_name", vae)):
        if not source:
            continue
        p = Path(source)
        out[name_key] = p.name
        if p.is_file():
            try:
                from lora_studio.formats.hashes import default_cache, legacy_model_hash

                out[f"{prefix}_sha256"] = default_cache().get(p, "sha256")
                out[f"{prefix}_hash"] = legacy_model_hash(p)
            except Exception:  # hashes are informative; never fail a save for them
                pass
    return out


def kohya_tag_frequency(captions: list[str]) -> dict[str, int]:
    """Tag counts the way sd-scripts stores them: comma-separated, stripped, lower-case, each
    picture counted once (not per repeat)."""
    counts: Counter[str] = Counter()
    for caption in captions:
        counts.update(t.strip().lower() for t in caption.split(",") if t.strip())
    return dict(counts)


def kohya_bucket_info(sources: list[Any], d: Any) -> dict[str, Any] | None:
    """sd-scripts' ``ss_bucket_info``: ``{"buckets": {index: {"resolution": [w, h], "count": n}},
    "mean_img_ar_error": e}`` — counts include repeats (and the regularization pictures one epoch
    uses); the index is the bucket's place in the list of buckets; ``None`` without buckets."""
    from lora_studio.training.buckets import make_buckets
    from lora_studio.training.steps import epoch_entries

    if not d.enable_buckets:
        return None
    counts = Counter(sources[i].bucket for i in epoch_entries(sources))
    known = make_buckets(d.resolution, d.bucket_min, d.bucket_max, d.bucket_step)
    order = known + sorted(set(counts) - set(known))  # no-upscale buckets come after the list
    buckets = {
        str(i): {"resolution": [w, h], "count": counts[(w, h)]}
        for i, (w, h) in enumerate(order)
        if counts.get((w, h))
    }
    errors = [abs(s.bucket[0] / s.bucket[1] - s.size[0] / s.size[1]) for s in sources]
    return {"buckets": buckets, "mean_img_ar_error": sum(errors) / len(errors) if errors else 0}


def optimizer_name(optimizer: Any, config: TrainConfig) -> str:
    """sd-scripts' ``ss_optimizer``: the optimizer's full class path, then its settings in brackets,
    e.g. ``torch.optim.adamw.AdamW(weight_decay=0.01)``."""
    cls = type(optimizer)
    args = {"weight_decay": config.optimizer.weight_decay, **config.optimizer.args}
    text = ",".join(f"{k}={v}" for k, v in args.items())
    return f"{cls.__module__}.{cls.__name__}" + (f"({text})" if text else "")


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
    optimizer: Any = None,
    world_size: int = 1,
) -> Any:
    from lora_studio import __version__
    from lora_studio.formats.lora_metadata import LoraTrainingInfo

    cfg: TrainConfig = session.config
    d, n, o, r, v = cfg.dataset, cfg.network, cfg.optimizer, cfg.run, cfg.validation
    train_src = [s for s in session.sources if not s.is_reg]
    reg_src = [s for s in session.sources if s.is_reg]
    captions: dict[str, list[str]] = {}
    dirs: dict[str, dict[str, int]] = {}
    reg_dirs: dict[str, dict[str, int]] = {}
    for s in session.sources:
        folder = f"{s.repeats}_{s.concept}"
        target = reg_dirs if s.is_reg else dirs
        entry = target.setdefault(folder, {"n_repeats": s.repeats, "img_count": 0})
        entry["img_count"] += 1
        # sd-scripts counts the tags of every folder (regularization ones too); an empty caption
        # falls back to the folder's class words, as its captions do.
        captions.setdefault(folder, []).append(s.item.caption or s.trigger)
    conv = n.target.value.endswith("conv")
    validating = bool(session.val_sources)
    triggers = tuple(dict.fromkeys(t for t in [d.trigger_word, *(s.trigger for s in train_src)] if t))
    lycoris = network_metadata(n)
    if lycoris is not None:
        base = {**base, "network_module": lycoris[0], "network_args": lycoris[1]}
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
        unet_lr=o.unet_lr,  # None: "not set, learning_rate is used", as sd-scripts records it
        text_encoder_lr=o.text_encoder_lr,
        optimizer=optimizer_name(optimizer, cfg) if optimizer is not None else str(o.optimizer),
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
        num_reg_images=sum(s.repeats for s in reg_src),
        num_validation_images=len(session.val_sources),
        total_batch_size=r.batch_size * max(1, world_size) * r.grad_accumulation,
        num_batches_per_epoch=batches_per_epoch,
        resolution=(d.resolution, d.resolution),
        enable_bucket=d.enable_buckets,
        min_bucket_reso=d.bucket_min,
        max_bucket_reso=d.bucket_max,
        bucket_no_upscale=d.bucket_no_upscale,
        random_crop=False,
        bucket_info=kohya_bucket_info(session.sources, d),
        clip_skip=cfg.model.clip_skip,
        max_token_length=d.max_token_length,
        mixed_precision=_precision_name(r.precision),
        save_precision=_precision_name(r.save_precision),
        cache_latents=d.latent_cache != LatentCache.NONE,
        seed=r.seed,
        noise_offset=cfg.loss.noise_offset,
        min_snr_gamma=cfg.loss.min_snr_gamma,
        zero_terminal_snr=cfg.model.zero_terminal_snr,
        # sd-scripts' fp8 flags, as its importer reads them back (#14): both parts fp8, or the UNet only
        fp8_base=cfg.memory.unet_weights == BaseWeights.FP8 and cfg.memory.text_encoder_weights == BaseWeights.FP8,
        fp8_base_unet=cfg.memory.unet_weights == BaseWeights.FP8 and cfg.memory.text_encoder_weights != BaseWeights.FP8,
        prior_loss_weight=cfg.loss.prior_loss_weight,
        shuffle_caption=d.shuffle_tags,
        keep_tokens=d.keep_tokens,
        caption_dropout_rate=d.caption_dropout,
        caption_tag_dropout_rate=d.tag_dropout,
        caption_extension=d.caption_extension,
        flip_aug=d.flip,
        color_aug=d.color_jitter > 0,
        tag_frequency={k: kohya_tag_frequency(v) for k, v in captions.items()},
        caption_dropout_every_n_epochs=0,
        loss_type="l2",
        validation_seed=v.seed if validating else None,
        validation_split=v.split,
        validate_every_n_steps=v.every_n_steps or None if validating else None,
        validate_every_n_epochs=1 if validating and not v.every_n_steps else None,
        implementation_version=f"lora-studio/{__version__}",
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


def write_lora(session: TrainingSession, path: Path, info: Any, extra_metadata: dict | None = None) -> Path:
    """Write the current LoRA weights of ``session`` to ``path`` as a kohya file, or in LyCORIS'
    layout for LoHa, LoKr and DoRA; ``extra_metadata`` is added to the file's metadata."""
    from lora_studio.formats.lora_metadata import build_metadata

    if session.family == ModelFamily.FLUX:
        from lora_studio.training.flux_output import write_flux_lora

        return write_flux_lora(session, path, info)
    dtype = torch_dtype(session.config.run.save_precision)
    weights = session.lora_state_dicts()
    metadata = {**build_metadata(info), **(extra_metadata or {})}
    if uses_lycoris_file(session.config.network):
        return write_lycoris_file(session, path, weights, dtype, metadata)
    return save_lora_file(
        path,
        weights,
        family=session.family,
        alpha_for=alpha_lookup(session.targets, session.config.network),
        dtype=dtype,
        metadata=metadata,
        unet_config=dict(session.unet.config),
    )
