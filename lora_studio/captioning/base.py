"""What every auto-captioner shares: results, options, the ``Captioner`` interface, the registry of
model families, and recognising a model folder by its files. Torch-free and onnxruntime-free, so
the Dataset panel can list captioners without loading any engine.

One class per model family lives in ``lora_studio.captioning.models``; the registry below names it
by module and class, and :func:`captioner_class` imports it only when it is needed.

Model folders live in the app's ``models/captioners`` folder (``AppSettings().captioner_folders()``),
one sub-folder per model, holding the files exactly as the model's Hugging Face repository has them.
Nothing here ever downloads: see ``lora_studio.captioning.download`` for the optional download.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
import importlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from lora_studio.core.errors import ModelLoadError

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)


class TagCategory(enum.StrEnum):
    """The kind of a tagger's tag (WD14 ``selected_tags.csv`` categories 0, 4 and 9)."""

    GENERAL = "general"
    CHARACTER = "character"
    RATING = "rating"


class OutputKind(enum.StrEnum):
    """What a captioner writes: a comma-separated tag list, or a sentence."""

    TAGS = "tags"
    SENTENCE = "sentence"


@dataclass(frozen=True, slots=True)
class TagScore:
    """One tag with the model's confidence (0..1)."""

    tag: str
    score: float
    category: TagCategory = TagCategory.GENERAL


@dataclass(frozen=True, slots=True)
class CaptionResult:
    """What a captioner says about one image: the caption text, plus the tags with scores (taggers)."""

    text: str
    tags: tuple[TagScore, ...] = ()


# -- options --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CaptionOptions:
    """Options every captioner understands. Each family has a subclass with its own settings."""

    device: str = "auto"  # "auto" (graphics card when there is one), "cpu", "cuda", "cuda:1" ...
    batch_size: int = 4

    def for_trigger(self, trigger: str) -> CaptionOptions:
        """These options for pictures with this trigger word (captioners that are told it override)."""
        return self


@dataclass(frozen=True, kw_only=True)
class TaggerOptions(CaptionOptions):
    """WD14-style tagger settings (defaults follow the values the WD taggers are usually run with)."""

    general_threshold: float = 0.35
    character_threshold: float = 0.85
    include_rating: bool = False  # add the most likely rating tag (general, sensitive, ...)
    exclude_tags: tuple[str, ...] = ()  # never write these (compared without case and "_" vs " ")
    replace_underscores: bool = True  # "long_hair" -> "long hair"; kaomoji such as "^_^" stay intact
    max_tags: int = 0  # 0 = no limit; else keep only the highest-scoring tags


@dataclass(frozen=True, kw_only=True)
class SentenceOptions(CaptionOptions):
    """Natural-language captioner settings (BLIP)."""

    prompt: str = ""  # conditional captioning: the caption starts with this text ("a photo of")
    keep_prompt: bool = True  # False: drop the prompt text from the start of the caption
    max_new_tokens: int = 40
    min_new_tokens: int = 5
    num_beams: int = 3
    repetition_penalty: float = 1.0


class FlorenceTask(enum.StrEnum):
    """Florence-2's caption tasks (the task token is the whole prompt)."""

    CAPTION = "<CAPTION>"
    DETAILED = "<DETAILED_CAPTION>"
    MORE_DETAILED = "<MORE_DETAILED_CAPTION>"


@dataclass(frozen=True, kw_only=True)
class FlorenceOptions(CaptionOptions):
    """Florence-2 settings: which caption task, and the length (the detailed tasks need more tokens)."""

    task: FlorenceTask = FlorenceTask.DETAILED  # the FluxGym default
    max_new_tokens: int = 256
    min_new_tokens: int = 1
    num_beams: int = 3


class Quantization(enum.StrEnum):
    """How a large captioner is loaded on a graphics card (bitsandbytes; ignored on the CPU)."""

    NONE = "none"
    EIGHT_BIT = "8bit"
    FOUR_BIT = "4bit"


DEFAULT_INSTRUCTION = (
    "Write one descriptive caption for this picture in plain English, as a single paragraph. "
    "Describe the subject, clothes, pose, setting and lighting."
)
DEFAULT_SYSTEM = "You are a helpful image captioner."
TRIGGER_PLACEHOLDER = "{trigger}"
TRIGGER_SENTENCE = "Refer to the main subject as {trigger}."


