"""``validate(config) -> list[Issue]``: every problem of a training config at once. Torch-free.

Checks files (base model, dataset, output folder), the dataset's content, impossible or
contradictory settings, and optional packages. The UI shows the list before a run starts; the
trainer refuses to start while any ERROR remains.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
from pathlib import Path

from lora_studio.core.errors import ModelLoadError
from lora_studio.core.families import ModelFamily
from lora_studio.core.issues import Issue, Severity, setting_issue
from lora_studio.dataset.items import Dataset
from lora_studio.diffusion.families import refuse_pickled_folder
from lora_studio.training.config import (
    LatentCache,
    NetworkAlgo,
    OptimizerKind,
    SchedulerKind,
    TrainConfig,
    flat_fields,
)

OPTIONAL_PACKAGES = {
    OptimizerKind.ADAMW8BIT: ("bitsandbytes", "bitsandbytes"),
    OptimizerKind.PRODIGY: ("prodigyopt", "prodigyopt"),
    OptimizerKind.DADAPT_ADAM: ("dadaptation", "dadaptation"),
}

# The keyword arguments each optimizer takes besides lr and weight_decay (their constructors'
# signatures; checked before anything heavy loads, so a typo is not a traceback after 30 s).
OPTIMIZER_ARGS: dict[OptimizerKind, frozenset[str]] = {
    OptimizerKind.ADAMW: frozenset(
        {"betas", "eps", "amsgrad", "foreach", "maximize", "capturable", "differentiable", "fused"}
    ),
    OptimizerKind.ADAMW8BIT: frozenset(
        {"betas", "eps", "amsgrad", "optim_bits", "min_8bit_size", "is_paged"}
    ),
    OptimizerKind.LION: frozenset({"betas"}),
    OptimizerKind.PRODIGY: frozenset(
        {
            "betas",
            "beta3",
            "eps",
            "decouple",
            "use_bias_correction",
            "safeguard_warmup",
            "d0",
            "d_coef",
            "growth_rate",
            "fsdp_in_use",
            "slice_p",
        }
    ),
    OptimizerKind.DADAPT_ADAM: frozenset(
        {"betas", "eps", "log_every", "decouple", "use_bias_correction", "d0", "growth_rate", "fsdp_in_use"}
    ),
    OptimizerKind.ADAFACTOR: frozenset(
        {"eps", "clip_threshold", "decay_rate", "beta1", "scale_parameter", "relative_step", "warmup_init"}
    ),
}


def sniff_family(path: str | Path) -> ModelFamily | None:
    """Family of a diffusers folder or single-file checkpoint from its configs/header (no weights read)."""
    path = Path(path)
    if path.is_dir():
        index = path / "model_index.json"
        if index.exists():
            name = json.loads(index.read_text(encoding="utf-8")).get("_class_name", "")
            if "XL" in name:
                return ModelFamily.SDXL
        if (path / "transformer" / "config.json").exists():
            return ModelFamily.FLUX
        unet_cfg = path / "unet" / "config.json"
        if unet_cfg.exists():
            cfg = json.loads(unet_cfg.read_text(encoding="utf-8"))
            if cfg.get("addition_embed_type") == "text_time":
                return ModelFamily.SDXL
            if cfg.get("use_linear_projection"):
                return ModelFamily.SD2
            return ModelFamily.SD1
        return None
    if path.suffix.lower() != ".safetensors":
        return None
    from lora_studio.formats.safetensors_meta import read_header

    keys = read_header(path).tensors.keys()
    if any(k.startswith(("double_blocks.", "model.diffusion_model.double_blocks.")) for k in keys):
        return ModelFamily.FLUX
    if any(k.startswith("conditioner.embedders.1") for k in keys):
        return ModelFamily.SDXL
    if any(k.startswith("cond_stage_model.model.") for k in keys):
        return ModelFamily.SD2
    if any(k.startswith("cond_stage_model.transformer") for k in keys):
        return ModelFamily.SD1
    return None


def _err(field: str, message: str) -> Issue:
    return setting_issue(Severity.ERROR, field, message)


def _warn(field: str, message: str) -> Issue:
    return setting_issue(Severity.WARNING, field, message)


# Blocks that block swapping can keep in system memory (diffusion.memory.swappable_blocks): the
# transformer blocks of SD 1.x/2.x and SDXL UNets, FLUX.1's 19 double- and 38 single-stream blocks.
SWAPPABLE_BLOCKS = {ModelFamily.SD1: 16, ModelFamily.SD2: 16, ModelFamily.SDXL: 11, ModelFamily.FLUX: 57}


def _check_memory(config: TrainConfig, family: ModelFamily | None, issues: list[Issue]) -> None:
    n = config.memory.blocks_to_swap
    if n < 0:
        issues.append(_err("memory.blocks_to_swap", f"Blocks to swap cannot be negative ({n}); 0 turns swapping off."))
    elif family is not None and n > SWAPPABLE_BLOCKS[family]:
        most = SWAPPABLE_BLOCKS[family]
        issues.append(
            _err(
                "memory.blocks_to_swap",
                f"{family.label} has {most} blocks that can be swapped; {n} is more. Use {most} or fewer.",
            )
        )


FLUX_PLAIN_LORA = "FLUX.1 trains plain LoRA only (kohya's lora_flux): LoHa, LoKr and DoRA are not available for FLUX.1."


def _check_flux(config: TrainConfig, issues: list[Issue]) -> None:
    """Settings that FLUX.1 needs or cannot use."""
    f, d = config.flux, config.dataset
    if config.run.precision == "fp16":
        issues.append(_err("run.precision", "FLUX trains in bf16 (or fp32): fp16 overflows in its blocks and in T5."))
    for name, size in (("resolution", d.resolution), ("bucket_step", d.bucket_step)):
        if size % 16:
            issues.append(_err(f"dataset.{name}", f"FLUX needs sizes in steps of 16 pixels ({name} is {size})."))
    for name, value in (("discrete_flow_shift", f.discrete_flow_shift), ("sigmoid_scale", f.sigmoid_scale)):
        if value <= 0:
            issues.append(_err(f"flux.{name}", f"{name} must be above 0 (it is {value:g})."))
    if f.guidance_scale < 0:
        issues.append(_err("flux.guidance_scale", "The training guidance scale cannot be negative."))
    if not 0 <= f.t5xxl_max_token_length <= 512:
        issues.append(_err("flux.t5xxl_max_token_length", "T5 takes 1 to 512 tokens (0: 512 for dev, 256 for schnell)."))
    for name in ("clip_l", "t5xxl", "ae"):
        path = getattr(f, name)
        if path and not Path(path).is_file():
            issues.append(_err(f"flux.{name}", f"The {name} file {path} does not exist."))
    if config.loss.min_snr_gamma > 0:
        issues.append(_warn("loss.min_snr_gamma", "Min-SNR weighting is not used for FLUX (flow matching has no SNR)."))
    if config.model.clip_skip > 1:
        issues.append(_warn("model.clip_skip", "Clip skip is not used for FLUX (it takes CLIP-L's pooled output)."))
    if config.network.algo != NetworkAlgo.LORA:
        issues.append(_err("network.algo", FLUX_PLAIN_LORA + " Set the network type to LoRA."))


def _check_model(config: TrainConfig, issues: list[Issue]) -> ModelFamily | None:
    m = config.model
    start = config.network.init_weights
    if start and not Path(start).is_file():
        issues.append(_err("network.init_weights", f"The LoRA to continue from, {start}, does not exist."))
    if not m.base_model:
        issues.append(
            _err("model.base_model", "Choose a base model (a .safetensors file or a diffusers folder).")
        )
    elif not Path(m.base_model).exists():
        issues.append(_err("model.base_model", f"The base model {m.base_model} does not exist."))
    found = None
    if m.base_model and Path(m.base_model).exists():
        try:
            if Path(m.base_model).is_dir():
                refuse_pickled_folder(
                    Path(m.base_model), ["unet", "transformer", "vae", "text_encoder", "text_encoder_2"]
                )
            found = sniff_family(m.base_model)
        except ModelLoadError as exc:
            issues.append(_err("model.base_model", str(exc)))
            found = None
        except Exception as exc:  # a broken header is reported, not raised
            issues.append(_err("model.base_model", f"The base model cannot be read: {exc}"))
            found = None
        if found is not None and m.family is not None and found != m.family:
            issues.append(
                _err(
                    "model.family",
                    f"The base model is {found.label} but the settings say {m.family.label}. "
                    "Pick the matching preset or base model.",
                )
            )
    if m.clip_skip < 1 or m.clip_skip > 12:
        issues.append(_err("model.clip_skip", "Clip skip must be between 1 and 12 (1 = no skip)."))
    if m.vae and not Path(m.vae).exists():
        issues.append(_err("model.vae", f"The VAE file {m.vae} does not exist."))
    return m.family or found


def _check_dataset(config: TrainConfig, dataset: Dataset | None, issues: list[Issue]) -> None:
    d = config.dataset
    if dataset is None:
        if not d.path:
            issues.append(_err("dataset.path", "Choose a dataset folder."))
        elif not Path(d.path).is_dir():
            issues.append(_err("dataset.path", f"The dataset folder {d.path} does not exist."))
        else:
            try:
                from lora_studio.dataset.io import load_dataset

                dataset = load_dataset(d.path, caption_extension=d.caption_extension)
            except Exception as exc:
                issues.append(_err("dataset.path", f"The dataset cannot be read: {exc}"))
    if dataset is not None:
        if not dataset.training_concepts():
            issues.append(
                _err("dataset.path", "The dataset has no training concept (only regularization or none).")
            )
        for c in dataset.concepts:
            if not c.items:
                issues.append(_err("dataset.path", f"The concept '{c.name}' has no images."))
            if c.repeats < 1:
                issues.append(
                    _err("dataset.path", f"The concept '{c.name}' has {c.repeats} repeats; use 1 or more.")
                )
        if config.loss.masked_loss:
            issues.extend(_mask_report(config, dataset))
    if d.resolution < 64 or d.resolution % 8:
        issues.append(_err("dataset.resolution", "Resolution must be a multiple of 8 and at least 64."))
    if d.enable_buckets:
        if d.bucket_step < 8 or d.bucket_step % 8:
            issues.append(_err("dataset.bucket_step", "Bucket step must be a multiple of 8."))
        if d.bucket_min > d.bucket_max:
            issues.append(_err("dataset.bucket_min", "The smallest bucket side is larger than the largest."))
        if d.bucket_max < d.resolution:
            issues.append(_warn("dataset.bucket_max", "The largest bucket side is below the resolution."))
    if d.max_token_length not in (75, 150, 225):
        issues.append(_err("dataset.max_token_length", "Max token length must be 75, 150 or 225."))
    for name in ("caption_dropout", "tag_dropout", "color_jitter"):
        value = getattr(d, name)
        if not 0.0 <= value <= 1.0:
            issues.append(_err(f"dataset.{name}", f"{name.replace('_', ' ')} must be between 0 and 1."))
    if d.keep_tokens < 0:
        issues.append(_err("dataset.keep_tokens", "Keep tokens cannot be negative."))
    if d.color_jitter > 0 and d.latent_cache != LatentCache.NONE:
        issues.append(
            _warn(
                "dataset.color_jitter",
                "Colour jitter is ignored while latents are cached; set latent cache to none.",
            )
        )
    if d.caption_extension and not d.caption_extension.startswith("."):
        issues.append(
            _err("dataset.caption_extension", "The caption extension must start with a dot (.txt).")
        )


def masks_used(dataset: Dataset) -> tuple[int, int]:
    """(pictures with a mask, pictures) over the training concepts."""
    items = [i for c in dataset.training_concepts() for i in c.items]
    return sum(1 for i in items if i.mask), len(items)


def _mask_report(config: TrainConfig, dataset: Dataset) -> list[Issue]:
    """Before a masked-loss run: how many pictures have a mask ("masks used: 11 of 13")."""
    used, total = masks_used(dataset)
    if used == 0 and not any(i.mask for c in dataset.concepts for i in c.items):
        if config.dataset.alpha.value != "mask":
            return [_warn("loss.masked_loss", "Masked loss is on but no image has a mask.")]
        return []
    rest = total - used
    tail = f"; the other {rest} are learned whole" if rest else ""
    return [
        setting_issue(
            Severity.INFO, "loss.masked_loss", f"Masked loss: masks used: {used} of {total} pictures{tail}."
        )
    ]


def _check_training(config: TrainConfig, issues: list[Issue]) -> None:
    n, o, s, r, loss = config.network, config.optimizer, config.scheduler, config.run, config.loss
    if n.rank < 1:
        issues.append(_err("network.rank", "Rank (network dim) must be at least 1."))
    if n.alpha <= 0:
        issues.append(_err("network.alpha", "Alpha must be above 0 (alpha = rank means scale 1)."))
    elif n.alpha > n.rank:
        issues.append(
            _warn("network.alpha", f"Alpha {n.alpha:g} is above rank {n.rank}: the LoRA is scaled up.")
        )
    if n.target.value.endswith("conv") and (n.conv_rank < 1 or n.conv_alpha <= 0):
        issues.append(_err("network.conv_rank", "Conv rank and conv alpha must be above 0 for LoCon."))
    if not 0.0 <= n.dropout < 1.0:
        issues.append(_err("network.dropout", "Network dropout must be in [0, 1)."))
    _check_algo_and_ema(config, issues)
    if o.learning_rate <= 0 and not (o.unet_lr or 0) > 0:
        issues.append(_err("optimizer.learning_rate", "The learning rate must be above 0."))
    if o.optimizer in (OptimizerKind.PRODIGY, OptimizerKind.DADAPT_ADAM) and o.learning_rate < 0.1:
        issues.append(
            _warn(
                "optimizer.learning_rate",
                "Prodigy/D-Adaptation expect learning rate 1.0 (they find the step size).",
            )
        )
    if o.optimizer in OPTIONAL_PACKAGES:
        module, requirement = OPTIONAL_PACKAGES[o.optimizer]
        if importlib.util.find_spec(module) is None:
            issues.append(
                _err(
                    "optimizer.optimizer",
                    f"{o.optimizer.value} needs the '{requirement}' package, which is not installed.",
                )
            )
    if r.epochs < 1 and r.max_steps < 1:
        issues.append(_err("run.epochs", "Set at least one epoch or a number of steps."))
    if r.batch_size < 1 or r.grad_accumulation < 1:
        issues.append(_err("run.batch_size", "Batch size and gradient accumulation must be at least 1."))
    if s.warmup_steps < 0 or not 0.0 <= s.warmup_ratio < 1.0:
        issues.append(
            _err("scheduler.warmup_steps", "Warm-up must be 0 or more steps, or a fraction below 1.")
        )
    if s.scheduler == SchedulerKind.CONSTANT and (s.warmup_steps or s.warmup_ratio):
        issues.append(_warn("scheduler.scheduler", "'constant' ignores warm-up; use constant_with_warmup."))
    if s.num_cycles < 1:
        issues.append(_err("scheduler.num_cycles", "Restarts must be at least 1."))
    if loss.min_snr_gamma < 0 or loss.noise_offset < 0 or loss.prior_loss_weight < 0:
        issues.append(_err("loss", "Min-SNR gamma, noise offset and prior loss weight cannot be negative."))
    if not r.output_name or any(ch in r.output_name for ch in '/\\:*?"<>|'):
        issues.append(_err("run.output_name", "The output name must be a plain file name."))
    if not r.output_dir:
        issues.append(_err("run.output_dir", "Choose an output folder."))
    if config.validation.split and not 0 < config.validation.split < 1:
        issues.append(_err("validation.split", "Validation split must be a fraction between 0 and 1."))
    for i, p in enumerate(config.sample.prompts):
        if p.width % 8 or p.height % 8:
            issues.append(_err(f"sample.prompts[{i}]", "Sample width and height must be multiples of 8."))


_NON_NEGATIVE_OPTIMIZER = {
    "learning_rate": "The learning rate",
    "unet_lr": "The UNet learning rate",
    "text_encoder_lr": "The text encoder learning rate",
    "weight_decay": "Weight decay",
    "max_grad_norm": "Max grad norm",
}
_DEVICE_RE = re.compile(r"^(auto|gpu|cpu|mps|cuda(:\d+)?)$")


def _check_numbers(config: TrainConfig, issues: list[Issue]) -> None:
    """Every number must be a real one (no NaN/inf) and none may be negative where that means nothing."""
    for path, value in flat_fields(config).items():
        if isinstance(value, float) and not math.isfinite(value):
            issues.append(_err(path, f"'{path}' is {value}, which is not a usable number."))
    o, r = config.optimizer, config.run
    for name, label in _NON_NEGATIVE_OPTIMIZER.items():
        value = getattr(o, name)
        if value is not None and value < 0:
            issues.append(_err(f"optimizer.{name}", f"{label} cannot be negative ({value:g})."))
    for name in (
        "epochs",
        "max_steps",
        "save_every_n_epochs",
        "save_every_n_steps",
        "keep_last",
        "state_every_minutes",
        "keep_last_states",
    ):
        value = getattr(r, name)
        if value < 0:
            issues.append(_err(f"run.{name}", f"'{name}' cannot be negative ({value:g}); 0 turns it off."))
    if not _DEVICE_RE.match((r.device or "auto").lower()):
        issues.append(
            _err("run.device", f"'{r.device}' is not a device name; use auto, cpu, cuda, cuda:1 or mps.")
        )
    known = OPTIMIZER_ARGS.get(o.optimizer)
    if known is not None:
        for key in o.args:
            if key not in known:
                issues.append(
                    _err(
                        f"optimizer.args.{key}",
                        f"The {o.optimizer.value} optimizer has no setting '{key}'; it knows: "
                        + ", ".join(sorted(known))
                        + ".",
                    )
                )


def validate(config: TrainConfig, dataset: Dataset | None = None) -> list[Issue]:
    """Every problem of ``config`` (and of ``dataset`` when given, else the one at dataset.path)."""
    issues: list[Issue] = []
    family = _check_model(config, issues)
    _check_memory(config, family, issues)
    if family == ModelFamily.FLUX:
        _check_flux(config, issues)
    _check_dataset(config, dataset, issues)
    _check_training(config, issues)
    _check_numbers(config, issues)
    return issues


def _check_algo_and_ema(config: TrainConfig, issues: list[Issue]) -> None:
    """Network type (LoHa, LoKr, DoRA) and weight-average settings."""
    from lora_studio.training.config import EmaTarget

    n, ema = config.network, config.ema
    if n.init_weights and n.algo != NetworkAlgo.LORA:
        issues.append(
            _err(
                "network.init_weights",
                f"Continuing from a file works for plain LoRA/LoCon only, not {NetworkAlgo(n.algo).value}.",
            )
        )
    if n.lokr_factor == 0 or n.lokr_factor < -1:
        issues.append(_err("network.lokr_factor", "The LoKr factor must be -1 (automatic) or at least 1."))
    if ema.save != EmaTarget.OFF:
        if not 0.0 <= ema.decay < 1.0:
            issues.append(_err("ema.decay", "The EMA decay must be in [0, 1), e.g. 0.999."))
        if ema.every_n_steps < 1:
            issues.append(_err("ema.every_n_steps", "Update the average at least every step (1 or more)."))
        if ema.start_step < 0:
            issues.append(_err("ema.start_step", "The EMA start step cannot be negative."))
