"""What to generate: requests, results, sampler names and the ``<lora:name:weight>`` prompt syntax
(parsing and editing the tags: the one place the tag pattern lives).

Torch-free (import-linter checks it): the app builds requests on the UI thread and hands them to a
worker that owns the :class:`~lora_studio.generation.engine.GenerationEngine`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from lora_studio.core.errors import GenerationError
from lora_studio.generation.hires import HiresFix

LORA_WEIGHT_MIN = -2.0
LORA_WEIGHT_MAX = 2.0
LORA_EXTENSIONS = (".safetensors",)

# A1111 sampler names (>= 1.9 separates the sampler from the schedule type).
SAMPLERS: tuple[str, ...] = (
    "Euler a",
    "Euler",
    "DPM++ 2M",
    "DPM++ 2M SDE",
    "DPM++ SDE",
    "DDIM",
    "UniPC",
    "LMS",
    "Heun",
    "DPM2",
    "DPM2 a",
)
SCHEDULE_TYPES: tuple[str, ...] = ("Automatic", "Karras", "Exponential", "SGM Uniform", "Simple", "Beta")
DEFAULT_SAMPLER = "Euler a"
DEFAULT_SCHEDULE = "Automatic"

# FLUX.1 (flow matching): the names Forge shows and writes. Forge's FLUX default is Euler with the
# Simple schedule, CFG scale 1 (no real CFG) and "Distilled CFG Scale" 3.5 (dev's guidance input).
FLOW_SAMPLERS: tuple[str, ...] = ("Euler",)
FLOW_SCHEDULES: tuple[str, ...] = ("Simple", "Beta", "Karras", "Exponential")
DISTILLED_CFG_DEFAULT = 3.5
DISTILLED_CFG_MAX = 30.0


@dataclass(frozen=True, slots=True)
class FamilyDefaults:
    """What a model family starts with in the CLI and the Generation panel."""

    sampler: str
    schedule: str
    steps: int
    cfg: float
    distilled_cfg: float | None  # None: the model has no distilled guidance (SD, FLUX.1 schnell)


def family_defaults(family: str, *, schnell: bool = False) -> FamilyDefaults:
    """Defaults for ``family`` (a ``ModelFamily`` value); FLUX.1 schnell: 4 steps, no guidance."""
    if family == "flux":
        if schnell:
            return FamilyDefaults("Euler", "Simple", 4, 1.0, None)
        return FamilyDefaults("Euler", "Simple", 20, 1.0, DISTILLED_CFG_DEFAULT)
    return FamilyDefaults(DEFAULT_SAMPLER, DEFAULT_SCHEDULE, 20, 7.0, None)


BASE_WEIGHT_CHOICES: tuple[str, ...] = ("full", "fp8", "nf4")  # lora_studio.diffusion.base_weights values

_SCHEDULE_ALIASES = {s.lower(): s for s in SCHEDULE_TYPES}
_SCHEDULE_ALIASES.update({"uniform": "Automatic", "sgm_uniform": "SGM Uniform", "normal": "Automatic"})
_SAMPLER_ALIASES = {s.lower(): s for s in SAMPLERS}
_SAMPLER_ALIASES.update(
    {
        "euler_a": "Euler a",
        "euler_ancestral": "Euler a",
        "dpmpp_2m": "DPM++ 2M",
        "dpmpp_2m_sde": "DPM++ 2M SDE",
        "dpmpp_sde": "DPM++ SDE",
        "dpm2_a": "DPM2 a",
        "k_lms": "LMS",
        "plms": "LMS",
    }
)


def split_sampler_name(name: str, schedule: str | None = None) -> tuple[str, str]:
    """Normalise a sampler name to ``(sampler, schedule type)``.

    Accepts the old combined names ("DPM++ 2M Karras", "DPM++ SDE Karras", "LMS Karras"), our own
    lowercase aliases and the >= 1.9 split form. Unknown names raise :class:`GenerationError`.
    """
    raw = " ".join(name.strip().split())
    sched = schedule
    low = raw.lower()
    for label in sorted(SCHEDULE_TYPES[1:], key=len, reverse=True):
        if low.endswith(" " + label.lower()):
            raw, sched = raw[: -len(label) - 1], label
            low = raw.lower()
            break
    sampler = _SAMPLER_ALIASES.get(low)
    if sampler is None:
        raise GenerationError(
            f"Unknown sampler “{name}”.", hint="Choose one of: " + ", ".join(SAMPLERS) + "."
        )
    sched_norm = _SCHEDULE_ALIASES.get((sched or DEFAULT_SCHEDULE).strip().lower())
    if sched_norm is None:
        raise GenerationError(
            f"Unknown schedule type “{sched}”.", hint="Choose one of: " + ", ".join(SCHEDULE_TYPES) + "."
        )
    return sampler, sched_norm


@dataclass(frozen=True, slots=True)
class LoraSpec:
    """One LoRA to apply: a file and its strength (A1111 multiplier, -2..2).

    ``unet_weight``/``te_weight`` override ``weight`` for the UNet or the text encoder(s) when set.
    """

    path: str
    weight: float = 1.0
    enabled: bool = True
    unet_weight: float | None = None
    te_weight: float | None = None

    @property
    def name(self) -> str:
        """The file name without extension, as A1111 shows it."""
        return Path(self.path).stem

    @property
    def effective_unet(self) -> float:
        return self.weight if self.unet_weight is None else self.unet_weight

    @property
    def effective_te(self) -> float:
        return self.weight if self.te_weight is None else self.te_weight


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """Everything needed to reproduce a set of images. Plain data, safe to pass between threads."""

    model: str
    prompt: str
    negative: str = ""
    loras: tuple[LoraSpec, ...] = ()
    sampler: str = DEFAULT_SAMPLER
    schedule: str = DEFAULT_SCHEDULE
    steps: int = 20
    cfg: float = 7.0
    seed: int = -1
    clip_skip: int = 1  # A1111 convention: 1 = last layer, 2 = penultimate
    width: int | None = None  # None: the model family's native size
    height: int | None = None
    batch_count: int = 1
    batch_size: int = 1
    init_image: str | None = None  # img2img when set
    strength: float = 0.75  # denoising strength for img2img / inpainting
    mask: str | None = None  # inpainting when set (white = repaint)
    output_dir: str = "outputs"
    file_prefix: str = ""
    fuse_loras: bool = True  # fuse when the LoRA set and weights are fixed for the batch
    preview_every: int = 0  # 0: no previews; n: a preview every n steps
    hires: HiresFix | None = None  # A1111's hires fix (txt2img only); None: off
    distilled_cfg: float | None = None  # FLUX.1-dev guidance ("Distilled CFG Scale"); None: 3.5
    base_weights: str = "full"  # how the denoiser is held: "full", "fp8" (float8 storage) or "nf4"

    @property
    def active_loras(self) -> tuple[LoraSpec, ...]:
        return tuple(spec for spec in self.loras if spec.enabled)

    @property
    def image_count(self) -> int:
        return self.batch_count * self.batch_size

    def with_(self, **changes: object) -> GenerationRequest:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def validate(self) -> list[str]:
        """Every problem at once (empty when the request can run)."""
        problems: list[str] = []
        if not self.model:
            problems.append("No model chosen.")
        if not 1 <= self.steps <= 500:
            problems.append(f"Steps must be between 1 and 500 (got {self.steps}).")
        if not 0.0 <= self.cfg <= 50.0:
            problems.append(f"CFG scale must be between 0 and 50 (got {self.cfg}).")
        if self.distilled_cfg is not None and not 0.0 <= self.distilled_cfg <= DISTILLED_CFG_MAX:
            problems.append(f"Distilled CFG Scale must be between 0 and 30 (got {self.distilled_cfg}).")
        if self.base_weights not in BASE_WEIGHT_CHOICES:
            problems.append(
                f"Unknown model weight storage “{self.base_weights}” (choose {', '.join(BASE_WEIGHT_CHOICES)})."
            )
        if self.clip_skip < 1 or self.clip_skip > 12:
            problems.append(f"Clip skip must be between 1 and 12 (got {self.clip_skip}).")
        for label, value in (("Width", self.width), ("Height", self.height)):
            if value is not None and (value < 8 or value % 8):
                problems.append(f"{label} must be a positive multiple of 8 (got {value}).")
        if self.batch_count < 1 or self.batch_size < 1:
            problems.append("Batch count and batch size must be at least 1.")
        if not 0.0 < self.strength <= 1.0 and (self.init_image or self.mask):
            problems.append(f"Denoising strength must be in (0, 1] (got {self.strength}).")
        if self.mask and not self.init_image:
            problems.append("Inpainting needs an init image as well as a mask.")
        for spec in self.loras:
            if not LORA_WEIGHT_MIN <= spec.weight <= LORA_WEIGHT_MAX:
                problems.append(f"LoRA “{spec.name}” weight {spec.weight} is outside -2..2.")
        if self.hires is not None:
            problems.extend(self.hires.validate())
        try:
            split_sampler_name(self.sampler, self.schedule)
        except GenerationError as exc:
            problems.append(exc.message)
        return problems


@dataclass(frozen=True, slots=True)
class GenerationResult:
    """What a finished request produced: one entry per image, in order."""

    paths: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()
    infotexts: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())


# --- <lora:name:weight> -------------------------------------------------------------------------
# The one pattern for LoRA tags in the code base: ``<lora:name>``, ``<lora:name:0.8>``,
# ``<lora:name:0.8:unet=1:te=0.5>`` (``<lyco:…>`` too). Group 1 is the name, group 2 the tail.
_LORA_TAG = re.compile(r"<(?:lora|lyco):([^:>]+)(?::([^>]*))?>", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PromptLora:
    """A ``<lora:name:weight>`` tag found in a prompt (``te``/``unet`` named args are honoured)."""

    name: str
    weight: float = 1.0
    unet_weight: float | None = None
    te_weight: float | None = None


def _parse_tag(match: re.Match[str]) -> PromptLora:
    """One matched tag as a :class:`PromptLora`; raises GenerationError for an unreadable weight."""
    name = match.group(1).strip()
    weight, unet_w, te_w = 1.0, None, None
    for i, part in enumerate((match.group(2) or "").split(":")):
        part = part.strip()
        if not part:
            continue
        key, _, value = part.partition("=")
        try:
            if value:
                if key.strip().lower() == "unet":
                    unet_w = float(value)
                elif key.strip().lower() == "te":
                    te_w = float(value)
            elif i == 0:
                weight = float(part)
        except ValueError as exc:
            raise GenerationError(
                f"Cannot read the weight in “{match.group(0)}”.",
                hint="Write it like <lora:name:0.8>.",
            ) from exc
    return PromptLora(name, weight, unet_w, te_w)


def _tidy(text: str) -> str:
    """Collapse the spaces and commas a removed tag leaves behind."""
    text = re.sub(r"[ \t]{2,}", " ", text)
    return re.sub(r"\s*,(\s*,)+", ",", text).strip().strip(",").strip()


def extract_lora_tags(prompt: str) -> tuple[str, list[PromptLora]]:
    """Strip ``<lora:name[:weight[:unet=..][:te=..]]>`` tags; return the clean prompt and the tags.

    Raises GenerationError when a tag's weight cannot be read."""
    tags: list[PromptLora] = []

    def take(match: re.Match[str]) -> str:
        tags.append(_parse_tag(match))
        return ""

    return _tidy(_LORA_TAG.sub(take, prompt)), tags


