"""kohya ``ss_*`` training metadata and ModelSpec 1.0.1 keys, built from and parsed into one dataclass.

Every value in a safetensors metadata block is a string; nested values are JSON text (A1111 decodes
any value that starts with ``{``). ``parse_metadata`` reads files from kohya sd-scripts, kohya_ss,
OneTrainer and others leniently: anything missing or unreadable keeps its default. Torch-free.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from lora_studio.core.families import ModelFamily, Prediction

log = logging.getLogger(__name__)

MODELSPEC_VERSION = "1.0.1"
NETWORK_MODULE = "networks.lora"

# Keys sd-scripts' train_network.py writes for every run (with "None" for an unset value), in its order.
KOHYA_ALWAYS = (
    "ss_session_id", "ss_training_started_at", "ss_output_name", "ss_learning_rate",
    "ss_text_encoder_lr", "ss_unet_lr", "ss_num_train_images", "ss_num_validation_images",
    "ss_num_reg_images", "ss_num_batches_per_epoch", "ss_num_epochs", "ss_gradient_checkpointing",
    "ss_gradient_accumulation_steps", "ss_max_train_steps", "ss_lr_warmup_steps", "ss_lr_scheduler",
    "ss_network_module", "ss_network_dim", "ss_network_alpha", "ss_network_dropout",
    "ss_mixed_precision", "ss_full_fp16", "ss_v2", "ss_base_model_version", "ss_clip_skip",
    "ss_max_token_length", "ss_cache_latents", "ss_seed", "ss_lowram", "ss_noise_offset",
    "ss_multires_noise_iterations", "ss_adaptive_noise_scale", "ss_zero_terminal_snr",
    "ss_training_comment", "ss_optimizer", "ss_max_grad_norm", "ss_caption_dropout_rate",
    "ss_caption_dropout_every_n_epochs", "ss_caption_tag_dropout_rate", "ss_face_crop_aug_range",
    "ss_prior_loss_weight", "ss_min_snr_gamma", "ss_scale_weight_norms", "ss_ip_noise_gamma",
    "ss_debiased_estimation", "ss_noise_offset_random_strength", "ss_ip_noise_gamma_random_strength",
    "ss_loss_type", "ss_fp8_base", "ss_fp8_base_unet", "ss_validation_seed", "ss_validation_split",
    "ss_max_validation_steps", "ss_validate_every_n_epochs", "ss_validate_every_n_steps",
    "ss_resize_interpolation", "ss_batch_size_per_device", "ss_total_batch_size", "ss_resolution",
    "ss_color_aug", "ss_flip_aug", "ss_random_crop", "ss_shuffle_caption", "ss_enable_bucket",
    "ss_bucket_no_upscale", "ss_min_bucket_reso", "ss_max_bucket_reso", "ss_keep_tokens",
    "ss_dataset_dirs", "ss_reg_dataset_dirs", "ss_tag_frequency", "ss_bucket_info",
    "ss_training_finished_at", "ss_steps", "ss_epoch",
)  # fmt: skip

# Options sd-scripts has and LoRA Studio does not: a file trained here had them off, which sd-scripts
# records with these values.
KOHYA_OFF_FEATURES = {
    "ss_full_fp16": "False",
    "ss_lowram": "False",
    "ss_multires_noise_iterations": "None",
    "ss_adaptive_noise_scale": "None",
    "ss_face_crop_aug_range": "None",
    "ss_scale_weight_norms": "None",
    "ss_ip_noise_gamma": "None",
    "ss_debiased_estimation": "False",
    "ss_noise_offset_random_strength": "False",
    "ss_ip_noise_gamma_random_strength": "False",
    "ss_max_validation_steps": "None",
    "ss_resize_interpolation": "None",
}

# Keys kohya keeps even with --no_metadata.
MINIMUM_KEYS = (
    "ss_v2",
    "ss_base_model_version",
    "ss_network_module",
    "ss_network_dim",
    "ss_network_alpha",
    "ss_network_args",
)


@dataclass(frozen=True, kw_only=True)
class LoraTrainingInfo:
    """What a LoRA file records about its training. All fields have defaults so partial metadata
    from other tools parses; ``None`` means "not recorded"."""

    output_name: str = ""
    family: ModelFamily | None = None
    prediction: Prediction = Prediction.EPSILON
    network_module: str = NETWORK_MODULE
    network_dim: int | None = None
    network_alpha: float | None = None
    conv_dim: int | None = None
    conv_alpha: float | None = None
    network_dropout: float | None = None
    network_args: dict[str, Any] = field(default_factory=dict)
    unet_targets: tuple[str, ...] = ()
    text_encoder_targets: tuple[str, ...] = ()
    train_unet: bool = True
    train_text_encoder: bool = False
    learning_rate: float | None = None
    unet_lr: float | None = None
    text_encoder_lr: float | None = None
    optimizer: str = ""
    lr_scheduler: str = ""
    lr_warmup_steps: int | None = None
    max_grad_norm: float | None = None
    epochs: int | None = None
    epoch: int | None = None  # the epoch this file was saved at
    steps: int | None = None  # steps done when this file was saved
    max_train_steps: int | None = None
    batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    gradient_checkpointing: bool | None = None
    num_train_images: int | None = None
    num_reg_images: int | None = None
    num_batches_per_epoch: int | None = None
    resolution: tuple[int, int] | None = None  # (width, height)
    enable_bucket: bool | None = None
    min_bucket_reso: int | None = None
    max_bucket_reso: int | None = None
    bucket_info: dict[str, Any] | None = None
    clip_skip: int | None = None  # kohya/A1111 numbering: 1 = last layer, 2 = penultimate
    max_token_length: int | None = None
    mixed_precision: str = ""
    save_precision: str = ""
    cache_latents: bool | None = None
    seed: int | None = None
    noise_offset: float | None = None
    min_snr_gamma: float | None = None
    zero_terminal_snr: bool | None = None
    fp8_base: bool = False  # sd-scripts' --fp8_base: UNet and text encoders stored in fp8
    fp8_base_unet: bool = False  # sd-scripts' --fp8_base_unet: the UNet only
    prior_loss_weight: float | None = None
    shuffle_caption: bool | None = None
    keep_tokens: int | None = None
    caption_dropout_rate: float | None = None
    caption_dropout_every_n_epochs: int | None = None
    caption_tag_dropout_rate: float | None = None
    caption_extension: str = ""
    flip_aug: bool | None = None
    color_aug: bool | None = None
    tag_frequency: dict[str, dict[str, int]] = field(default_factory=dict)
    dataset_dirs: dict[str, dict[str, int]] = field(default_factory=dict)
    reg_dataset_dirs: dict[str, dict[str, int]] = field(default_factory=dict)
    datasets: list[dict[str, Any]] | None = None
    num_validation_images: int | None = None
    total_batch_size: int | None = None
    bucket_no_upscale: bool | None = None
    random_crop: bool | None = None
    loss_type: str = ""
    validation_seed: int | None = None
    validation_split: float | None = None
    validate_every_n_steps: int | None = None
    validate_every_n_epochs: int | None = None
    base_model_name: str = ""
    base_model_hash: str = ""  # legacy 8-hex A1111 hash (kohya's ss_sd_model_hash)
    base_model_sha256: str = ""  # full sha256 (ss_new_sd_model_hash)
    vae_name: str = ""
    vae_hash: str = ""  # legacy 8-hex hash of a separate VAE file (ss_vae_hash)
    vae_sha256: str = ""  # ss_new_vae_hash
    implementation_version: str = ""  # modelspec.implementation_version, e.g. "lora-studio/0.1.0"
    training_started_at: float | None = None  # unix time
    training_finished_at: float | None = None
    session_id: str = ""
    comment: str = ""
    trigger_words: tuple[str, ...] = ()
    title: str = ""
    author: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)  # other metadata, kept verbatim


# --- family / version strings ----------------------------------------------------------------------


def base_model_version(family: ModelFamily | str, prediction: Prediction | str = Prediction.EPSILON) -> str:
    """kohya's ``ss_base_model_version``: ``sd_v1``, ``sd_v1_v``, ``sd_v2``, ``sd_v2_v`` or ``sdxl_base_v1-0``."""
    family, prediction = ModelFamily(family), Prediction(prediction)
    if family == ModelFamily.FLUX:
        return "flux1"  # sd-scripts' MODEL_VERSION_FLUX_V1
    if family == ModelFamily.SDXL:
        return "sdxl_base_v1-0"
    base = "sd_v1" if family == ModelFamily.SD1 else "sd_v2"
    return base + ("_v" if prediction == Prediction.V else "")


