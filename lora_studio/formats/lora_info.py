"""Everything the app shows about a LoRA file, read from its header (no tensor data but the alphas).

``inspect_lora(path)`` tells the format (kohya, diffusers, LyCORIS …), the base model family
(metadata first, then names and shapes), rank/alpha, how many modules, whether the text encoder is
included, the recorded training settings, and suggests trigger words from the tag frequencies.
Torch-free.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from lora_studio.core.errors import ModelLoadError
from lora_studio.core.families import ModelFamily, Prediction
from lora_studio.formats.lora_classify import LoraFormat, LoraKind, classify_lora_keys
from lora_studio.formats.lora_metadata import LoraTrainingInfo, family_from_metadata, parse_metadata
from lora_studio.formats.safetensors_meta import SafetensorsHeader, read_header, read_scalars

_NOT_SAFETENSORS = (".ckpt", ".pt", ".pth", ".bin")


@dataclass(frozen=True)
class LoraInfo:
    """What a LoRA file is and how it was made."""

    path: Path
    file_size: int
    kind: LoraKind
    family: ModelFamily | None
    family_source: str  # "metadata", "keys" or "" (unknown)
    prediction: Prediction | None
    rank: int | None  # the most common rank (network dim)
    alpha: float | None  # the most common alpha
    conv_rank: int | None
    training: LoraTrainingInfo
    metadata: dict[str, str] = field(default_factory=dict, repr=False)
    conv_alpha: float | None = None  # alpha of the 3x3 conv modules (LoCon), when it has any

    @property
    def format(self) -> LoraFormat:
        return self.kind.format

    @property
    def name(self) -> str:
        """The name other tools show: ``ss_output_name`` when set, else the file name without suffix."""
        return self.training.output_name or self.path.stem

    @property
    def module_count(self) -> int:
        return self.kind.module_count

    @property
    def has_text_encoder(self) -> bool:
        return self.kind.has_text_encoder

    @property
    def stored_hash(self) -> str | None:
        """kohya's precomputed ``sshs_model_hash`` (the full addnet sha256), when present."""
        value = self.metadata.get("sshs_model_hash")
        return value if value and len(value) >= 12 else None

    def short_hash(self) -> str:
        """A1111's 12-hex LoRA hash for ``Lora hashes:`` (reads the file if it has no stored hash)."""
        from lora_studio.formats.hashes import cached_lora_hash

        return cached_lora_hash(self.path, self.metadata)

    def tag_counts(self) -> Counter[str]:
        """Tag counts summed over the training folders (sd-scripts also counts regularization folders)."""
        counts: Counter[str] = Counter()
        reg = set(self.training.reg_dataset_dirs)
        for folder, tags in self.training.tag_frequency.items():
            if folder in reg:
                continue
            for tag, n in tags.items():
                tag = tag.strip()
                if tag:
                    counts[tag] += n
        return counts

    def suggested_triggers(self, top_n: int = 5) -> list[str]:
        """Trigger words: the recorded ones first, then the most frequent training tags."""
        out: list[str] = []
        for word in self.training.trigger_words:
            if word not in out:
                out.append(word)
        for tag, _ in sorted(self.tag_counts().items(), key=lambda kv: (-kv[1], kv[0])):
            if len(out) >= top_n:
                break
            if tag not in out:
                out.append(tag)
        return out[:top_n]


def _most_common(values: list) -> object | None:
    return Counter(values).most_common(1)[0][0] if values else None


@dataclass(frozen=True)
class _Ranks:
    rank: int | None
    alpha: float | None
    conv_rank: int | None
    conv_alpha: float | None


def _rank_and_alpha(header: SafetensorsHeader) -> _Ranks:
    """The most common rank and alpha of the linear (and 1x1) modules and of the 3x3 conv modules."""
    linear: dict[str, int] = {}
    conv: dict[str, int] = {}
    for name, info in header.tensors.items():
        for suffix in (".lora_down.weight", ".lora_A.weight"):
            if name.endswith(suffix) and info.shape:
                is_conv = len(info.shape) == 4 and tuple(info.shape[2:]) != (1, 1)
                (conv if is_conv else linear)[name[: -len(suffix)]] = int(info.shape[0])
    alphas = read_scalars(header, [n for n in header.tensors if n.endswith(".alpha")])
    alpha_of = {n[: -len(".alpha")]: round(a, 6) for n, a in alphas.items()}
    linear_alphas = [alpha_of[m] for m in linear if m in alpha_of]
    conv_alphas = [alpha_of[m] for m in conv if m in alpha_of]
    rank = _most_common(list(linear.values())) or _most_common(list(conv.values()))
    # Files without lora_down/lora_A (LyCORIS LoHa …) still have alphas: take the most common.
    alpha = _most_common(linear_alphas) or _most_common(conv_alphas) or _most_common(list(alpha_of.values()))
    return _Ranks(rank, alpha, _most_common(list(conv.values())), _most_common(conv_alphas))  # type: ignore[arg-type]


def inspect_lora(path: str | os.PathLike[str]) -> LoraInfo:
    """Describe a LoRA file. Raises ``ModelLoadError`` for files that are not LoRAs."""
    path = Path(path)
    if path.suffix.lower() in _NOT_SAFETENSORS:
        raise ModelLoadError(
            f"“{path.name}” is not a .safetensors file.",
            hint="Only .safetensors LoRA files can be used. Convert the file, or download the "
            ".safetensors version.",
        )
    header = read_header(path)
    kind = classify_lora_keys(header.shapes)
    if kind.format == LoraFormat.CHECKPOINT:
        raise ModelLoadError(
            f"“{path.name}” is a full model (checkpoint), not a LoRA.",
            hint="Choose it as the base model instead, or pick a LoRA file.",
        )
    if not kind.format.is_lora:
        raise ModelLoadError(
            f"“{path.name}” does not contain LoRA weights.",
            hint="Pick a LoRA file (kohya, diffusers or LyCORIS format).",
        )
    training = parse_metadata(header.metadata)
    meta_family, prediction = family_from_metadata(header.metadata)
    if meta_family is not None:
        family, source = meta_family, "metadata"
    elif kind.family is not None:
        family, source = kind.family, "keys"
    else:
        family, source = None, ""
    ranks = _rank_and_alpha(header)
    rank, alpha, conv_rank, conv_alpha = ranks.rank, ranks.alpha, ranks.conv_rank, ranks.conv_alpha
    if conv_rank is not None and conv_alpha is None:
        conv_alpha = training.conv_alpha
    if rank is None:
        rank = training.network_dim
    if alpha is None:
        alpha = training.network_alpha
    return LoraInfo(
        path=path,
        file_size=header.file_size,
        kind=kind,
        family=family,
        family_source=source,
        prediction=prediction,
        rank=rank,
        alpha=alpha,
        conv_rank=conv_rank,
        training=training,
        metadata=dict(header.metadata),
        conv_alpha=conv_alpha,
    )