def read_lora_tags(text: str) -> list[PromptLora]:
    """The complete, readable tags in ``text`` (a half-typed one such as ``<lora:a:0.`` is ignored,
    and so is a tag whose weight can't be read), for editors that parse as the user types."""
    tags: list[PromptLora] = []
    for match in _LORA_TAG.finditer(text):
        try:
            tags.append(_parse_tag(match))
        except GenerationError:
            continue
    return tags


def strip_lora_tags(text: str) -> str:
    """``text`` without any LoRA tag (for token counting and captions)."""
    return _tidy(_LORA_TAG.sub("", text))


def format_weight(weight: float) -> str:
    """A weight as the prompt editor writes it: at most two decimals, no trailing zeros."""
    text = f"{weight:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def lora_tag(
    name: str,
    weight: float,
    unet_weight: float | None = None,
    te_weight: float | None = None,
    *,
    number: Callable[[float], str] = format_weight,
) -> str:
    """``<lora:name:weight>``, with ``:unet=…``/``:te=…`` when those are set."""
    parts = [f"<lora:{name}:{number(weight)}"]
    if unet_weight is not None:
        parts.append(f"unet={number(unet_weight)}")
    if te_weight is not None:
        parts.append(f"te={number(te_weight)}")
    return ":".join(parts) + ">"


