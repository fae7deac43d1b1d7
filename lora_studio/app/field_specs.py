"""Labels, plain-words help and "does this apply?" rules for every training setting. Data only.

Keys are the dotted paths of :func:`lora_studio.training.config.flat_fields`. The settings form is
generated from the config dataclasses; this table only says how each field is presented. A field
without an entry still gets an editor (labelled from its name), so new engine options show up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lora_studio.core.families import ModelFamily, Prediction
from lora_studio.training.config import (
    AlphaHandling,
    BaseWeights,
    EmaTarget,
    LatentCache,
    ModelPrediction,
    NetworkAlgo,
    NetworkTarget,
    OptimizerKind,
    Precision,
    SchedulerKind,
    TimestepSampling,
    TrainConfig,
    WeightingScheme,
)
from lora_studio.training.validation import FLUX_PLAIN_LORA

# A rule returns "" when the field applies, else the reason it doesn't (shown in its tooltip).
Rule = Callable[[TrainConfig, ModelFamily | None], str]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    label: str
    tip: str
    basic: bool = False
    minimum: float = 0
    maximum: float = 1_000_000
    step: float = 1
    decimals: int = 3
    kind: str = ""  # "", "file", "folder", "model", "lr" (scientific), "prompts", "kwargs"
    rule: Rule | None = None
    hidden: bool = False
    brief: str = ""  # one plain line shown under the field in the Basic view (every Basic field has one)


GROUPS: dict[str, str] = {
    "model": "Base model",
    "dataset": "Pictures and captions",
    "network": "LoRA size",
    "optimizer": "Learning",
    "scheduler": "Learning rate over time",
    "loss": "Loss",
    "run": "Run, saving and memory",
    "sample": "Sample pictures",
    "validation": "Validation",
    "memory": "Fitting the graphics card",
    "flux": "FLUX.1",
    "ema": "Weight average (EMA)",
    "log": "Logs",
}

ENUM_LABELS: dict[Any, str] = {
    BaseWeights.FULL: "Full (the run's precision)",
    BaseWeights.FP8: "8-bit float (fp8)",
    BaseWeights.INT8: "8-bit integer (bitsandbytes)",
    BaseWeights.NF4: "4-bit NF4 (bitsandbytes, QLoRA)",
    OptimizerKind.ADAMW: "AdamW: the safe choice",
    OptimizerKind.ADAMW8BIT: "AdamW 8-bit: the same, less memory",
    OptimizerKind.PRODIGY: "Prodigy: sets its own speed (learning rate 1)",
    OptimizerKind.DADAPT_ADAM: "D-Adaptation: sets its own speed (learning rate 1)",
    OptimizerKind.LION: "Lion: quick; needs a 3–10× lower learning rate",
    OptimizerKind.ADAFACTOR: "Adafactor: least memory, slower to learn",
    SchedulerKind.CONSTANT: "Constant",
    SchedulerKind.CONSTANT_WITH_WARMUP: "Constant after a warm-up",
    SchedulerKind.LINEAR: "Linear decrease",
    SchedulerKind.COSINE: "Cosine (smooth decrease)",
    SchedulerKind.COSINE_WITH_RESTARTS: "Cosine with restarts",
    SchedulerKind.POLYNOMIAL: "Polynomial decrease",
    Precision.FP32: "fp32 (slow, most exact)",
    Precision.FP16: "fp16 (older GPUs)",
    Precision.BF16: "bf16 (RTX 30xx and newer)",
    NetworkTarget.ATTENTION: "Attention only (smallest)",
    NetworkTarget.ATTENTION_FF: "Attention + feed-forward (kohya LoRA)",
    NetworkTarget.ATTENTION_FF_CONV: "Everything incl. convolutions (LoCon)",
    NetworkAlgo.LORA: "LoRA: the standard (LoCon when convolutions are trained)",
    NetworkAlgo.LOHA: "LoHa: more detail for the same size; good for styles",
    NetworkAlgo.LOKR: "LoKr: very small files; learns broad changes",
    NetworkAlgo.DORA: "DoRA: LoRA that also learns each layer's strength; closer to full tuning",
    EmaTarget.OFF: "Off",
    EmaTarget.MAIN: "In the LoRA file (instead of the last weights)",
    EmaTarget.BESIDE: "In a second file, name-ema.safetensors",
    LatentCache.NONE: "Don't cache (needed for colour jitter)",
    LatentCache.MEMORY: "In memory",
    LatentCache.DISK: "On disk (kept between runs)",
    AlphaHandling.WHITE: "Put on white",
    AlphaHandling.BLACK: "Put on black",
    AlphaHandling.MASK: "Put on white and ignore transparent parts",
    ModelFamily.SD1: "SD 1.5",
    ModelFamily.SD2: "SD 2.x",
    ModelFamily.SDXL: "SDXL",
    ModelFamily.FLUX: "FLUX.1",
    Prediction.EPSILON: "Epsilon (most models)",
    Prediction.V: "V-prediction",
    Prediction.FLOW: "Flow (FLUX.1)",
    TimestepSampling.SIGMA: "sigma: steps of the shifted schedule",
    TimestepSampling.UNIFORM: "uniform: every noise level equally",
    TimestepSampling.SIGMOID: "sigmoid: mostly middle noise levels",
    TimestepSampling.SHIFT: "shift: sigmoid, shifted towards noise (guides' choice)",
    TimestepSampling.FLUX_SHIFT: "flux_shift: shifted by the picture size, as FLUX samples",
    ModelPrediction.RAW: "raw: the output as it is (guides' choice)",
    ModelPrediction.ADDITIVE: "additive: added to the noisy input",
    ModelPrediction.SIGMA_SCALED: "sigma_scaled: scaled by the noise level (sd-scripts' default)",
    WeightingScheme.NONE: "none",
    WeightingScheme.LOGIT_NORMAL: "logit_normal: favour middle noise levels",
    WeightingScheme.MODE: "mode: favour levels by mode scale",
    WeightingScheme.SIGMA_SQRT: "sigma_sqrt: weight the loss by 1/sigma²",
    WeightingScheme.COSMAP: "cosmap: cosine-map weighting",
}
NONE_LABELS: dict[str, str] = {
    "model.family": "Detect from the file",
    "model.prediction": "Detect from the model",
}


def _when(test: Callable[[TrainConfig], bool], reason: str) -> Rule:
    return lambda c, _f: "" if test(c) else reason


def _not_sdxl(c: TrainConfig, family: ModelFamily | None) -> str:
    fam = c.model.family or family
    return "SDXL LoRAs don't use clip skip." if fam == ModelFamily.SDXL else ""


def _family(c: TrainConfig, family: ModelFamily | None) -> ModelFamily | None:
    return c.model.family or family


def _flux_only(c: TrainConfig, family: ModelFamily | None) -> str:
    return "" if _family(c, family) == ModelFamily.FLUX else "Only for FLUX.1 models."


def _not_flux(reason: str, inner: Rule | None = None) -> Rule:
    """``inner``'s rule, and not applicable to FLUX.1 (for ``reason``)."""

    def rule(c: TrainConfig, family: ModelFamily | None) -> str:
        if _family(c, family) == ModelFamily.FLUX:
            return reason
        return inner(c, family) if inner else ""

    return rule