def modelspec_architecture(
    family: ModelFamily | str, prediction: Prediction | str = Prediction.EPSILON
) -> str:
    """ModelSpec architecture string for a LoRA, e.g. ``stable-diffusion-xl-v1-base/lora``."""
    family, prediction = ModelFamily(family), Prediction(prediction)
    if family == ModelFamily.FLUX:
        arch = "flux-1-dev"  # schnell LoRAs: "flux-1-schnell" (training/flux_output.py)
    elif family == ModelFamily.SDXL:
        arch = "stable-diffusion-xl-v1-base"
    elif family == ModelFamily.SD2:
        arch = "stable-diffusion-v2-768-v" if prediction == Prediction.V else "stable-diffusion-v2-512"
    else:
        arch = "stable-diffusion-v1"
    return arch + "/lora"


def modelspec_implementation(family: ModelFamily | str) -> str:
    if ModelFamily(family) == ModelFamily.FLUX:
        return "https://github.com/black-forest-labs/flux"
    if ModelFamily(family) == ModelFamily.SDXL:
        return "https://github.com/Stability-AI/generative-models"
    return "diffusers"


def family_from_metadata(metadata: Mapping[str, str]) -> tuple[ModelFamily | None, Prediction | None]:
    """Base family and prediction type recorded in metadata (kohya or ModelSpec keys), if any."""
    version = str(metadata.get("ss_base_model_version", "")).lower()
    arch = str(metadata.get("modelspec.architecture", "")).lower()
    pred_text = str(metadata.get("modelspec.prediction_type", "")).lower()
    prediction: Prediction | None = None
    if str(metadata.get("ss_v_parameterization", "")).lower() == "true":
        pred_text = pred_text or "v"
    if pred_text in ("v", "v_prediction", "v-prediction"):
        prediction = Prediction.V
    elif pred_text == "epsilon":
        prediction = Prediction.EPSILON
    if version.startswith("flux") or arch.startswith("flux"):
        # sd-scripts writes "flux1" and "flux-1-dev/lora" (and ss_v2 False, which would read as SD1).
        return ModelFamily.FLUX, Prediction.FLOW
    if version.startswith("sdxl") or arch.startswith("stable-diffusion-xl"):
        return ModelFamily.SDXL, prediction
    if (
        version.startswith("sd_v2")
        or arch.startswith("stable-diffusion-v2")
        or metadata.get("ss_v2") == "True"
    ):
        if prediction is None and (version.endswith("_v") or "-v/" in arch or arch.endswith("-v")):
            prediction = Prediction.V
        return ModelFamily.SD2, prediction
    if version.startswith("sd_v1") or arch.startswith("stable-diffusion-v1"):
        if prediction is None and version.endswith("_v"):
            prediction = Prediction.V
        return ModelFamily.SD1, prediction
    if metadata.get("ss_v2") == "False":
        return ModelFamily.SD1, prediction
    return None, prediction