def _tags_named(text: str, name: str) -> list[re.Match[str]]:
    wanted = name.strip().lower()
    return [m for m in _LORA_TAG.finditer(text) if m.group(1).strip().lower() == wanted]


def set_lora_tag(
    text: str,
    name: str,
    weight: float,
    *,
    unet_weight: float | None = None,
    te_weight: float | None = None,
) -> str:
    """Put ``<lora:name:weight>`` in ``text``: replace the first existing tag, else append one.

    Per-part weights (``unet=``/``te=``) given here are written; those not given are kept from the
    tag being replaced, so changing the overall weight never drops them.
    """
    found = _tags_named(text, name)
    if found:
        first = found[0]
        try:
            old = _parse_tag(first)
        except GenerationError:
            old = PromptLora(name)
        tag = lora_tag(
            name,
            weight,
            old.unet_weight if unet_weight is None else unet_weight,
            old.te_weight if te_weight is None else te_weight,
        )
        return text[: first.start()] + tag + text[first.end() :]
    tag = lora_tag(name, weight, unet_weight, te_weight)
    stripped = text.rstrip()
    if not stripped:
        return tag
    separator = " " if stripped.endswith((",", ">")) else ", "
    return stripped + separator + tag


def remove_lora_tag(text: str, name: str) -> str:
    """Remove every tag for ``name`` and tidy the commas and spaces it leaves behind."""
    found = _tags_named(text, name)
    if not found:
        return text
    for match in reversed(found):
        text = text[: match.start()] + text[match.end() :]
    return _tidy(text)


