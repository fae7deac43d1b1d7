"""The captioning and masking models LoRA Studio can download, and where each one goes.

Torch-free and network-free: this is plain data the Models dialog lists and the downloader
(:mod:`lora_studio.captioning.download`) reads. Each entry names a Hugging Face repository, the files
to take from it, its licence, what it is good for, and its folder under ``models/captioners/`` — the
folder the captioners read, so a model the user copied by hand in the same layout works the same way.

**Names are stable.** ``CatalogModel.name`` is the folder name the captioners and the settings refer
to; renaming one strands every copy already downloaded.

Files are chosen by patterns on the repository's file list (sharded weights have names that change
between versions). Their exact sizes and checksums come from the hub's file metadata at download time
— the sha256 of every large (LFS) file and the git object id of every small one — and each file is
checked against them before it is put in place. A :class:`KnownFile` pins a size or sha256 here as
well, for files whose values we have on record; when a pin and the hub disagree, the pin wins and
the download is rejected.
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lora_studio.core.errors import ModelLoadError

HUB_URL = "https://huggingface.co"


class Task(enum.StrEnum):
    """What a model makes."""

    TAGS = "tags"  # a comma-separated tag list (WD taggers)
    CAPTION = "caption"  # natural-language captions
    MASK = "mask"  # a subject/background mask


@dataclass(frozen=True, slots=True)
class FileRule:
    """Files to take from the repository: every file whose path matches one of ``patterns``.

    A ``required`` rule must match at least one file, or the download stops before it starts with a
    message that names the rule (the repository changed, or the entry is wrong).
    """

    patterns: tuple[str, ...]
    required: bool = True

    def matches(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in self.patterns)

    def describe(self) -> str:
        return " or ".join(self.patterns)


@dataclass(frozen=True, slots=True)
class KnownFile:
    """A file's size and/or sha256 as the hub reported them when the entry was written."""

    path: str
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class CatalogModel:
    """One downloadable model."""

    name: str  # folder under models/captioners/ — stable, see the module docstring
    label: str  # shown in the UI
    repo: str  # Hugging Face repository id
    kind: str  # the captioner/masker family that reads the folder ("wd14", "florence2", ...)
    task: Task
    files: tuple[FileRule, ...]
    licence: str
    good_for: str
    approx_size: int  # bytes, for the list before the hub is asked (the download shows exact ones)
    revision: str = "main"  # a branch, tag or commit; the download fixes it to one commit
    licence_url: str = ""
    known_files: tuple[KnownFile, ...] = field(default=())
    notes: str = ""

    @property
    def page_url(self) -> str:
        return f"{HUB_URL}/{self.repo}"

    def wanted(self, path: str) -> bool:
        """Whether the repository file ``path`` belongs to this model's download."""
        return any(rule.matches(path) for rule in self.files)

    def select(self, paths: Iterable[str]) -> list[str]:
        """The files of ``paths`` to download, in order; raises ModelLoadError when a required one
        is missing from the repository."""
        paths = list(paths)
        chosen = [p for p in paths if self.wanted(p)]
        missing = [r for r in self.files if r.required and not any(r.matches(p) for p in chosen)]
        if missing:
            raise ModelLoadError(
                f"{self.repo} no longer has the files {self.label} needs "
                f"({'; '.join(r.describe() for r in missing)}).",
                hint=f"The repository may have changed. See {self.page_url}, or put the files into "
                f"models/captioners/{self.name}/ by hand.",
            )
        return chosen

    def known(self, path: str) -> KnownFile | None:
        return next((k for k in self.known_files if k.path == path), None)

    def installed_in(self, folder: Path) -> bool:
        """True when ``folder`` holds a file for every required rule (a download finished there, or
        the user put the files there by hand)."""
        if not folder.is_dir():
            return False
        present = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
        return all(any(rule.matches(p) for p in present) for rule in self.files if rule.required)


# -- file sets shared by several entries ----------------------------------------------------------------

_WD_TAGGER = (FileRule(("model.onnx",)), FileRule(("selected_tags.csv",)))