# --- building ---------------------------------------------------------------------------------------


def _num(value: float | int) -> str:
    """Numbers the way Python (and therefore kohya) prints them: 4, 1.0, 0.0001."""
    return str(value)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _off(value: float | int | None) -> float | int | None:
    """sd-scripts leaves an option at ``None`` when it is not used; our configs say 0."""
    return value if value else None


def build_metadata(info: LoraTrainingInfo) -> dict[str, str]:
    """The metadata dict to store in a LoRA file: sd-scripts' ``ss_*`` keys plus ModelSpec 1.0.1 keys.

    All values are strings, as sd-scripts writes them (``str(value)``: ``"True"``, ``"None"``,
    ``"(512, 512)"``); nested values are JSON. Every key sd-scripts always writes is written, with
    ``"None"`` where the value is unset; optional keys (model hashes, VAE, network args and
    LoRA Studio's own keys) are left out when empty.
    """
    if info.family is None:
        raise ValueError("LoraTrainingInfo.family is required to write metadata")
    family, pred = info.family, info.prediction
    ss: dict[str, Any] = {
        "ss_session_id": info.session_id or None,
        "ss_training_started_at": info.training_started_at,
        "ss_output_name": info.output_name or None,
        "ss_learning_rate": info.learning_rate,
        "ss_text_encoder_lr": info.text_encoder_lr,
        "ss_unet_lr": info.unet_lr,
        "ss_num_train_images": info.num_train_images,
        "ss_num_validation_images": info.num_validation_images,
        "ss_num_reg_images": info.num_reg_images,
        "ss_num_batches_per_epoch": info.num_batches_per_epoch,
        "ss_num_epochs": info.epochs,
        "ss_gradient_checkpointing": info.gradient_checkpointing,
        "ss_gradient_accumulation_steps": info.gradient_accumulation_steps,
        "ss_max_train_steps": info.max_train_steps,
        "ss_lr_warmup_steps": info.lr_warmup_steps,
        "ss_lr_scheduler": info.lr_scheduler or None,
        "ss_network_module": info.network_module,
        "ss_network_dim": info.network_dim,
        "ss_network_alpha": info.network_alpha,
        "ss_network_dropout": _off(info.network_dropout),
        "ss_mixed_precision": info.mixed_precision or None,
        "ss_v2": family == ModelFamily.SD2,
        "ss_base_model_version": base_model_version(family, pred),
        # Older sd-scripts and the checkpoint readers look for this flag (SDXL has no "_v" version).
        "ss_v_parameterization": True if pred == Prediction.V else None,
        # kohya/A1111 clip skip 1 is "no skip", which sd-scripts records as unset.
        "ss_clip_skip": info.clip_skip if info.clip_skip and info.clip_skip > 1 else None,
        "ss_max_token_length": info.max_token_length if (info.max_token_length or 75) > 75 else None,
        "ss_cache_latents": info.cache_latents,
        "ss_seed": info.seed,
        "ss_noise_offset": _off(info.noise_offset),
        "ss_zero_terminal_snr": info.zero_terminal_snr,
        "ss_fp8_base": info.fp8_base,
        "ss_fp8_base_unet": info.fp8_base_unet,
        "ss_training_comment": info.comment or None,
        "ss_optimizer": info.optimizer or None,
        "ss_max_grad_norm": info.max_grad_norm,
        "ss_caption_dropout_rate": info.caption_dropout_rate,
        "ss_caption_dropout_every_n_epochs": info.caption_dropout_every_n_epochs,
        "ss_caption_tag_dropout_rate": info.caption_tag_dropout_rate,
        "ss_prior_loss_weight": info.prior_loss_weight,
        "ss_min_snr_gamma": _off(info.min_snr_gamma),
        "ss_loss_type": info.loss_type or None,
        "ss_validation_seed": info.validation_seed,
        "ss_validation_split": info.validation_split,
        "ss_validate_every_n_epochs": info.validate_every_n_epochs,
        "ss_validate_every_n_steps": info.validate_every_n_steps,
        "ss_batch_size_per_device": info.batch_size,
        "ss_total_batch_size": info.total_batch_size,
        "ss_resolution": f"({info.resolution[0]}, {info.resolution[1]})" if info.resolution else None,
        "ss_color_aug": info.color_aug,
        "ss_flip_aug": info.flip_aug,
        "ss_random_crop": info.random_crop,
        "ss_shuffle_caption": info.shuffle_caption,
        "ss_enable_bucket": info.enable_bucket,
        "ss_bucket_no_upscale": info.bucket_no_upscale,
        "ss_min_bucket_reso": info.min_bucket_reso,
        "ss_max_bucket_reso": info.max_bucket_reso,
        "ss_keep_tokens": info.keep_tokens,
        # kohya writes the tag counts per dataset folder; A1111 shows them as a tag cloud.
        "ss_dataset_dirs": json.dumps(info.dataset_dirs, ensure_ascii=False),
        "ss_reg_dataset_dirs": json.dumps(info.reg_dataset_dirs, ensure_ascii=False),
        "ss_tag_frequency": json.dumps(info.tag_frequency, ensure_ascii=False),
        "ss_bucket_info": json.dumps(info.bucket_info),
        "ss_training_finished_at": info.training_finished_at,
        "ss_steps": info.steps,
        "ss_epoch": info.epoch,
        # Optional in sd-scripts too: written only when known.
        "ss_sd_model_name": info.base_model_name or None,
        "ss_sd_model_hash": info.base_model_hash or None,
        "ss_new_sd_model_hash": info.base_model_sha256 or None,
        "ss_vae_name": info.vae_name or None,
        "ss_vae_hash": info.vae_hash or None,
        "ss_new_vae_hash": info.vae_sha256 or None,
        # LoRA Studio's own keys (sd-scripts does not write these).
        "ss_save_precision": info.save_precision or None,
        "ss_caption_extension": info.caption_extension or None,
        "ss_datasets": json.dumps(info.datasets, ensure_ascii=False) if info.datasets else None,
        "ss_lora_studio_trigger_words": json.dumps(list(info.trigger_words), ensure_ascii=False)
        if info.trigger_words
        else None,
        "ss_lora_studio_targets": json.dumps(
            {"unet": list(info.unet_targets), "text_encoder": list(info.text_encoder_targets)}
        )
        if info.unet_targets or info.text_encoder_targets
        else None,
    }
    # sd-scripts: network args are the "key=value" strings of --network_args (plus the dropout it adds).
    network_args = {str(k): str(v) for k, v in info.network_args.items()}
    if info.conv_dim is not None:
        network_args.setdefault("conv_dim", str(info.conv_dim))
        network_args.setdefault(
            "conv_alpha", str(info.conv_alpha if info.conv_alpha is not None else info.conv_dim)
        )
    if network_args:
        ss["ss_network_args"] = json.dumps({**network_args, "dropout": _off(info.network_dropout)})

    meta = {
        k: _num(v) if isinstance(v, int | float) and not isinstance(v, bool) else str(v)
        for k, v in ss.items()
        if v is not None or k in KOHYA_ALWAYS
    }
    for key, value in KOHYA_OFF_FEATURES.items():
        meta.setdefault(key, value)
    meta = {k: meta[k] for k in (*KOHYA_ALWAYS, *meta) if k in meta}  # sd-scripts' order first

    width, height = info.resolution or (family.default_resolution, family.default_resolution)
    started = info.training_started_at
    spec: dict[str, str] = {
        "modelspec.sai_model_spec": MODELSPEC_VERSION,
        "modelspec.architecture": modelspec_architecture(family, pred),
        "modelspec.implementation": modelspec_implementation(family),
        "modelspec.title": info.title or info.output_name or f"LoRA@{_iso(started or 0)}",
        "modelspec.resolution": f"{width}x{height}",
        "modelspec.prediction_type": "v" if pred == Prediction.V else "epsilon",
    }
    if started is not None:
        spec["modelspec.date"] = _iso(info.training_finished_at or started)
    if info.trigger_words:
        spec["modelspec.trigger_phrase"] = ", ".join(info.trigger_words)
    if meta["ss_clip_skip"] != "None":  # sd-scripts writes the layer only when clip skip is set
        spec["modelspec.encoder_layer"] = meta["ss_clip_skip"]
    if info.implementation_version:
        spec["modelspec.implementation_version"] = info.implementation_version
    if info.author:
        spec["modelspec.author"] = info.author
    if info.description:
        spec["modelspec.description"] = info.description
    if info.tags:
        spec["modelspec.tags"] = ", ".join(info.tags)
    meta.update(spec)
    for key, value in info.extra.items():
        meta.setdefault(key, str(value))
    return meta