def _flux_and(test: Callable[[TrainConfig], bool], reason: str) -> Rule:
    return lambda c, f: _flux_only(c, f) or ("" if test(c) else reason)


_CONV = _when(lambda c: c.network.target == NetworkTarget.ATTENTION_FF_CONV, "Only used when “What to train” includes convolutions (LoCon).")
_LOKR = _when(lambda c: c.network.algo == NetworkAlgo.LOKR, "Only used for LoKr.")
# FLUX.1 trains plain LoRA: the choice is greyed out, unless another type is set (from an SD run or
# an imported config) — then it stays open so it can be set back to LoRA (validation says why).
_ALGO = _not_flux(FLUX_PLAIN_LORA)


def _algo(c: TrainConfig, family: ModelFamily | None) -> str:
    return _ALGO(c, family) if c.network.algo == NetworkAlgo.LORA else ""


_PLAIN_LORA = _when(lambda c: c.network.algo == NetworkAlgo.LORA, "Continuing from a file works for plain LoRA/LoCon only.")
_EMA = _when(lambda c: c.ema.save != EmaTarget.OFF, "Only used when the weight average is saved.")
_BUCKETS = _when(lambda c: c.dataset.enable_buckets, "Only used when “Keep picture shapes” is on.")
_TAGS = _when(lambda c: c.dataset.shuffle_tags or c.dataset.tag_dropout > 0, "Only used when tags are shuffled or dropped.")
_WARMUP = _when(lambda c: c.scheduler.scheduler != SchedulerKind.CONSTANT, "The constant schedule has no warm-up.")
_PROMPTS = _when(lambda c: bool(c.sample.prompts), "Add at least one sample prompt first.")
_VALIDATION = _when(lambda c: c.validation.split > 0 or c.validation.size > 0, "Only used when some pictures are held out for validation.")
_FROZEN_TE = _when(lambda c: not c.trains_text_encoder, "The text encoders are being trained, so they stay at full precision.")

