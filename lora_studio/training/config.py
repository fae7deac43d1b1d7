"""Training settings: a frozen, keyword-only dataclass tree with valid defaults. Torch-free.

Names and meanings follow kohya sd-scripts where one exists (``network_dim`` = ``rank``,
``network_alpha`` = ``alpha``, ``keep_tokens``, ``min_snr_gamma`` ...), so a user coming from
kohya finds every setting where they expect it. ``validate`` lives in ``validation.py`` and presets
in ``presets.py``; both are torch-free too.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from lora_studio.core.families import ModelFamily, Prediction
from lora_studio.core.serialization import dumps_toml, from_toml_dict, load_toml, save_toml
from lora_studio.diffusion.base_weights import BaseWeights

SCHEMA_VERSION = 1


class OptimizerKind(enum.StrEnum):
    ADAMW = "adamw"
    ADAMW8BIT = "adamw8bit"
    PRODIGY = "prodigy"
    DADAPT_ADAM = "dadapt_adam"
    LION = "lion"
    ADAFACTOR = "adafactor"


class SchedulerKind(enum.StrEnum):
    CONSTANT = "constant"
    CONSTANT_WITH_WARMUP = "constant_with_warmup"
    LINEAR = "linear"
    COSINE = "cosine"
    COSINE_WITH_RESTARTS = "cosine_with_restarts"
    POLYNOMIAL = "polynomial"


class Precision(enum.StrEnum):
    """Mixed precision of the forward/backward pass (LoRA weights stay fp32)."""

    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"


class NetworkTarget(enum.StrEnum):
    """Which layers get LoRA modules.

    ``attention``: q/k/v/out of every attention. ``attention_ff``: kohya's default "LoRA" (every
    Linear and 1x1 conv of the transformer blocks: attention, proj_in/out, feed-forward).
    ``attention_ff_conv``: kohya "LoCon" (plus the 3x3 convs of resnets and up/down samplers, with
    ``conv_rank``/``conv_alpha``).
    """

    ATTENTION = "attention"
    ATTENTION_FF = "attention_ff"
    ATTENTION_FF_CONV = "attention_ff_conv"


class NetworkAlgo(enum.StrEnum):
    """What kind of adapter is trained (kohya/LyCORIS ``algo``).

    ``lora``: plain LoRA (LoCon when ``target`` includes the convolutions). ``loha``: LyCORIS LoHa
    (Hadamard product of two low-rank pairs). ``lokr``: LyCORIS LoKr (Kronecker product;
    ``lokr_factor`` splits each dimension). ``dora``: LoRA with weight decomposition (DoRA; saved as
    LyCORIS' ``dora_scale``).
    """

    LORA = "lora"
    LOHA = "loha"
    LOKR = "lokr"
    DORA = "dora"


class LatentCache(enum.StrEnum):
    NONE = "none"  # encode every step (allows colour jitter)
    MEMORY = "memory"
    DISK = "disk"  # kept across runs, keyed by image bytes + crop + size + flip + VAE


class AlphaHandling(enum.StrEnum):
    """What transparent pixels become."""

    WHITE = "white"  # composite onto white
    BLACK = "black"
    MASK = "mask"  # composite onto white AND use alpha as the loss mask


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    base_model: str = ""  # single-file checkpoint or diffusers folder
    family: ModelFamily | None = None  # None: detect from the file
    prediction: Prediction | None = None  # None: from the model (v-pred = Prediction.V)
    zero_terminal_snr: bool = False
    clip_skip: int = 1  # kohya/A1111 meaning: 1 = last layer, 2 = penultimate
    vae: str = ""  # optional separate VAE


@dataclass(frozen=True, kw_only=True)
class DatasetConfig:
    path: str = ""  # LoRA Studio project folder or kohya img/ tree
    caption_extension: str = ".txt"
    resolution: int = 512  # training area is resolution x resolution
    enable_buckets: bool = True
    bucket_min: int = 256
    bucket_max: int = 1024
    bucket_step: int = 64
    bucket_no_upscale: bool = False
    shuffle_tags: bool = False
    keep_tokens: int = 0  # first N tags never shuffled or dropped
    tag_separator: str = ","
    caption_dropout: float = 0.0  # probability of training on an empty caption
    tag_dropout: float = 0.0  # probability of dropping each (non-kept) tag
    trigger_word: str = ""  # put in front of every caption that lacks it
    max_token_length: int = 75  # 75, 150 or 225 (chunks of 75 like A1111/kohya)
    flip: bool = False
    color_jitter: float = 0.0  # 0..1 strength of hue/brightness jitter (needs latent_cache=none)
    latent_cache: LatentCache = LatentCache.MEMORY
    latent_cache_dir: str = ""  # empty: the app's cache folder
    cache_text_encoder_outputs: bool = True  # used only when the text encoders are not trained
    alpha: AlphaHandling = AlphaHandling.WHITE
    num_workers: int = 0  # picture-loading processes when latents are not cached (0 = in this process)


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    rank: int = 16  # kohya network_dim
    alpha: float = 8.0  # kohya network_alpha; scale = alpha / rank
    dropout: float = 0.0
    target: NetworkTarget = NetworkTarget.ATTENTION_FF
    conv_rank: int = 8  # kohya conv_dim (only with attention_ff_conv)
    conv_alpha: float = 4.0
    algo: NetworkAlgo = NetworkAlgo.LORA  # lora (LoCon with conv target), loha, lokr, dora
    lokr_factor: int = -1  # LoKr: split dimensions near this factor; -1 = as square as possible
    train_text_encoder: bool = False
    init_weights: str = ""  # kohya network_weights: continue from this LoRA file (kohya or ours)


@dataclass(frozen=True, kw_only=True)
class OptimizerConfig:
    optimizer: OptimizerKind = OptimizerKind.ADAMW
    learning_rate: float = 1e-4
    unet_lr: float | None = None  # None: learning_rate
    text_encoder_lr: float | None = None  # None: learning_rate
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0  # 0 = no clipping
    args: dict[str, Any] = field(default_factory=dict)  # extra optimizer keyword arguments


@dataclass(frozen=True, kw_only=True)
class SchedulerConfig:
    scheduler: SchedulerKind = SchedulerKind.CONSTANT
    warmup_steps: int = 0
    warmup_ratio: float = 0.0  # fraction of total steps; used when warmup_steps is 0
    num_cycles: int = 1  # restarts of cosine_with_restarts
    power: float = 1.0  # polynomial decay power


@dataclass(frozen=True, kw_only=True)
class LossConfig:
    min_snr_gamma: float = 0.0  # 0 = off; 5 is the paper's value
    noise_offset: float = 0.0
    masked_loss: bool = False  # use item masks (mask PNG or alpha) to weight the loss
    prior_loss_weight: float = 1.0  # weight of regularization images


@dataclass(frozen=True, kw_only=True)
class SamplePrompt:
    prompt: str
    negative: str = ""
    width: int = 0  # 0: the training resolution
    height: int = 0
    seed: int = -1  # -1: run seed + prompt index
    steps: int = 20
    cfg: float = 7.0
    guidance: float = 3.5  # FLUX: distilled guidance (Forge's "Distilled CFG Scale"); cfg is not used


@dataclass(frozen=True, kw_only=True)
class SampleConfig:
    prompts: tuple[SamplePrompt, ...] = ()
    every_n_steps: int = 0
    every_n_epochs: int = 0
    at_start: bool = False  # kohya --sample_at_first


@dataclass(frozen=True, kw_only=True)
class ValidationConfig:
    split: float = 0.0  # fraction of training images held out
    size: int = 0  # or a fixed number of images (wins over split)
    seed: int = 0  # fixes the subset, the noise and the timesteps
    every_n_steps: int = 0  # 0: at the end of each epoch only


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    epochs: int = 10
    max_steps: int = 0  # optimizer steps; 0 = epochs decide
    batch_size: int = 1
    grad_accumulation: int = 1
    gradient_checkpointing: bool = False
    sdpa: bool = True
    precision: Precision = Precision.BF16
    save_precision: Precision = Precision.FP16
    seed: int = 42
    save_every_n_epochs: int = 1
    save_every_n_steps: int = 0
    keep_last: int = 0  # 0 = keep every intermediate LoRA
    state_every_minutes: float = 10.0  # 0 = only on stop/error
    keep_last_states: int = 2
    output_dir: str = "output"
    output_name: str = "lora"
    device: str = "auto"  # auto, cpu, cuda, cuda:1, mps


class EmaTarget(enum.StrEnum):
    """Where the EMA weights go: nowhere (off), in the main file, or in ``<name>-ema.safetensors``."""

    OFF = "off"
    MAIN = "main"
    BESIDE = "beside"


@dataclass(frozen=True, kw_only=True)
class EmaConfig:
    """Exponential moving average of the trained weights (``ema = decay·ema + (1−decay)·w``)."""

    save: EmaTarget = EmaTarget.OFF
    decay: float = 0.999
    start_step: int = 0  # the average starts as a copy of the weights after this step
    every_n_steps: int = 1  # update interval (in optimizer steps)


@dataclass(frozen=True, kw_only=True)
class LogConfig:
    tensorboard: bool = False  # event files in <output_dir>/tensorboard/<output_name>


@dataclass(frozen=True, kw_only=True)
class MemoryConfig:
    """Settings that trade speed for memory so a run fits the card (see diffusion/memory.py)."""

    unet_weights: BaseWeights = BaseWeights.FULL  # kohya fp8_base / fp8_base_unet
    text_encoder_weights: BaseWeights = BaseWeights.FULL  # only text encoders that are not trained
    blocks_to_swap: int = 0  # kohya blocks_to_swap: transformer blocks kept in system memory


class TimestepSampling(enum.StrEnum):
    """How a FLUX run draws the noise level of each picture (sd-scripts ``timestep_sampling``).

    ``sigma``: a step of the shifted flow-matching schedule (``discrete_flow_shift``), picked by
    ``weighting_scheme``. ``uniform``: any level equally. ``sigmoid``: sigmoid of a normal draw
    times ``sigmoid_scale`` (mid levels more often). ``shift``: ``sigmoid`` then shifted by
    ``discrete_flow_shift`` towards noise. ``flux_shift``: ``sigmoid`` shifted by the resolution,
    as FLUX.1 samples.
    """

    SIGMA = "sigma"
    UNIFORM = "uniform"
    SIGMOID = "sigmoid"
    SHIFT = "shift"
    FLUX_SHIFT = "flux_shift"


class ModelPrediction(enum.StrEnum):
    """How the FLUX output is compared (sd-scripts ``model_prediction_type``): ``raw`` as it is,
    ``additive`` added to the noisy input, ``sigma_scaled`` scaled by -sigma and added to it
    (then ``weighting_scheme`` weights the loss)."""

    RAW = "raw"
    ADDITIVE = "additive"
    SIGMA_SCALED = "sigma_scaled"


class WeightingScheme(enum.StrEnum):
    """sd-scripts/SD3 ``weighting_scheme``: the timestep density of ``sigma`` sampling
    (``logit_normal``, ``mode``) or the loss weight of ``sigma_scaled`` (``sigma_sqrt``, ``cosmap``)."""

    NONE = "none"
    LOGIT_NORMAL = "logit_normal"
    MODE = "mode"
    SIGMA_SQRT = "sigma_sqrt"
    COSMAP = "cosmap"


@dataclass(frozen=True, kw_only=True)
class FluxConfig:
    """FLUX.1 settings (used only when the base model is FLUX), with sd-scripts' names and meanings.

    The defaults are the ones the FLUX LoRA guides use (sd-scripts' own defaults differ: sigma,
    shift 3.0, sigma_scaled, guidance 3.5; a kohya config that leaves them out imports with those).
    """

    clip_l: str = ""  # separate CLIP-L file (empty: found beside the model or in the model folders)
    t5xxl: str = ""  # separate T5-XXL file
    ae: str = ""  # separate autoencoder file
    guidance_scale: float = 1.0  # the distilled guidance the transformer sees while training (dev)
    timestep_sampling: TimestepSampling = TimestepSampling.SHIFT
    sigmoid_scale: float = 1.0
    discrete_flow_shift: float = 3.1582
    model_prediction_type: ModelPrediction = ModelPrediction.RAW
    weighting_scheme: WeightingScheme = WeightingScheme.NONE
    logit_mean: float = 0.0
    logit_std: float = 1.0
    mode_scale: float = 1.29
    t5xxl_max_token_length: int = 0  # 0: 512 for dev, 256 for schnell (sd-scripts)
    apply_t5_attn_mask: bool = False  # mask T5 padding in the encoder and the attention
    cache_text_encoder_outputs_to_disk: bool = False  # keep T5/CLIP outputs across runs


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    schema_version: int = SCHEMA_VERSION
    model: ModelConfig = field(default_factory=ModelConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    run: RunConfig = field(default_factory=RunConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    flux: FluxConfig = field(default_factory=FluxConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    log: LogConfig = field(default_factory=LogConfig)

    @property
    def unet_lr(self) -> float:
        lr = self.optimizer.unet_lr
        return self.optimizer.learning_rate if lr is None else lr

    @property
    def text_encoder_lr(self) -> float:
        lr = self.optimizer.text_encoder_lr
        return self.optimizer.learning_rate if lr is None else lr

    @property
    def trains_text_encoder(self) -> bool:
        return self.network.train_text_encoder and self.text_encoder_lr > 0


def update(config: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` that also takes dotted section paths: ``update(c, **{"run.seed": 1})``."""
    direct = {k: v for k, v in changes.items() if "." not in k}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in changes.items():
        if "." in key:
            head, rest = key.split(".", 1)
            nested.setdefault(head, {})[rest] = value
    for head, sub in nested.items():
        direct[head] = update(getattr(config, head), **sub)
    return replace(config, **direct)


def load_config(path: str | Path) -> tuple[TrainConfig, list[str]]:
    """Read a TOML training config. Returns the config and the unknown keys (dotted paths)."""
    return load_toml(TrainConfig, path, current_version=SCHEMA_VERSION)


def config_from_dict(data: dict[str, Any]) -> tuple[TrainConfig, list[str]]:
    return from_toml_dict(TrainConfig, data, current_version=SCHEMA_VERSION)


def save_config(config: TrainConfig, path: str | Path) -> None:
    save_toml(config, path)


def config_to_toml(config: TrainConfig) -> str:
    return dumps_toml(config)


def resolve_paths(config: TrainConfig, base_dir: str | Path) -> TrainConfig:
    """Make the relative paths of a config (model, dataset, output, caches) absolute against ``base_dir``."""
    base = Path(base_dir)

    def fix(p: str) -> str:
        if not p:
            return p
        q = Path(p).expanduser()
        return str(q if q.is_absolute() else (base / q).resolve())

    return update(
        config,
        **{
            "model.base_model": fix(config.model.base_model),
            "model.vae": fix(config.model.vae),
            "dataset.path": fix(config.dataset.path),
            "dataset.latent_cache_dir": fix(config.dataset.latent_cache_dir),
            "run.output_dir": fix(config.run.output_dir),
            "network.init_weights": fix(config.network.init_weights),
            "flux.clip_l": fix(config.flux.clip_l),
            "flux.t5xxl": fix(config.flux.t5xxl),
            "flux.ae": fix(config.flux.ae),
        },
    )


def flat_fields(config: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted-path view of a config tree (for diffs, metadata and the UI)."""
    out: dict[str, Any] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        key = f"{prefix}{f.name}"
        if is_dataclass(value) and not isinstance(value, type):
            out.update(flat_fields(value, key + "."))
        else:
            out[key] = value
    return out


def validate(config: TrainConfig, dataset: Any = None) -> list[Any]:
    """Every problem of ``config`` at once (see :mod:`lora_studio.training.validation`)."""
    from lora_studio.training.validation import validate as _validate

    return _validate(config, dataset)