# --- parsing ----------------------------------------------------------------------------------------


def _get_json(meta: Mapping[str, str], key: str) -> Any:
    raw = meta.get(key)
    if not raw or not isinstance(raw, str):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        log.debug("metadata %s is not JSON: %.80r", key, raw)
        return None


def _to_int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _to_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    return None


def _to_time(value: Any) -> float | None:
    number = _to_float(value)
    if number is not None:
        return number
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def _resolution(value: Any) -> tuple[int, int] | None:
    """``"(512, 512)"``, ``"512,768"``, ``"512x768"``, ``"[512, 768]"`` or ``"512"`` -> (w, h)."""
    if not value:
        return None
    text = str(value).strip("()[] ")
    for sep in (",", "x", "X"):
        if sep in text:
            parts = [p.strip() for p in text.split(sep)]
            break
    else:
        parts = [text, text]
    nums = [_to_int(p) for p in parts[:2]]
    if len(nums) == 2 and all(n is not None and n > 0 for n in nums):
        return int(nums[0]), int(nums[1])  # type: ignore[arg-type]
    return None


def _count_dict(value: Any) -> dict[str, dict[str, int]]:
    if not isinstance(value, dict):
        return {}
    out: dict[str, dict[str, int]] = {}
    for key, inner in value.items():
        if isinstance(inner, dict):
            out[str(key)] = {str(k): n for k, v in inner.items() if (n := _to_int(v)) is not None}
    return out