@dataclass(frozen=True, kw_only=True)
class InstructOptions(CaptionOptions):
    """Vision-language captioners (Qwen-VL, JoyCaption): an editable instruction.

    ``{trigger}`` in the instruction becomes the pictures' trigger word; with ``name_trigger`` and
    no placeholder, a sentence asking the model to call the subject by it is added.
    """

    instruction: str = DEFAULT_INSTRUCTION
    system: str = DEFAULT_SYSTEM
    trigger: str = ""  # filled in per concept by the run (see ``for_trigger``)
    name_trigger: bool = True
    max_new_tokens: int = 200
    min_new_tokens: int = 1
    quantization: Quantization = Quantization.NONE
    batch_size: int = 1

    def for_trigger(self, trigger: str) -> InstructOptions:
        return dataclasses.replace(self, trigger=trigger.strip())

    def prompt_text(self) -> str:
        """The instruction the model receives, with the trigger word put in."""
        text = self.instruction.strip() or DEFAULT_INSTRUCTION
        if TRIGGER_PLACEHOLDER in text:
            return text.replace(TRIGGER_PLACEHOLDER, self.trigger or "the subject")
        if self.trigger and self.name_trigger:
            return f"{text} {TRIGGER_SENTENCE.format(trigger=self.trigger)}"
        return text


# -- the interface --------------------------------------------------------------------------------------


class Captioner(abc.ABC):
    """One model family. Use: ``c = cls(); c.load(folder, device); c.caption(images, options)``.

    ``load`` raises :class:`ModelLoadError` whose message names the missing or broken files.
    ``caption`` is called from a worker thread, one batch at a time; it must not touch the dataset.
    """

    kind: ClassVar[str]
    options_type: ClassVar[type[CaptionOptions]] = CaptionOptions

    def __init__(self) -> None:
        self.model_dir: Path | None = None

    def prepare(self, options: CaptionOptions) -> None:  # noqa: B027 - optional hook
        """Take the settings that decide how the model loads (e.g. 4-bit), before ``load``."""

    @abc.abstractmethod
    def load(self, model_dir: str | os.PathLike[str], device: str = "auto") -> None:
        """Load the model from ``model_dir`` (local files only)."""

    @abc.abstractmethod
    def caption(self, images: Sequence[Image.Image], options: CaptionOptions) -> list[CaptionResult]:
        """One result per image, in order. Images are RGB."""

    def unload(self) -> None:
        """Free the model's memory (the object can be loaded again)."""
        self.model_dir = None

    @property
    def loaded(self) -> bool:
        return self.model_dir is not None

    def check_options(self, options: CaptionOptions) -> None:
        if not isinstance(options, self.options_type):
            raise TypeError(
                f"{type(self).__name__} needs {self.options_type.__name__}, got {type(options).__name__}"
            )


# -- registry -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaptionerSpec:
    """What the app knows about a model family without importing it."""

    kind: str
    label: str  # shown in the UI
    module: str  # where the Captioner subclass lives (imported lazily)
    class_name: str
    output: OutputKind
    options_type: type[CaptionOptions]
    required_files: tuple[tuple[str, ...], ...]  # each entry: alternatives, one of which must exist
    example_repo: str  # the Hugging Face repository users usually take the files from
    default_folder_name: str  # the sub-folder name of models/captioners suggested to users
    description: str = ""

    def describe_files(self) -> str:
        """``"model.onnx and selected_tags.csv"``, alternatives joined with "or"."""
        return _join_words([" or ".join(alts) for alts in self.required_files])

    def missing_files(self, folder: Path) -> list[tuple[str, ...]]:
        """The required entries with none of their alternatives present in ``folder``."""
        return [alts for alts in self.required_files if not any((folder / name).is_file() for name in alts)]


