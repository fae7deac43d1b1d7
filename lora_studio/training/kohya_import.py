"""Import kohya_ss GUI JSON presets and sd-scripts TOML configs into a TrainConfig. Torch-free.

* kohya_ss GUI: one flat JSON object with loose types (``"seed": "1234"``, ``"max_resolution":
  "512,512"``, ``"max_train_steps": ""``) and ``LoRA_type`` ("Standard", "Kohya LoCon", ...).
* sd-scripts ``--config_file`` TOML: argparse names as keys; top-level tables are flattened.
* sd-scripts ``--dataset_config`` TOML: ``[general]`` -> ``[[datasets]]`` -> ``[[datasets.subsets]]``,
  lower levels override higher ones.

Every key that is not mapped comes back in ``LoadedConfig.not_understood`` (with the reason when one is
known); nothing is dropped silently.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lora_studio.core.errors import ConfigError
from lora_studio.core.families import ModelFamily, Prediction
from lora_studio.diffusion.base_weights import BaseWeights
from lora_studio.training import kohya_flux
from lora_studio.training.config import (
    LatentCache,
    NetworkAlgo,
    NetworkTarget,
    OptimizerKind,
    Precision,
    SamplePrompt,
    SchedulerKind,
    TrainConfig,
    update,
)
from lora_studio.training.config_files import LoadedConfig

# -- loose value parsing -----------------------------------------------------------------------------


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "")


def _int(v: Any) -> int:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, str):
        v = v.strip()
    return int(float(v))


def _float(v: Any) -> float:
    return float(v.strip() if isinstance(v, str) else v)


def _bool(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "yes", "on")
    return bool(v)


def _resolution(v: Any) -> int:
    """``512``, ``"512"``, ``"512,768"`` or ``[512, 768]`` -> one side (sqrt of the area, like kohya)."""
    if isinstance(v, str):
        parts = [p for p in v.replace("x", ",").split(",") if p.strip()]
        nums = [_int(p) for p in parts]
    elif isinstance(v, (list, tuple)):
        nums = [_int(p) for p in v]
    else:
        nums = [_int(v)]
    if len(nums) == 2 and nums[0] != nums[1]:
        side = int((nums[0] * nums[1]) ** 0.5) // 8 * 8
        return side
    return nums[0]


_OPTIMIZERS = {
    "adamw": OptimizerKind.ADAMW,
    "adamw8bit": OptimizerKind.ADAMW8BIT,
    "pagedadamw8bit": OptimizerKind.ADAMW8BIT,
    "prodigy": OptimizerKind.PRODIGY,
    "dadaptadam": OptimizerKind.DADAPT_ADAM,
    "dadaptation": OptimizerKind.DADAPT_ADAM,
    "lion": OptimizerKind.LION,
    "adafactor": OptimizerKind.ADAFACTOR,
}
_PRECISION = {
    "no": Precision.FP32,
    "fp32": Precision.FP32,
    "float": Precision.FP32,
    "fp16": Precision.FP16,
    "float16": Precision.FP16,
    "bf16": Precision.BF16,
    "bfloat16": Precision.BF16,
}


def _optimizer(v: Any) -> OptimizerKind:
    key = str(v).strip().lower().replace("_", "").replace(".", "")
    key = key.rsplit("optim", 1)[-1] if "optim" in key else key
    if key in _OPTIMIZERS:
        return _OPTIMIZERS[key]
    raise ValueError(f"optimizer {v!r} is not available")


def _scheduler(v: Any) -> SchedulerKind:
    return SchedulerKind(str(v).strip().lower())


def _precision(v: Any) -> Precision:
    return _PRECISION[str(v).strip().lower()]


def _optimizer_args(v: Any) -> dict[str, Any]:
    """``"weight_decay=0.1 betas=0.9,0.99"`` or a list of ``k=v`` -> dict with numbers parsed."""
    items = v if isinstance(v, list) else str(v).split()
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            continue
        k, raw = item.split("=", 1)
        out[k.strip()] = _literal(raw.strip())
    return out


def _literal(raw: str) -> Any:
    if "," in raw:
        return [_literal(p) for p in raw.split(",") if p]
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for conv in (int, float):
        try:
            return conv(raw)
        except ValueError:
            pass
    return raw.strip("\"'")


# key -> (dotted TrainConfig field, converter)
_COMMON: dict[str, tuple[str, Any]] = {
    "pretrained_model_name_or_path": ("model.base_model", str),
    "vae": ("model.vae", str),
    "v_parameterization": ("model.prediction", lambda v: Prediction.V if _bool(v) else Prediction.EPSILON),
    "zero_terminal_snr": ("model.zero_terminal_snr", _bool),
    "clip_skip": ("model.clip_skip", _int),
    "train_data_dir": ("dataset.path", str),
    "caption_extension": ("dataset.caption_extension", lambda v: v if str(v).startswith(".") else f".{v}"),
    "resolution": ("dataset.resolution", _resolution),
    "max_resolution": ("dataset.resolution", _resolution),
    "enable_bucket": ("dataset.enable_buckets", _bool),
    "min_bucket_reso": ("dataset.bucket_min", _int),
    "max_bucket_reso": ("dataset.bucket_max", _int),
    "bucket_reso_steps": ("dataset.bucket_step", _int),
    "bucket_no_upscale": ("dataset.bucket_no_upscale", _bool),
    "shuffle_caption": ("dataset.shuffle_tags", _bool),
    "keep_tokens": ("dataset.keep_tokens", _int),
    "caption_dropout_rate": ("dataset.caption_dropout", _float),
    "caption_tag_dropout_rate": ("dataset.tag_dropout", _float),
    "max_token_length": ("dataset.max_token_length", _int),
    "flip_aug": ("dataset.flip", _bool),
    "color_aug": ("dataset.color_jitter", lambda v: 0.5 if _bool(v) else 0.0),
    "cache_latents": ("dataset.latent_cache", lambda v: LatentCache.MEMORY if _bool(v) else LatentCache.NONE),
    "cache_text_encoder_outputs": ("dataset.cache_text_encoder_outputs", _bool),
    "network_dim": ("network.rank", _int),
    "network_alpha": ("network.alpha", _float),
    "network_dropout": ("network.dropout", _float),
    "conv_dim": ("network.conv_rank", _int),
    "conv_alpha": ("network.conv_alpha", _float),
    "network_weights": ("network.init_weights", str),
    "optimizer": ("optimizer.optimizer", _optimizer),
    "optimizer_type": ("optimizer.optimizer", _optimizer),
    "optimizer_args": ("optimizer.args", _optimizer_args),
    "learning_rate": ("optimizer.learning_rate", _float),
    "unet_lr": ("optimizer.unet_lr", _float),
    "text_encoder_lr": ("optimizer.text_encoder_lr", _float),
    "max_grad_norm": ("optimizer.max_grad_norm", _float),
    "lr_scheduler": ("scheduler.scheduler", _scheduler),
    "lr_warmup_steps": ("scheduler.warmup_steps", _int),
    "lr_scheduler_num_cycles": ("scheduler.num_cycles", _int),
    "lr_scheduler_power": ("scheduler.power", _float),
    "min_snr_gamma": ("loss.min_snr_gamma", _float),
    "noise_offset": ("loss.noise_offset", _float),
    "masked_loss": ("loss.masked_loss", _bool),
    "prior_loss_weight": ("loss.prior_loss_weight", _float),
    "max_train_epochs": ("run.epochs", _int),
    "epoch": ("run.epochs", _int),
    "max_train_steps": ("run.max_steps", _int),
    "train_batch_size": ("run.batch_size", _int),
    "gradient_accumulation_steps": ("run.grad_accumulation", _int),
    "gradient_checkpointing": ("run.gradient_checkpointing", _bool),
    "sdpa": ("run.sdpa", _bool),
    "mixed_precision": ("run.precision", _precision),
    "save_precision": ("run.save_precision", _precision),
    "seed": ("run.seed", _int),
    "save_every_n_epochs": ("run.save_every_n_epochs", _int),
    "save_every_n_steps": ("run.save_every_n_steps", _int),
    "save_last_n_epochs": ("run.keep_last", _int),
    "output_dir": ("run.output_dir", str),
    "output_name": ("run.output_name", str),
    "sample_every_n_steps": ("sample.every_n_steps", _int),
    "sample_every_n_epochs": ("sample.every_n_epochs", _int),
    "sample_at_first": ("sample.at_start", _bool),
    "blocks_to_swap": ("memory.blocks_to_swap", _int),
}

# Keys that are understood but need no field, or are covered another way.
_HANDLED_ELSEWHERE = {
    "LoRA_type",
    "sdxl",
    "v2",
    "network_module",
    "network_args",
    "network_train_unet_only",
    "network_train_text_encoder_only",
    "lr_warmup",
    "reg_data_dir",
    "sample_prompts",
    "xformers",
    "cache_latents_to_disk",
    "save_model_as",
    "logging_dir",
    "log_prefix",
    "full_fp16",
    "full_bf16",
    "mem_eff_attn",
    "save_state",
    "persistent_data_loader_workers",
    "max_data_loader_n_workers",
    "stop_text_encoder_training",
    "no_half_vae",
    "lowram",
    "sample_sampler",
    "text_encoder_lr",
    "dataset_config",
    "fp8_base",
    "fp8_base_unet",
    "cpu_offload_checkpointing",
}
_COMMON.update(kohya_flux.flux_keys(_bool, _int, _float))
_HANDLED_ELSEWHERE |= kohya_flux.FLUX_HANDLED
# Fields every kohya_ss GUI config carries whose value here changes nothing: the default of an
# option we don't have, or a setting that only applies with another one we don't use.
_INERT: dict[str, Any] = {
    "loss_type": lambda v: str(v).lower() == "l2",  # our loss is the squared error
    "max_timestep": lambda v: _int(v) == 1000,
    "min_timestep": lambda v: _int(v) == 0,
    "dynamo_backend": lambda v: str(v).lower() == "no",
    "dynamo_mode": lambda v: str(v) == "default",
    "noise_offset_type": lambda v: str(v) == "Original",
    "num_machines": lambda v: _int(v) == 1,
    "num_processes": lambda v: _int(v) == 1,
    "num_cpu_threads_per_process": lambda v: True,  # accelerate's CPU threads
    "highvram": lambda v: True,  # a memory hint; the memory settings decide
    "sdxl_no_half_vae": lambda v: True,  # the VAE never runs in fp16 here
    "LyCORIS_preset": lambda v: True,  # only with LyCORIS network types (reported by LoRA_type)
    "factor": lambda v: True,  # LoKr only
    "huber_c": lambda v: True,  # only with the huber / smooth_l1 loss types
    "huber_schedule": lambda v: True,
    "multires_noise_discount": lambda v: True,  # only with multires_noise_iterations > 0
}
_IGNORED_QUIETLY = {"file_path", "save_as", "headless", "print_only", "model_list", "save_as_bool"}
_NETWORK_MODULES = {"networks.lora", "lycoris.kohya", kohya_flux.FLUX_NETWORK_MODULE}
_LORA_TYPES = ("Standard", "Kohya LoCon", "LoCon", "Flux1")


def _apply(changes: dict[str, Any], unsupported: list[str], key: str, value: Any) -> None:
    target, conv = _COMMON[key]
    if _blank(value):
        return
    try:
        converted = conv(value)
    except (ValueError, TypeError, KeyError) as exc:
        unsupported.append(f"{key}: cannot use {value!r} ({exc})")
        return
    if target == "run.max_steps" and converted <= 0:
        return
    changes[target] = converted


def _finish(flat: dict[str, Any], changes: dict[str, Any], unsupported: list[str], notes: list[str]) -> None:
    """Settings that depend on several keys: family, network type, warm-up, TE training, prompts."""
    if _bool(flat.get("sdxl", False)):
        changes["model.family"] = ModelFamily.SDXL
    elif _bool(flat.get("v2", False)):
        changes["model.family"] = ModelFamily.SD2
    lora_type = str(flat.get("LoRA_type", "Standard") or "Standard")
    module = str(flat.get("network_module", "networks.lora") or "networks.lora")
    conv_dim = flat.get("conv_dim")
    args = flat.get("network_args")
    parsed: dict[str, Any] = {}
    if isinstance(args, (list, str)) and args:
        parsed = _optimizer_args(args)
        if "conv_dim" in parsed:
            conv_dim = parsed.pop("conv_dim")
            changes["network.conv_rank"] = _int(conv_dim)
        if "conv_alpha" in parsed:
            changes["network.conv_alpha"] = _float(parsed.pop("conv_alpha"))
    algo = _lycoris_algo(lora_type, module, parsed, flat, changes, unsupported)
    for k in parsed:
        if k in kohya_flux.FLUX_NETWORK_ARGS and kohya_flux.is_flux(flat, _bool):
            flat = {**flat, k: parsed[k]}  # lora_flux's options, read with the FLUX settings
        else:
            unsupported.append(f"network_args.{k}: not supported")
    if algo is None and (lora_type not in _LORA_TYPES or module not in _NETWORK_MODULES):
        unsupported.append(f"LoRA_type: '{lora_type}' ({module}) is not supported; imported as standard LoRA")
    if lora_type in ("Kohya LoCon", "LoCon", "LyCORIS/LoCon") or (
        not _blank(conv_dim) and _int(conv_dim) > 0
    ):
        changes["network.target"] = NetworkTarget.ATTENTION_FF_CONV
    te_lr = flat.get("text_encoder_lr")
    unet_only = _bool(flat.get("network_train_unet_only", False))
    if not unet_only and not _blank(te_lr) and _float(te_lr) > 0:
        changes["network.train_text_encoder"] = True
        changes["optimizer.text_encoder_lr"] = _float(te_lr)
    warm = flat.get("lr_warmup")
    if not _blank(warm) and _blank(flat.get("lr_warmup_steps")):
        pct = _float(warm)
        if pct > 0:
            changes["scheduler.warmup_ratio"] = pct / 100.0
    if _bool(flat.get("cache_latents_to_disk", False)):
        changes["dataset.latent_cache"] = LatentCache.DISK
    if _bool(flat.get("full_fp16", False)) or _bool(flat.get("full_bf16", False)):
        unsupported.append("full_fp16/full_bf16: LoRA weights always train in fp32 (mixed precision is kept)")
    prompts = flat.get("sample_prompts")
    if isinstance(prompts, str) and prompts.strip():
        path = Path(prompts)
        text = path.read_text(encoding="utf-8-sig") if path.is_file() and len(prompts) < 1000 else prompts
        sample_prompts = [p for p in (parse_prompt_line(line) for line in text.splitlines()) if p is not None]
        if sample_prompts:
            changes["sample.prompts"] = tuple(sample_prompts)
    reg = flat.get("reg_data_dir")
    if not _blank(reg):
        notes.append(
            f"Regularization images: add the folder {reg} to the dataset as a regularization concept."
        )
    _memory_settings(flat, changes, notes)
    if kohya_flux.is_flux(flat, _bool):
        kohya_flux.flux_settings(flat, changes, unsupported, notes, to_bool=_bool, to_int=_int)
    stop_te = flat.get("stop_text_encoder_training")
    if not _blank(stop_te) and _int(stop_te) > 0:
        unsupported.append("stop_text_encoder_training: not supported")


def _memory_settings(flat: dict[str, Any], changes: dict[str, Any], notes: list[str]) -> None:
    """kohya ``fp8_base`` keeps the UNet and the text encoders in fp8, ``fp8_base_unet`` the UNet
    only; ``cpu_offload_checkpointing`` becomes gradient checkpointing (the activations it keeps
    are small next to the weights that block swapping and fp8 take off the card)."""
    if _bool(flat.get("fp8_base", False)):
        changes["memory.unet_weights"] = BaseWeights.FP8
        changes["memory.text_encoder_weights"] = BaseWeights.FP8
    if _bool(flat.get("fp8_base_unet", False)):
        changes["memory.unet_weights"] = BaseWeights.FP8
        if not _bool(flat.get("fp8_base", False)):
            changes["memory.text_encoder_weights"] = BaseWeights.FULL
    if _bool(flat.get("cpu_offload_checkpointing", False)):
        changes["run.gradient_checkpointing"] = True
        notes.append(
            "cpu_offload_checkpointing: imported as gradient checkpointing; the checkpointed "
            "activations stay on the graphics card."
        )


def parse_prompt_line(line: str) -> SamplePrompt | None:
    """One line of a kohya prompt file: ``text --n negative --w 512 --h 768 --d seed --l cfg --s steps``
    (``--g``: FLUX's distilled guidance)."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    parts = line.split(" --")
    kw: dict[str, Any] = {"prompt": parts[0].strip()}
    fields = {
        "n": ("negative", str),
        "w": ("width", int),
        "h": ("height", int),
        "d": ("seed", int),
        "l": ("cfg", float),
        "s": ("steps", int),
        "g": ("guidance", float),  # FLUX distilled guidance
    }
    for part in parts[1:]:
        flag, _, value = part.partition(" ")
        if flag in fields:
            name, conv = fields[flag]
            try:
                kw[name] = conv(value.strip())
            except ValueError:
                continue
    return SamplePrompt(**kw)


def _inert(key: str, value: Any) -> bool:
    try:
        return bool(_INERT[key](value))
    except (ValueError, TypeError):
        return False


def _convert_flat(flat: dict[str, Any], *, prefix: str = "", source: str = "") -> LoadedConfig:
    changes: dict[str, Any] = {}
    unsupported: list[str] = []
    notes: list[str] = []
    for key, value in flat.items():
        if key in _COMMON:
            _apply(changes, unsupported, key, value)
        elif key in _IGNORED_QUIETLY or key in _HANDLED_ELSEWHERE:
            continue
        elif key in _INERT and _inert(key, value):
            continue
        elif _blank(value) or value is False or value == 0:
            continue  # an unset option we do not have changes nothing
        else:
            unsupported.append(f"{prefix}{key}")
    _finish(flat, changes, unsupported, notes)
    try:
        config = update(TrainConfig(), **changes)
    except TypeError as exc:  # pragma: no cover - a mapping bug
        raise ConfigError(f"Could not build settings from the kohya config: {exc}") from exc
    return LoadedConfig(config, tuple(sorted(set(unsupported))), source, tuple(notes))


def import_kohya_gui_json(path: str | Path) -> LoadedConfig:
    """A kohya_ss GUI preset / saved config (flat JSON, loose types)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{Path(path).name} is not a readable kohya_ss JSON config: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{Path(path).name} is not a kohya_ss config (expected a JSON object).")
    return _convert_flat(data, source=str(path))


def flatten_sd_scripts_toml(data: dict[str, Any]) -> dict[str, Any]:
    """sd-scripts ``read_config_from_file``: every top-level table's keys merged into one dict."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


def import_sd_scripts_toml(path: str | Path, dataset_config: str | Path | None = None) -> LoadedConfig:
    """An sd-scripts ``--config_file`` TOML (and optionally its ``--dataset_config``)."""
    data = _read_toml(path)
    flat = flatten_sd_scripts_toml(data)
    result = _convert_flat(flat, source=str(path))
    ds_path = dataset_config or flat.get("dataset_config")
    if ds_path:
        ds = import_dataset_config(ds_path)
        result = replace(
            result,
            config=update(result.config, **ds.changes),
            not_understood=(*result.not_understood, *ds.unsupported),
            notes=(*result.notes, *ds.notes),
        )
    return result


def _read_toml(path: str | Path) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{Path(path).name} is not a readable TOML file: {exc}") from exc


@dataclass
class DatasetImport:
    changes: dict[str, Any]
    subsets: list[dict[str, Any]]  # effective settings per subset (general < dataset < subset)
    unsupported: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


_DATASET_LEVEL = {
    "resolution",
    "enable_bucket",
    "min_bucket_reso",
    "max_bucket_reso",
    "bucket_reso_steps",
    "bucket_no_upscale",
    "batch_size",
}
_SUBSET_ONLY = {
    "image_dir",
    "num_repeats",
    "class_tokens",
    "is_reg",
    "metadata_file",
    "caption_prefix",
    "caption_suffix",
    "cache_info",
    "keep_tokens_separator",
}


def import_dataset_config(path: str | Path) -> DatasetImport:
    """sd-scripts ``--dataset_config``: [general] -> [[datasets]] -> [[datasets.subsets]] precedence.

    Dataset-wide options (resolution, buckets, caption options) become TrainConfig settings, taken
    from the first dataset's first training subset; per-subset folders, repeats and class tokens
    are returned in ``subsets`` for the dataset importer.
    """
    data = _read_toml(path)
    general = dict(data.get("general", {}))
    unsupported = [f"{k}" for k in data if k not in ("general", "datasets")]
    subsets: list[dict[str, Any]] = []
    for d_index, ds in enumerate(data.get("datasets", [])):
        ds_opts = {k: v for k, v in ds.items() if k != "subsets"}
        for sub in ds.get("subsets", []) or [{}]:
            subsets.append({**general, **ds_opts, **sub, "_dataset": d_index})
    if len(data.get("datasets", [])) > 1:
        unsupported.append("datasets: more than one dataset; settings taken from the first")
    train = [s for s in subsets if not _bool(s.get("is_reg", False))]
    effective = train[0] if train else (subsets[0] if subsets else general)
    changes: dict[str, Any] = {}
    for key, value in effective.items():
        if key == "_dataset" or key in _SUBSET_ONLY:
            continue
        if key == "batch_size":
            _apply(changes, unsupported, "train_batch_size", value)
        elif key in _COMMON:
            _apply(changes, unsupported, key, value)
        elif key not in _DATASET_LEVEL:
            unsupported.append(f"dataset_config.{key}")
    notes = [
        f"{'Regularization' if _bool(s.get('is_reg', False)) else 'Training'} folder {s.get('image_dir', '?')}"
        f" x{s.get('num_repeats', 1)}" + (f" ({s['class_tokens']})" if s.get("class_tokens") else "")
        for s in subsets
    ]
    for s in subsets:
        if "metadata_file" in s:
            unsupported.append("metadata_file: fine-tuning style subsets are not supported")
    return DatasetImport(changes, subsets, sorted(set(unsupported)), notes)


# kohya_ss GUI LoRA types and LyCORIS ``algo`` values (``--network_args algo=…``) LoRA Studio trains.
_LYCORIS_TYPES = {
    "LyCORIS/LoHa": NetworkAlgo.LOHA,
    "LyCORIS/LoKr": NetworkAlgo.LOKR,
    "LyCORIS/LoCon": NetworkAlgo.LORA,
}
_LYCORIS_ALGOS = {
    "loha": NetworkAlgo.LOHA,
    "lokr": NetworkAlgo.LOKR,
    "kron": NetworkAlgo.LOKR,
    "locon": NetworkAlgo.LORA,
    "lora": NetworkAlgo.LORA,
}


def _lycoris_algo(
    lora_type: str,
    module: str,
    parsed: dict[str, Any],
    flat: dict[str, Any],
    changes: dict[str, Any],
    unsupported: list[str],
) -> NetworkAlgo | None:
    """The network type of a LyCORIS run (kohya_ss ``LoRA_type`` or sd-scripts ``network_module =
    lycoris.kohya`` with ``algo``, ``factor``, ``dora_wd`` args); takes the keys it reads out of
    ``parsed``. None when the run is not a LyCORIS one LoRA Studio trains."""
    algo = _LYCORIS_TYPES.get(lora_type)
    if module == "lycoris.kohya":
        name = str(parsed.pop("algo", "lora")).strip().lower()
        if name not in _LYCORIS_ALGOS:
            unsupported.append(
                f"network_args.algo: LyCORIS '{name}' is not supported; imported as standard LoRA"
            )
            return None
        algo = _LYCORIS_ALGOS[name]
    if algo is None:
        return None
    factor = parsed.pop("factor", flat.get("factor"))
    if algo == NetworkAlgo.LOKR and not _blank(factor):
        changes["network.lokr_factor"] = _int(factor)
    if _bool(parsed.pop("dora_wd", flat.get("dora_wd", False))):
        if algo != NetworkAlgo.LORA:
            unsupported.append(
                f"dora_wd with {algo.value}: not supported; imported as {algo.value} without DoRA"
            )
        else:
            algo = NetworkAlgo.DORA
    parsed.pop("wd_on_output", None)  # LoRA Studio's DoRA is always on the output axis
    changes["network.algo"] = algo
    return algo