_PARSERS: dict[str, tuple[str, Any]] = {
    "ss_output_name": ("output_name", str),
    "ss_network_module": ("network_module", str),
    "ss_network_dim": ("network_dim", _to_int),
    "ss_network_alpha": ("network_alpha", _to_float),
    "ss_network_dropout": ("network_dropout", _to_float),
    "ss_learning_rate": ("learning_rate", _to_float),
    "ss_unet_lr": ("unet_lr", _to_float),
    "ss_text_encoder_lr": ("text_encoder_lr", _to_float),
    "ss_optimizer": ("optimizer", str),
    "ss_lr_scheduler": ("lr_scheduler", str),
    "ss_lr_warmup_steps": ("lr_warmup_steps", _to_int),
    "ss_max_grad_norm": ("max_grad_norm", _to_float),
    "ss_num_epochs": ("epochs", _to_int),
    "ss_epoch": ("epoch", _to_int),
    "ss_steps": ("steps", _to_int),
    "ss_max_train_steps": ("max_train_steps", _to_int),
    "ss_batch_size_per_device": ("batch_size", _to_int),
    "ss_gradient_accumulation_steps": ("gradient_accumulation_steps", _to_int),
    "ss_gradient_checkpointing": ("gradient_checkpointing", _to_bool),
    "ss_num_train_images": ("num_train_images", _to_int),
    "ss_num_reg_images": ("num_reg_images", _to_int),
    "ss_num_batches_per_epoch": ("num_batches_per_epoch", _to_int),
    "ss_resolution": ("resolution", _resolution),
    "ss_enable_bucket": ("enable_bucket", _to_bool),
    "ss_min_bucket_reso": ("min_bucket_reso", _to_int),
    "ss_max_bucket_reso": ("max_bucket_reso", _to_int),
    "ss_clip_skip": ("clip_skip", _to_int),
    "ss_max_token_length": ("max_token_length", _to_int),
    "ss_mixed_precision": ("mixed_precision", str),
    "ss_save_precision": ("save_precision", str),
    "ss_cache_latents": ("cache_latents", _to_bool),
    "ss_seed": ("seed", _to_int),
    "ss_noise_offset": ("noise_offset", _to_float),
    "ss_min_snr_gamma": ("min_snr_gamma", _to_float),
    "ss_zero_terminal_snr": ("zero_terminal_snr", _to_bool),
    "ss_fp8_base": ("fp8_base", _to_bool),
    "ss_fp8_base_unet": ("fp8_base_unet", _to_bool),
    "ss_prior_loss_weight": ("prior_loss_weight", _to_float),
    "ss_shuffle_caption": ("shuffle_caption", _to_bool),
    "ss_keep_tokens": ("keep_tokens", _to_int),
    "ss_caption_dropout_rate": ("caption_dropout_rate", _to_float),
    "ss_caption_dropout_every_n_epochs": ("caption_dropout_every_n_epochs", _to_int),
    "ss_caption_tag_dropout_rate": ("caption_tag_dropout_rate", _to_float),
    "ss_caption_extension": ("caption_extension", str),
    "ss_flip_aug": ("flip_aug", _to_bool),
    "ss_color_aug": ("color_aug", _to_bool),
    "ss_sd_model_name": ("base_model_name", str),
    "ss_sd_model_hash": ("base_model_hash", str),
    "ss_new_sd_model_hash": ("base_model_sha256", str),
    "ss_vae_name": ("vae_name", str),
    "ss_vae_hash": ("vae_hash", str),
    "ss_new_vae_hash": ("vae_sha256", str),
    "ss_num_validation_images": ("num_validation_images", _to_int),
    "ss_total_batch_size": ("total_batch_size", _to_int),
    "ss_bucket_no_upscale": ("bucket_no_upscale", _to_bool),
    "ss_random_crop": ("random_crop", _to_bool),
    "ss_loss_type": ("loss_type", str),
    "ss_validation_seed": ("validation_seed", _to_int),
    "ss_validation_split": ("validation_split", _to_float),
    "ss_validate_every_n_steps": ("validate_every_n_steps", _to_int),
    "ss_validate_every_n_epochs": ("validate_every_n_epochs", _to_int),
    "modelspec.implementation_version": ("implementation_version", str),
    "ss_training_started_at": ("training_started_at", _to_time),
    "ss_training_finished_at": ("training_finished_at", _to_time),
    "ss_session_id": ("session_id", str),
    "ss_training_comment": ("comment", str),
    "modelspec.title": ("title", str),
    "modelspec.author": ("author", str),
    "modelspec.description": ("description", str),
}
_KNOWN = set(_PARSERS) | {
    "ss_v2", "ss_base_model_version", "ss_network_args", "ss_tag_frequency", "ss_dataset_dirs",
    "ss_reg_dataset_dirs", "ss_bucket_info", "ss_datasets", "ss_lora_studio_trigger_words",
    "ss_lora_studio_targets", "modelspec.sai_model_spec", "modelspec.architecture",
    "modelspec.implementation", "modelspec.resolution", "modelspec.prediction_type", "modelspec.date",
    "modelspec.trigger_phrase", "modelspec.encoder_layer", "modelspec.tags", "sshs_model_hash",
    "sshs_legacy_hash", "ss_v_parameterization", *KOHYA_OFF_FEATURES,
}  # fmt: skip