def _join_words(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


_REGISTRY: dict[str, CaptionerSpec] = {}


def register(spec: CaptionerSpec) -> CaptionerSpec:
    """Add (or replace) a model family."""
    _REGISTRY[spec.kind] = spec
    return spec


def captioner_specs() -> list[CaptionerSpec]:
    """All known model families, in registration order."""
    return list(_REGISTRY.values())


def get_spec(kind: str) -> CaptionerSpec:
    try:
        return _REGISTRY[kind]
    except KeyError:
        known = ", ".join(_REGISTRY)
        raise ModelLoadError(
            f"There is no captioner called {kind!r}.", hint=f"Known captioners: {known}."
        ) from None


def captioner_class(kind: str) -> type[Captioner]:
    """Import and return the class for ``kind`` (this imports onnxruntime or torch)."""
    spec = get_spec(kind)
    module = importlib.import_module(spec.module)
    cls = getattr(module, spec.class_name)
    if not (isinstance(cls, type) and issubclass(cls, Captioner)):
        raise TypeError(f"{spec.module}.{spec.class_name} is not a Captioner")
    return cls


WD14 = register(
    CaptionerSpec(
        kind="wd14",
        label="WD14 tagger (anime-style tags; v3 SwinV2, ConvNeXt, ViT, EVA02)",
        module="lora_studio.captioning.models.wd14",
        class_name="WD14Tagger",
        output=OutputKind.TAGS,
        options_type=TaggerOptions,
        required_files=(("model.onnx",), ("selected_tags.csv",)),
        example_repo="SmilingWolf/wd-swinv2-tagger-v3",
        default_folder_name="wd-swinv2-tagger-v3",
        description="Booru-style tags with scores; fast on the CPU. Any of the v3 taggers (wd-swinv2, "
        "wd-convnext, wd-vit, wd-vit-large, wd-eva02-large) or the older v2 ones.",
    )
)

BLIP = register(
    CaptionerSpec(
        kind="blip",
        label="BLIP (one sentence per image)",
        module="lora_studio.captioning.models.blip",
        class_name="BlipCaptioner",
        output=OutputKind.SENTENCE,
        options_type=SentenceOptions,
        required_files=(
            ("config.json",),
            ("model.safetensors", "pytorch_model.bin"),
            ("preprocessor_config.json", "processor_config.json"),
            ("tokenizer.json", "vocab.txt"),
        ),
        example_repo="Salesforce/blip-image-captioning-base",
        default_folder_name="blip-image-captioning-base",
        description="Short natural-language captions; also Salesforce/blip-image-captioning-large.",
    )
)


_TRANSFORMERS_FILES = (
    ("config.json",),
    ("model.safetensors", "model.safetensors.index.json"),
    ("preprocessor_config.json", "processor_config.json"),
    ("tokenizer.json", "vocab.json", "tokenizer.model"),
)

FLORENCE2 = register(
    CaptionerSpec(
        kind="florence2",
        label="Florence-2 (detailed sentences)",
        module="lora_studio.captioning.models.florence2",
        class_name="Florence2Captioner",
        output=OutputKind.SENTENCE,
        options_type=FlorenceOptions,
        required_files=_TRANSFORMERS_FILES,
        example_repo="florence-community/Florence-2-base",
        default_folder_name="Florence-2-base",
        description="Short, detailed or very detailed natural-language captions (the FluxGym default); "
        "also florence-community/Florence-2-large. Runs on the CPU too.",
    )
)

QWEN_VL = register(
    CaptionerSpec(
        kind="qwen_vl",
        label="Qwen-VL (follows your instruction)",
        module="lora_studio.captioning.models.vlm",
        class_name="QwenVLCaptioner",
        output=OutputKind.SENTENCE,
        options_type=InstructOptions,
        required_files=_TRANSFORMERS_FILES,
        example_repo="Qwen/Qwen2.5-VL-3B-Instruct",
        default_folder_name="Qwen2.5-VL-3B-Instruct",
        description='Describes what you ask for ("the clothes and pose, not the art style"). Qwen2-VL, '
        "Qwen2.5-VL and Qwen3-VL (2B-4B fit an 8 GB card in 4-bit); slow on the CPU.",
    )
)

LLAVA = register(
    CaptionerSpec(
        kind="llava",
        label="JoyCaption / LLaVA (follows your instruction)",
        module="lora_studio.captioning.models.vlm",
        class_name="LlavaCaptioner",
        output=OutputKind.SENTENCE,
        options_type=InstructOptions,
        required_files=_TRANSFORMERS_FILES,
        example_repo="fancyfeast/llama-joycaption-beta-one-hf-llava",
        default_folder_name="llama-joycaption-beta-one-hf-llava",
        description="JoyCaption: uncensored, detailed captions written for training; 8B, so use 4-bit on "
        "an 8 GB card. Other LLaVA-architecture models in the transformers layout work too.",
    )
)

# The WD taggers people use (all the same layout: model.onnx + selected_tags.csv).
WD_TAGGER_REPOS = (
    "SmilingWolf/wd-swinv2-tagger-v3",
    "SmilingWolf/wd-convnext-tagger-v3",
    "SmilingWolf/wd-vit-tagger-v3",
    "SmilingWolf/wd-vit-large-tagger-v3",
    "SmilingWolf/wd-eva02-large-tagger-v3",
    "SmilingWolf/wd-v1-4-moat-tagger-v2",
)

# config.json "model_type" -> captioner kind
MODEL_TYPES = {
    "florence2": FLORENCE2.kind,
    "qwen2_vl": QWEN_VL.kind,
    "qwen2_5_vl": QWEN_VL.kind,
    "qwen3_vl": QWEN_VL.kind,
    "llava": LLAVA.kind,
}


# -- model folders --------------------------------------------------------------------------------------


def _read_config_model_type(folder: Path) -> str:
    try:
        data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    if not isinstance(data, dict):
        return ""
    model_type = str(data.get("model_type", ""))
    archs = data.get("architectures") or []
    if not model_type and archs:
        model_type = str(archs[0])
    return model_type.lower()


def detect_model_kind(folder: str | os.PathLike[str]) -> str | None:
    """Which captioner family a folder holds, judged by its files; None when it is none we know.

    A folder that is only partly there still counts (``model.onnx`` without ``selected_tags.csv`` is
    a WD14 tagger with a missing file), so the UI can say exactly what to add.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    if (folder / "bg_remover.json").is_file():
        return None  # a background remover's model.onnx (captioning.masking), not a tagger
    if (folder / "model.onnx").is_file() or (folder / "selected_tags.csv").is_file():
        return WD14.kind
    model_type = _read_config_model_type(folder)
    if model_type.startswith("blip") and "blip-2" not in model_type and "blip_2" not in model_type:
        return BLIP.kind
    return MODEL_TYPES.get(model_type)


def missing_model_message(kind: str, folder: str | os.PathLike[str] | None = None) -> str:
    """Plain words that say which files to put where for ``kind``.

    ``folder`` is the model's own folder; by default ``<first captioner folder>/<suggested name>``.
    When the folder exists, only the files that are actually missing are named.
    """
    spec = get_spec(kind)
    target = Path(folder) if folder is not None else default_model_dir(kind)
    missing = spec.missing_files(target) if target.is_dir() else list(spec.required_files)
    files = _join_words([" or ".join(alts) for alts in missing]) if missing else spec.describe_files()
    return f"Put {files} from {spec.example_repo} (huggingface.co/{spec.example_repo}) into {target}{os.sep}"


def default_model_dir(kind: str) -> Path:
    """Where the app suggests putting a model of this family."""
    from lora_studio.core.settings import load_settings

    return load_settings().captioner_folders()[0] / get_spec(kind).default_folder_name


@dataclass(frozen=True, slots=True)
class ModelFolder:
    """A captioner model folder found on disk."""

    path: Path
    kind: str | None  # None: not a captioner we know
    problem: str = ""  # empty when the folder is complete and usable

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def usable(self) -> bool:
        return self.kind is not None and not self.problem

    @property
    def label(self) -> str:
        family = get_spec(self.kind).label if self.kind else "unknown model"
        return f"{self.name} — {family}"


def inspect_model_folder(folder: str | os.PathLike[str]) -> ModelFolder:
    """Recognise ``folder`` and say what, if anything, is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        return ModelFolder(folder, None, f"The folder {folder} does not exist.")
    kind = detect_model_kind(folder)
    if kind is None:
        known = "; ".join(f"{s.label}: {s.describe_files()}" for s in captioner_specs())
        return ModelFolder(
            folder, None, f"No captioning model files were found in {folder}. Expected {known}."
        )
    if get_spec(kind).missing_files(folder):
        return ModelFolder(folder, kind, missing_model_message(kind, folder))
    return ModelFolder(folder, kind)


def find_model_folders(roots: Sequence[str | os.PathLike[str]] | None = None) -> list[ModelFolder]:
    """Every captioner folder directly inside the captioner folders (default: the app settings).

    A root that is itself a model folder is listed too. Folders that hold nothing we know are left
    out; partly complete ones are listed with their ``problem`` so the UI can show what to add.
    """
    if roots is None:
        from lora_studio.core.settings import load_settings

        roots = load_settings().captioner_folders()
    found: list[ModelFolder] = []
    for root in (Path(r) for r in roots):
        if not root.is_dir():
            continue
        candidates = [
            root,
            *sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name.casefold()),
        ]
        for folder in candidates:
            if detect_model_kind(folder) is not None:
                found.append(inspect_model_folder(folder))
    return found