_WEIGHTS = FileRule(("model.safetensors", "model-*-of-*.safetensors"))
_WEIGHTS_INDEX = FileRule(("model.safetensors.index.json",), required=False)
_CONFIG = FileRule(("config.json",))
_PROCESSOR = FileRule(
    (
        "generation_config.json",
        "preprocessor_config.json",
        "processor_config.json",
        "video_preprocessor_config.json",
        "chat_template.json",
        "chat_template.jinja",
    ),
    required=False,
)
_TOKENIZER = FileRule(("tokenizer.json", "vocab.json", "vocab.txt", "tokenizer.model", "spiece.model"))
_TOKENIZER_EXTRAS = FileRule(
    ("tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "merges.txt"),
    required=False,
)
_TRANSFORMERS = (_CONFIG, _WEIGHTS, _WEIGHTS_INDEX, _PROCESSOR, _TOKENIZER, _TOKENIZER_EXTRAS)

_APACHE = "Apache 2.0"
_MB = 1_000_000
_GB = 1_000_000_000


def _wd(name: str, label: str, size: int, good_for: str) -> CatalogModel:
    return CatalogModel(
        name=name,
        label=label,
        repo=f"SmilingWolf/{name}",
        kind="wd14",
        task=Task.TAGS,
        files=_WD_TAGGER,
        licence=_APACHE,
        licence_url="https://www.apache.org/licenses/LICENSE-2.0",
        good_for=good_for,
        approx_size=size,
    )


CATALOG: tuple[CatalogModel, ...] = (
    _wd(
        "wd-swinv2-tagger-v3",
        "WD SwinV2 tagger v3",
        470 * _MB,
        "Booru-style tags for anime and illustration; the best all-rounder of the WD taggers. Fast on a CPU.",
    ),
    _wd(
        "wd-convnext-tagger-v3",
        "WD ConvNeXt tagger v3",
        400 * _MB,
        "Booru-style tags; a little faster than SwinV2 with slightly fewer rare tags.",
    ),
    _wd(
        "wd-vit-tagger-v3",
        "WD ViT tagger v3",
        380 * _MB,
        "Booru-style tags; the smallest and fastest v3 tagger.",
    ),
    _wd(
        "wd-vit-large-tagger-v3",
        "WD ViT-Large tagger v3",
        1260 * _MB,
        "Booru-style tags, more accurate than the small taggers; slower, best with a graphics card.",
    ),
    _wd(
        "wd-eva02-large-tagger-v3",
        "WD EVA02-Large tagger v3",
        1260 * _MB,
        "The most accurate WD tagger (characters and rare tags); slower, best with a graphics card.",
    ),
    _wd(
        "wd-v1-4-convnext-tagger-v2",
        "WD14 ConvNeXt tagger v2 (classic)",
        400 * _MB,
        "The classic WD14 tagger kohya's scripts use by default; pick it to match older datasets.",
    ),
    CatalogModel(
        name="blip-image-captioning-base",
        label="BLIP base",
        repo="Salesforce/blip-image-captioning-base",
        kind="blip",
        task=Task.CAPTION,
        files=_TRANSFORMERS,
        licence="BSD 3-Clause",
        licence_url="https://opensource.org/license/bsd-3-clause",
        good_for="One short sentence per photo (“a woman sitting on a bench”). Quick, also on a CPU.",
        approx_size=990 * _MB,
    ),
    CatalogModel(
        name="blip-image-captioning-large",
        label="BLIP large",
        repo="Salesforce/blip-image-captioning-large",
        kind="blip",
        task=Task.CAPTION,
        files=_TRANSFORMERS,
        licence="BSD 3-Clause",
        licence_url="https://opensource.org/license/bsd-3-clause",
        good_for="One sentence per picture, a little more precise than BLIP base.",
        approx_size=1880 * _MB,
    ),
    CatalogModel(
        name="Florence-2-base",
        label="Florence-2 base",
        repo="florence-community/Florence-2-base",
        kind="florence2",
        task=Task.CAPTION,
        files=_TRANSFORMERS,
        licence="MIT",
        licence_url="https://opensource.org/license/mit",
        good_for="Short, detailed or very detailed descriptions; the FluxGym default for FLUX and "
        "SDXL LoRAs. Small enough for a CPU.",
        approx_size=930 * _MB,
    ),
    CatalogModel(
        name="Florence-2-large",
        label="Florence-2 large",
        repo="florence-community/Florence-2-large",
        kind="florence2",
        task=Task.CAPTION,
        files=_TRANSFORMERS,
        licence="MIT",
        licence_url="https://opensource.org/license/mit",
        good_for="Like Florence-2 base, with more accurate detail; wants a graphics card.",
        approx_size=3100 * _MB,
    ),
    CatalogModel(
        name="Qwen3-VL-2B-Instruct",
        label="Qwen3-VL 2B Instruct",
        repo="Qwen/Qwen3-VL-2B-Instruct",
        kind="qwen_vl",
        task=Task.CAPTION,
        files=_TRANSFORMERS,
        licence=_APACHE,
        licence_url="https://www.apache.org/licenses/LICENSE-2.0",
        good_for="Follows your instruction (“describe the clothes and pose, not the art style”); "
        "natural-language captions for FLUX and SDXL. Fits an 8 GB card in 8-bit or 4-bit.",
        approx_size=4264 * _MB,
        known_files=(KnownFile("model.safetensors", size=4_264_218_424),),
    ),
    CatalogModel(
        name="Qwen2.5-VL-3B-Instruct",
        label="Qwen2.5-VL 3B Instruct",
        repo="Qwen/Qwen2.5-VL-3B-Instruct",
        kind="qwen_vl",
        task=Task.CAPTION,
        files=_TRANSFORMERS,
        licence="Qwen Research License (non-commercial use only)",
        licence_url="https://huggingface.co/Qwen/Qwen2.5-VL-3B-Instruct/blob/main/LICENSE",
        good_for="Instruction-following captions like Qwen3-VL; widely used for LoRA datasets. "
        "Fits an 8 GB card in 4-bit.",
        approx_size=7500 * _MB,
    ),
    CatalogModel(
        name="llama-joycaption-beta-one-hf-llava",
        label="JoyCaption Beta One",
        repo="fancyfeast/llama-joycaption-beta-one-hf-llava",
        kind="llava",
        task=Task.CAPTION,
        files=_TRANSFORMERS,
        licence="Llama 3.1 Community License (its language model is Llama 3.1 8B)",
        licence_url="https://www.llama.com/llama3_1/license/",
        good_for="Long, uncensored descriptions in the style diffusion captions use, for any subject "
        "and art style. Needs a graphics card (8 GB in 4-bit) or a lot of patience on a CPU.",
        approx_size=16_100 * _MB,
    ),
    CatalogModel(
        name="clipseg-rd64-refined",
        label="CLIPSeg (masks from a text prompt)",
        repo="CIDAS/clipseg-rd64-refined",
        kind="clipseg",
        task=Task.MASK,
        files=_TRANSFORMERS,
        licence=_APACHE,
        licence_url="https://www.apache.org/licenses/LICENSE-2.0",
        good_for="Masks of whatever you name (“the character”, “the dog”) for masked training. "
        "Rough edges; touch them up in the mask painter.",
        approx_size=610 * _MB,
    ),
    CatalogModel(
        name="anime-seg",
        label="Anime-seg IS-Net (background remover)",
        repo="skytnt/anime-seg",
        kind="bg_remover",
        task=Task.MASK,
        files=(FileRule(("isnetis.onnx",)),),
        licence=_APACHE,
        licence_url="https://github.com/SkyTNT/anime-segmentation",
        good_for="A clean subject/background mask of every picture, no prompt needed; made for drawn "
        "characters, fine for many photos. Fast on a CPU.",
        approx_size=176 * _MB,
        known_files=(
            KnownFile(
                "isnetis.onnx",
                size=176_069_933,
                sha256="f15622d853e8260172812b657053460e20806f04b9e05147d49af7bed31a6e99",
            ),
        ),
    ),
)

_BY_NAME = {model.name: model for model in CATALOG}


def catalog() -> tuple[CatalogModel, ...]:
    """Every downloadable model, in the order the Models dialog lists them."""
    return CATALOG


def get_model(name: str) -> CatalogModel:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ModelLoadError(
            f"There is no model called {name!r} in the list of downloadable models.",
            hint="Known: " + ", ".join(_BY_NAME) + ".",
        ) from None


def models_for(kind: str) -> list[CatalogModel]:
    """The entries a captioner/masker family reads (``"wd14"`` -> every WD tagger)."""
    return [model for model in CATALOG if model.kind == kind]


def format_size(size: float) -> str:
    """``1_260_000_000`` -> ``"1.3 GB"`` (decimal units, as download sites show them)."""
    for unit, scale in (("GB", _GB), ("MB", _MB), ("kB", 1000)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{int(size)} bytes"