def parse_metadata(metadata: Mapping[str, Any]) -> LoraTrainingInfo:
    """Read training metadata written by this app, kohya sd-scripts or other tools.

    Never raises for odd values: what cannot be read keeps its default. Unknown keys are kept in
    ``extra``.
    """
    meta = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    values: dict[str, Any] = {}
    for key, (name, convert) in _PARSERS.items():
        raw = meta.get(key)
        if raw is None or raw == "" or raw == "None":
            continue
        value = convert(raw)
        if value is not None and value != "":
            values[name] = value
    family, prediction = family_from_metadata(meta)
    if family is not None:
        values["family"] = family
    if prediction is not None:
        values["prediction"] = prediction
    if isinstance(args := _get_json(meta, "ss_network_args"), dict):
        # conv_dim/conv_alpha have their own fields; the rest stays in network_args.
        conv_dim, conv_alpha = args.pop("conv_dim", None), args.pop("conv_alpha", None)
        args.pop("dropout", None)  # sd-scripts adds the network dropout here; it has its own key
        values["network_args"] = args
        if (dim := _to_int(conv_dim)) is not None:
            values["conv_dim"] = dim
            values["conv_alpha"] = _to_float(conv_alpha)
    values["tag_frequency"] = _count_dict(_get_json(meta, "ss_tag_frequency"))
    values["dataset_dirs"] = _count_dict(_get_json(meta, "ss_dataset_dirs"))
    values["reg_dataset_dirs"] = _count_dict(_get_json(meta, "ss_reg_dataset_dirs"))
    if isinstance(bucket := _get_json(meta, "ss_bucket_info"), dict):
        values["bucket_info"] = bucket
    if isinstance(datasets := _get_json(meta, "ss_datasets"), list):
        values["datasets"] = datasets
    triggers = _get_json(meta, "ss_lora_studio_trigger_words")
    if isinstance(triggers, list):
        values["trigger_words"] = tuple(str(t) for t in triggers)
    elif phrase := meta.get("modelspec.trigger_phrase"):
        values["trigger_words"] = tuple(t.strip() for t in phrase.split(",") if t.strip())
    if isinstance(targets := _get_json(meta, "ss_lora_studio_targets"), dict):
        values["unet_targets"] = tuple(targets.get("unet", ()))
        values["text_encoder_targets"] = tuple(targets.get("text_encoder", ()))
    if "resolution" not in values and (res := _resolution(meta.get("modelspec.resolution"))):
        values["resolution"] = res
    if "clip_skip" not in values and (layer := _to_int(meta.get("modelspec.encoder_layer"))):
        values["clip_skip"] = layer
    if tags := meta.get("modelspec.tags"):
        values["tags"] = tuple(t.strip() for t in tags.split(",") if t.strip())
    # kohya writes "None" for a learning rate that is not used (component not trained).
    # "None" means "the learning rate was not set" (sd-scripts), which still trains the UNet.
    values["train_unet"] = meta.get("ss_unet_lr") not in ("0", "0.0") and (
        meta.get("ss_network_train_text_encoder_only") != "True"
    )
    values["train_text_encoder"] = (
        meta.get("ss_text_encoder_lr") not in (None, "", "None", "0", "0.0")
        and meta.get("ss_network_train_unet_only") != "True"
    )
    values["extra"] = {k: v for k, v in meta.items() if k not in _KNOWN}
    allowed = {f.name for f in fields(LoraTrainingInfo)}
    return LoraTrainingInfo(**{k: v for k, v in values.items() if k in allowed})