def not_installed_entries(found: Sequence[ModelFolder], root: str | os.PathLike[str]) -> list[ModelFolder]:
    """One entry per captioner family with no folder among ``found``: where its files would go under
    ``root`` and, as its problem, what to put there — so a list can offer every captioner."""
    have = {f.kind for f in found}
    entries = []
    for spec in captioner_specs():
        if spec.kind not in have:
            target = Path(root) / spec.default_folder_name
            entries.append(
                ModelFolder(target, spec.kind, f"Not installed. {missing_model_message(spec.kind, target)}")
            )
    return entries


def load_captioner(
    model_dir: str | os.PathLike[str],
    device: str = "auto",
    kind: str | None = None,
    options: CaptionOptions | None = None,
) -> Captioner:
    """Recognise the folder, import its family's engine, load it. Raises ModelLoadError with the fix.

    ``options``: the run's options, for the settings that decide how the model loads (4-bit ...)."""
    model_dir = Path(model_dir)
    info = inspect_model_folder(model_dir)
    if kind is None:
        kind = info.kind
    if kind is None:
        raise ModelLoadError(info.problem, hint="Pick a folder from models/captioners that holds a model.")
    if info.problem and info.kind == kind:
        raise ModelLoadError(f"The captioning model in {model_dir.name} is incomplete.", hint=info.problem)
    captioner = captioner_class(kind)()
    if options is not None and isinstance(options, captioner.options_type):
        captioner.prepare(options)
    captioner.load(model_dir, device)
    return captioner