def find_lora_file(name: str, lora_dirs: Iterable[str | os.PathLike[str]]) -> Path:
    """Find ``name`` (file stem, case-insensitive, sub-folders searched) in the LoRA folders."""
    dirs = [Path(d) for d in lora_dirs]
    direct = Path(name)
    if direct.suffix.lower() in LORA_EXTENSIONS and direct.is_file():
        return direct
    wanted = name.lower()
    for folder in dirs:
        if not folder.is_dir():
            continue
        for ext in LORA_EXTENSIONS:
            exact = folder / f"{name}{ext}"
            if exact.is_file():
                return exact
        for candidate in sorted(folder.rglob("*")):
            if candidate.suffix.lower() in LORA_EXTENSIONS and candidate.stem.lower() == wanted:
                return candidate
    searched = ", ".join(str(d) for d in dirs) or "(no LoRA folders set)"
    raise GenerationError(
        f"LoRA “{name}” was not found.",
        hint=f"Searched: {searched}. Put the file in one of these folders or fix the name in the prompt.",
    )


def resolve_prompt_loras(
    request: GenerationRequest, lora_dirs: Sequence[str | os.PathLike[str]]
) -> GenerationRequest:
    """Move ``<lora:…>`` tags from the prompt (and negative prompt) into ``request.loras``.

    A tag naming a LoRA already in the list overrides its weight.
    """
    prompt, tags = extract_lora_tags(request.prompt)
    negative, neg_tags = extract_lora_tags(request.negative)
    if not tags and not neg_tags:
        return request
    loras = list(request.loras)
    for tag in [*tags, *neg_tags]:
        path = find_lora_file(tag.name, lora_dirs)
        spec = LoraSpec(str(path), tag.weight, True, tag.unet_weight, tag.te_weight)
        for i, existing in enumerate(loras):
            if Path(existing.path).resolve() == path.resolve():
                loras[i] = spec
                break
        else:
            loras.append(spec)
    return replace(request, prompt=prompt, negative=negative, loras=tuple(loras))