SPECS: dict[str, FieldSpec] = {
    # -- model
    "model.base_model": FieldSpec("Base model", "The model your LoRA learns on top of: a .safetensors checkpoint or a diffusers folder. Train on the model you will generate with (or its parent), for example SD 1.5 or SDXL base.", brief="The picture model your LoRA builds on: pick the one you will make pictures with.", basic=True, kind="model"),
    "model.family": FieldSpec("Model type", "SD 1.5, SD 2.x or SDXL. Leave on “Detect” unless detection gets it wrong.", hidden=False),
    "model.prediction": FieldSpec("Prediction type", "What the model predicts. Only v-prediction models (some SD 2.x and a few SDXL) need “V-prediction”; if every sample is grey or noise on such a model, set it here.", rule=_not_flux("FLUX.1 always predicts a flow; see “Model output” in the FLUX.1 group.")),
    "model.zero_terminal_snr": FieldSpec("Zero terminal SNR", "Lets a v-prediction model learn very dark and very bright pictures. Only for v-prediction models.", rule=_not_flux("FLUX.1 is a flow model, not a v-prediction one.", _when(lambda c: c.model.prediction == Prediction.V, "Only for v-prediction models."))),
    "model.clip_skip": FieldSpec("Clip skip", "Use 2 for anime models trained that way (NovelAI family), 1 for everything else. Use the same value when you generate.", minimum=1, maximum=12, rule=_not_flux("FLUX.1 takes CLIP-L's pooled output; clip skip does not apply.", _not_sdxl)),
    "model.vae": FieldSpec("Separate VAE", "Optional. A different VAE file to encode pictures with. Leave empty to use the model's own.", kind="file"),
    # -- dataset
    "dataset.path": FieldSpec("Pictures", "The project (or kohya img folder) to train on. Filled in from the open project.", kind="folder"),
    "dataset.caption_extension": FieldSpec("Caption file ending", "For kohya folders: the ending of the caption files next to each picture (.txt or .caption)."),
    "dataset.resolution": FieldSpec("Resolution", "Training size in pixels (one side). 512 for SD 1.5, 768 for SD 2.x, 1024 for SDXL. Lower it if you run out of memory; details get softer.", brief="Picture size it trains at: 512 for SD 1.5, 768 for SD 2.x, 1024 for SDXL.", basic=True, minimum=64, maximum=2048, step=64),
    "dataset.enable_buckets": FieldSpec("Keep picture shapes", "Groups pictures by shape so tall and wide pictures are not cropped to squares. Leave on."),
    "dataset.bucket_min": FieldSpec("Smallest side", "The smallest side a picture shape may have.", minimum=64, maximum=4096, step=64, rule=_BUCKETS),
    "dataset.bucket_max": FieldSpec("Largest side", "The largest side a picture shape may have.", minimum=64, maximum=8192, step=64, rule=_BUCKETS),
    "dataset.bucket_step": FieldSpec("Shape step", "Picture sides are rounded to multiples of this (64 is standard).", minimum=8, maximum=256, step=8, rule=_BUCKETS),
    "dataset.bucket_no_upscale": FieldSpec("Never enlarge small pictures", "Small pictures are trained at their own size instead of being scaled up.", rule=_BUCKETS),
    "dataset.shuffle_tags": FieldSpec("Shuffle tags", "Mixes the order of comma-separated tags each time, so no tag order is learned. Good for tag-style captions."),
    "dataset.keep_tokens": FieldSpec("Keep first tags", "The first N tags (usually your trigger word) stay in front and are never shuffled or dropped.", maximum=50, rule=_TAGS),
    "dataset.tag_separator": FieldSpec("Tag separator", "The character between tags in your captions.", rule=_TAGS),
    "dataset.caption_dropout": FieldSpec("Caption dropout", "How often a picture is trained with an empty caption (0–1). A little (0.05) makes a style apply even without the trigger word.", maximum=1, step=0.05),
    "dataset.tag_dropout": FieldSpec("Tag dropout", "How often each tag is left out (0–1). Helps the LoRA not depend on every tag.", maximum=1, step=0.05),
    "dataset.trigger_word": FieldSpec("Trigger word", "A word put in front of every caption that lacks it. Use a rare word (e.g. “mxstyle”) and type it in your prompts later.", brief="A made-up word (e.g. “mxstyle”) you type in prompts later to switch the LoRA on.", basic=True),
    "dataset.max_token_length": FieldSpec("Caption length", "Longest caption in tokens: 75, 150 or 225. Raise it for long captions.", minimum=75, maximum=225, step=75, rule=_not_flux("FLUX.1 reads captions with T5: see “T5 caption length” in the FLUX.1 group.")),
    "dataset.flip": FieldSpec("Mirror pictures", "Also trains on mirrored pictures: doubles variety. Turn off for text, logos or asymmetric characters."),
    "dataset.color_jitter": FieldSpec("Colour jitter", "Small random colour changes (0–1). Only works when pictures are not cached.", maximum=1, step=0.05, rule=_when(lambda c: c.dataset.latent_cache == LatentCache.NONE, "Needs “Cache pictures” set to “Don't cache”.")),
    "dataset.latent_cache": FieldSpec("Cache pictures", "Encodes every picture once instead of every step. Faster and uses less memory; “On disk” also skips the work next time."),
    "dataset.latent_cache_dir": FieldSpec("Cache folder", "Where the disk cache goes. Empty: the app's cache folder.", kind="folder", rule=_when(lambda c: c.dataset.latent_cache == LatentCache.DISK, "Only used with “On disk” caching.")),
    "dataset.cache_text_encoder_outputs": FieldSpec("Cache caption encodings", "Encodes captions once, which frees memory. Only possible when the text encoder is not trained.", rule=_when(lambda c: not c.network.train_text_encoder, "Not possible while the text encoder is trained.")),
    "dataset.alpha": FieldSpec("Transparent pixels", "What transparent parts of PNG pictures become."),
    "dataset.num_workers": FieldSpec("Loading processes", "Extra processes that load pictures. 0 is safest on Windows.", maximum=16),
    # -- network
    "network.rank": FieldSpec("Rank (size)", "How much the LoRA can learn, and how big the file is. 8–16 for a face or character, 16–32 for a style. Too high can copy your pictures instead of learning from them.", brief="How much the LoRA can learn: 4–32 for a character, higher for a style; bigger files.", basic=True, minimum=1, maximum=512),
    "network.alpha": FieldSpec("Alpha", "Scales the learned change (strength = alpha ÷ rank). Keep alpha ≤ rank; half the rank is common. A lower alpha needs a higher learning rate.", brief="How strongly it applies what it learns: half the rank is usual; never above the rank.", basic=True, minimum=0.01, maximum=512, step=1, decimals=2),
    "network.dropout": FieldSpec("Network dropout", "Randomly switches off part of the LoRA while training (0–0.5). Can reduce copying of the training pictures.", maximum=0.99, step=0.05),
    "network.target": FieldSpec("What to train", "Which layers get LoRA weights. Attention + feed-forward is kohya's standard; LoCon also learns textures and fine style.", rule=_not_flux("FLUX.1 LoRAs train every layer of the transformer blocks (kohya's lora_flux set).")),
    "network.conv_rank": FieldSpec("Convolution rank", "Size of the convolution part (LoCon). 4–16 is usual.", minimum=1, maximum=512, rule=_CONV),
    "network.conv_alpha": FieldSpec("Convolution alpha", "Keep conv alpha ≤ conv rank.", minimum=0.01, maximum=512, decimals=2, rule=_CONV),
    "network.algo": FieldSpec("Network type", "What kind of adapter is trained. LoRA is what every tool reads. LoHa, LoKr and DoRA are saved as LyCORIS files (A1111, ComfyUI and Forge read them): LoHa captures more detail at the same rank, LoKr makes very small files, DoRA learns each layer's strength too.", rule=_algo),
    "network.lokr_factor": FieldSpec("LoKr factor", "How LoKr splits each layer (-1 = as evenly as possible). Small factors (4–8) give bigger, more detailed LoKr files.", minimum=-1, maximum=1024, rule=_LOKR),
    "network.init_weights": FieldSpec(
        "Continue from a LoRA",
        "Optional: start from the weights of an existing LoRA file (kohya, sd-scripts or LoRA Studio) instead of from zero. Use the same base model and rank it was trained with.",
        kind="file",
        rule=_PLAIN_LORA,
    ),
    "network.train_text_encoder": FieldSpec("Also train the text encoder", "Teaches how words map to your subject. Helps characters on SD 1.5; costs memory. Usually off for SDXL. For FLUX.1 only CLIP-L is trained; T5 always stays as it is."),
    # -- optimizer
    "optimizer.optimizer": FieldSpec("Optimizer", "How weights are updated. AdamW is the safe default; AdamW 8-bit saves a little memory; Prodigy picks its own learning rate (set learning rate to 1).", brief="The learning method: keep AdamW unless you have a reason to change it.", basic=True),
    "optimizer.learning_rate": FieldSpec("Learning rate", "How big each learning step is. 1e-4 is a good start. Noise or burnt colours instead of a picture → lower it (e.g. 5e-5). Nothing learned after many steps → raise it.", brief="How fast it learns: 1e-4 is a good start; noisy or burnt samples → lower it.", basic=True, kind="lr", maximum=10),
    "optimizer.unet_lr": FieldSpec("Image model learning rate", "Learning rate for the image model (UNet) only. Noise instead of an image → lower the UNet learning rate.", kind="lr", minimum=-1, maximum=10),
    "optimizer.text_encoder_lr": FieldSpec("Text encoder learning rate", "Usually half the UNet rate or less (5e-5). Too high makes prompts stop working.", kind="lr", minimum=-1, maximum=10, rule=_when(lambda c: c.network.train_text_encoder, "The text encoder is not trained.")),
    "optimizer.weight_decay": FieldSpec("Weight decay", "Pulls weights gently towards zero. 0.01 is fine; rarely worth changing.", maximum=1, step=0.01, decimals=4),
    "optimizer.max_grad_norm": FieldSpec("Gradient clipping", "Limits how big one update can be (0 = no limit). Keeps odd pictures from wrecking the run.", maximum=100, step=0.1, decimals=2),
    "optimizer.args": FieldSpec("Optimizer options", "Extra optimizer settings as key=value, separated by commas (e.g. d_coef=2, betas=0.9 0.99). For experts.", kind="kwargs"),
    # -- scheduler
    "scheduler.scheduler": FieldSpec("Schedule", "How the learning rate changes during the run. Cosine lowers it smoothly towards the end, which often gives cleaner results."),
    "scheduler.warmup_steps": FieldSpec("Warm-up steps", "Starts with a small learning rate for this many steps. Helps against early noise.", maximum=100_000, rule=_WARMUP),
    "scheduler.warmup_ratio": FieldSpec("Warm-up share", "Warm-up as a share of all steps (0.05 = first 5%). Used when warm-up steps is 0.", maximum=0.99, step=0.01, rule=_WARMUP),
    "scheduler.num_cycles": FieldSpec("Restarts", "How many times the cosine schedule starts again.", minimum=1, maximum=100, rule=_when(lambda c: c.scheduler.scheduler == SchedulerKind.COSINE_WITH_RESTARTS, "Only for “Cosine with restarts”.")),
    "scheduler.power": FieldSpec("Decrease power", "Shape of the polynomial decrease (1 = straight line).", maximum=10, step=0.1, rule=_when(lambda c: c.scheduler.scheduler == SchedulerKind.POLYNOMIAL, "Only for “Polynomial decrease”.")),
    # -- loss
    "loss.min_snr_gamma": FieldSpec("Min-SNR gamma", "Balances easy and hard noise levels; 5 often trains faster and cleaner. 0 = off.", maximum=50, step=0.5, decimals=2, rule=_not_flux("FLUX.1 uses flow matching, which has no SNR weighting; see “Loss weighting”.")),
    "loss.noise_offset": FieldSpec("Noise offset", "Lets the LoRA learn very dark or very bright pictures (0.03–0.1). Too high washes out colours.", maximum=1, step=0.01, decimals=4),
    "loss.masked_loss": FieldSpec("Learn only masked areas", "Ignores the parts of pictures you painted black in their masks."),
    "loss.prior_loss_weight": FieldSpec("Regularization weight", "How much regularization pictures count (1 = as much as your pictures).", maximum=10, step=0.1, decimals=2),
    # -- run
    "run.epochs": FieldSpec("Epochs", "How many times every picture (× its repeats) is seen. More epochs = stronger LoRA; compare the saved epochs afterwards and keep the best one.", brief="How many times it studies all your pictures: 10–20 is typical; more = stronger.", basic=True, minimum=1, maximum=1000),
    "run.max_steps": FieldSpec("Stop after steps", "Stops after this many steps, whatever the epochs say. 0 = the epochs decide.", maximum=10_000_000),
    "run.batch_size": FieldSpec("Batch size", "Pictures per step. Higher is faster per picture but needs more memory. Lower it first when you run out of memory.", brief="Pictures studied at once: 1–4; lower it if the graphics card runs out of memory.", basic=True, minimum=1, maximum=64),
    "run.grad_accumulation": FieldSpec("Gradient accumulation", "Acts like a bigger batch without the memory: updates once every N batches.", minimum=1, maximum=64),
    "run.gradient_checkpointing": FieldSpec("Save memory (gradient checkpointing)", "Roughly halves the memory needed, about 20% slower. Turn on for 6–12 GB cards."),
    "memory.unet_weights": FieldSpec("Model weights", "How the base model is kept in memory while training. Full: as is. fp8: keeps the model in 8-bit: uses about half the memory, slightly slower, results almost the same. 8-bit integer: the same saving through bitsandbytes. 4-bit NF4: a quarter of the memory, slower and a little less exact; for 6 GB cards. Your LoRA itself always trains at full precision."),
    "memory.text_encoder_weights": FieldSpec("Text encoder weights", "The same choice for the text encoders when they are not trained. With cached captions they only run once before training starts and are then freed, so this rarely matters.", rule=_FROZEN_TE),
    "memory.blocks_to_swap": FieldSpec("Blocks kept in system memory", "Keeps this many of the model's blocks in the computer's memory and moves each onto the graphics card only while it runs. Same result, less graphics memory; each block costs some speed. 0 = off. Not with 8-bit integer or 4-bit weights.", minimum=0, maximum=64),
    "run.sdpa": FieldSpec("Fast attention (SDPA)", "PyTorch's fast attention. Leave on.", rule=_not_flux("FLUX.1 always uses PyTorch's fast attention.")),
    "run.precision": FieldSpec("Precision", "bf16 if the GPU supports it (RTX 30xx/40xx and newer); fp16 for older cards (watch for NaN loss); fp32 only for debugging.", basic=False),
    "run.save_precision": FieldSpec("File precision", "Number format of the saved LoRA file. fp16 is what every UI expects."),
    "run.seed": FieldSpec("Seed", "Makes a run repeatable: the same seed and settings give the same LoRA.", maximum=2**31 - 1),
    "run.save_every_n_epochs": FieldSpec("Save every N epochs", "Keeps a LoRA file every N epochs so you can compare them and pick the best. 0 = only at the end.", brief="Keep a LoRA file every N epochs (1–2) to pick the best later; 0 = only the end.", basic=True, maximum=1000),
    "run.save_every_n_steps": FieldSpec("Save every N steps", "Also keeps a LoRA file every N steps. 0 = off.", maximum=1_000_000),
    "run.keep_last": FieldSpec("Keep last saved files", "Deletes older in-between LoRA files, keeping this many. 0 = keep all.", maximum=1000),
    "run.state_every_minutes": FieldSpec("Safety save (minutes)", "Saves everything needed to resume every N minutes, so a crash loses little. 0 = only when stopping.", maximum=600, step=5, decimals=1),
    "run.keep_last_states": FieldSpec("Keep safety saves", "How many resume points to keep.", minimum=1, maximum=100),
    "run.output_dir": FieldSpec("Output folder", "Where LoRA files, samples and resume points go.", kind="folder"),
    "run.output_name": FieldSpec("File name", "Name of the LoRA file (without .safetensors).", brief="The name of the LoRA file you get (without .safetensors).", basic=True),
    "run.device": FieldSpec("Device", "auto, cuda, cuda:1 or cpu. Leave on auto."),
    # -- sampling
    "sample.prompts": FieldSpec("Sample prompts", "Pictures made with these prompts while training, so you can watch the LoRA learn. Include your trigger word. Each prompt has its own steps, size, seed and CFG (how closely the picture follows the prompt, usually 5–8).", brief="Test pictures made while it trains, so you can watch it learn; use your trigger word.", basic=True, kind="prompts"),
    "sample.every_n_epochs": FieldSpec("Sample every N epochs", "Makes sample pictures every N epochs. 0 = off.", brief="How often the test pictures are made: every 1–2 epochs; 0 = never.", basic=True, maximum=1000, rule=_PROMPTS),
    "sample.every_n_steps": FieldSpec("Sample every N steps", "Makes sample pictures every N steps. 0 = off.", maximum=1_000_000, rule=_PROMPTS),
    "sample.at_start": FieldSpec("Sample before training", "Makes one set of samples before learning starts, to compare against.", rule=_PROMPTS),
    # -- FLUX.1 (sd-scripts' flux_train_network options, same names and meanings)
    "flux.clip_l": FieldSpec("CLIP-L file", "clip_l.safetensors. Empty: found beside the model or in the models/text_encoders folder.", kind="file", rule=_flux_only),
    "flux.t5xxl": FieldSpec("T5-XXL file", "t5xxl_fp16.safetensors or t5xxl_fp8_e4m3fn.safetensors. Empty: found beside the model or in the models/text_encoders folder.", kind="file", rule=_flux_only),
    "flux.ae": FieldSpec("Autoencoder file", "ae.safetensors. Empty: found beside the model or in the models/vae folder.", kind="file", rule=_flux_only),
    "flux.guidance_scale": FieldSpec("Training guidance", "The distilled guidance FLUX.1-dev is given while it learns (kohya guidance_scale). 1.0 is what the guides use; generate with about 3.5.", maximum=30, step=0.5, decimals=2, rule=_flux_only),
    "flux.timestep_sampling": FieldSpec("Noise levels", "Which noise levels it learns on (kohya timestep_sampling). “shift” is what the guides use; sd-scripts' own default is “sigma”.", rule=_flux_only),
    "flux.sigmoid_scale": FieldSpec("Sigmoid scale", "Spread of the sigmoid-based noise levels (1 = standard; larger = more even).", minimum=0.01, maximum=10, step=0.1, decimals=2, rule=_flux_and(lambda c: c.flux.timestep_sampling in (TimestepSampling.SIGMOID, TimestepSampling.SHIFT, TimestepSampling.FLUX_SHIFT), "Only with sigmoid, shift or flux_shift noise levels.")),
    "flux.discrete_flow_shift": FieldSpec("Flow shift", "Moves the noise levels towards more noise (kohya discrete_flow_shift): 3.1582 in the guides, 3.0 in sd-scripts.", minimum=0.01, maximum=20, step=0.1, decimals=4, rule=_flux_and(lambda c: c.flux.timestep_sampling in (TimestepSampling.SIGMA, TimestepSampling.SHIFT), "Only with sigma or shift noise levels.")),
    "flux.model_prediction_type": FieldSpec("Model output", "How the transformer's output is compared with the target (kohya model_prediction_type). “raw” is what the guides use.", rule=_flux_only),
    "flux.weighting_scheme": FieldSpec("Loss weighting", "SD3-style weighting (kohya weighting_scheme): logit_normal / mode pick the noise levels of “sigma”; sigma_sqrt / cosmap weight the loss of “sigma_scaled”.", rule=_flux_and(lambda c: c.flux.timestep_sampling == TimestepSampling.SIGMA or c.flux.model_prediction_type == ModelPrediction.SIGMA_SCALED, "Only with sigma noise levels or the sigma_scaled model output.")),
    "flux.logit_mean": FieldSpec("Logit mean", "Centre of the logit_normal noise levels.", minimum=-10, maximum=10, step=0.1, decimals=2, rule=_flux_and(lambda c: c.flux.weighting_scheme == WeightingScheme.LOGIT_NORMAL, "Only with logit_normal weighting.")),
    "flux.logit_std": FieldSpec("Logit spread", "Spread of the logit_normal noise levels.", minimum=0.01, maximum=10, step=0.1, decimals=2, rule=_flux_and(lambda c: c.flux.weighting_scheme == WeightingScheme.LOGIT_NORMAL, "Only with logit_normal weighting.")),
    "flux.mode_scale": FieldSpec("Mode scale", "Shape of the mode weighting.", minimum=-10, maximum=10, step=0.01, decimals=2, rule=_flux_and(lambda c: c.flux.weighting_scheme == WeightingScheme.MODE, "Only with mode weighting.")),
    "flux.t5xxl_max_token_length": FieldSpec("T5 caption length", "Tokens of each caption T5 reads (kohya t5xxl_max_token_length). 0: 512 for dev, 256 for schnell. Lower saves memory if your captions are short.", maximum=512, step=64, rule=_flux_only),
    "flux.apply_t5_attn_mask": FieldSpec("Mask T5 padding", "Ignores the empty padding after each caption in T5 and in the transformer's attention (kohya apply_t5_attn_mask).", rule=_flux_only),
    "flux.cache_text_encoder_outputs_to_disk": FieldSpec("Keep caption encodings on disk", "Saves the T5/CLIP outputs of every caption in the cache folder, so later runs skip the text encoders entirely.", rule=_flux_and(lambda c: c.dataset.cache_text_encoder_outputs and not c.network.train_text_encoder, "Needs “Cache caption encodings” on and CLIP-L not trained.")),
    # -- validation
    "validation.split": FieldSpec("Hold out share", "Share of pictures kept aside to measure validation loss (0.1 = 10%). Validation loss going up while training loss goes down means the LoRA starts copying.", maximum=0.9, step=0.05, decimals=2),
    "validation.size": FieldSpec("Hold out pictures", "Or a fixed number of pictures to keep aside (wins over the share).", maximum=10_000),
    "validation.seed": FieldSpec("Validation seed", "Fixes which pictures are held out.", maximum=2**31 - 1, rule=_VALIDATION),
    "validation.every_n_steps": FieldSpec("Validate every N steps", "0 = at the end of each epoch.", maximum=1_000_000, rule=_VALIDATION),
    # -- EMA and logs
    "ema.save": FieldSpec("Save a weight average (EMA)", "Keeps a running average of the LoRA's weights while training, which smooths out the last steps' noise. Save it in the LoRA file itself, or beside it as name-ema.safetensors to compare both."),
    "ema.decay": FieldSpec("EMA decay", "How slowly the average follows the training (0.99–0.9999). Closer to 1 averages over more steps; use lower values for short runs.", minimum=0.0, maximum=0.999999, step=0.001, decimals=6, rule=_EMA),
    "ema.start_step": FieldSpec("EMA start step", "The average starts from the weights after this step; skip the first, unsettled steps (0 = from the first step).", rule=_EMA),
    "ema.every_n_steps": FieldSpec("Update the average every N steps", "1 = every step. Larger values cost less time on big LoRAs.", minimum=1, rule=_EMA),
    "log.tensorboard": FieldSpec("Write TensorBoard logs", "Writes loss, learning rate, validation loss and sample pictures to the run's tensorboard folder, for comparing runs in TensorBoard (tensorboard --logdir <output folder>/tensorboard)."),
}

HIDDEN_FIELDS = frozenset({"schema_version"})


def spec_for(key: str) -> FieldSpec:
    """The spec of ``key``; a generic one for options this table does not know yet."""
    found = SPECS.get(key)
    if found is not None:
        return found
    name = key.rsplit(".", 1)[-1].replace("_", " ")
    return FieldSpec(name[:1].upper() + name[1:], f"Setting “{key}”.")


def why_not_applicable(key: str, config: TrainConfig, family: ModelFamily | None) -> str:
    """"" when ``key`` matters for ``config``, else the reason in plain words."""
    rule = spec_for(key).rule
    return rule(config, family) if rule else ""
