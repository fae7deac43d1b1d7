"""Loading textual-inversion embeddings into a pipeline (see :mod:`lora_studio.generation.embedding_files`
for the files, the prompt syntax and the infotext).

Each vector becomes a new token of the pipeline's tokenizer(s), named after the file's hash (a
changed file never reuses old vectors), with the vector as that token's row in the text encoder's
embedding table; the name in the prompt is replaced by those tokens. The added tokens stay in the
cached pipeline and change nothing unless a prompt names the embedding.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lora_studio.core.errors import GenerationError
from lora_studio.core.families import ModelFamily
from lora_studio.generation.embedding_files import (
    INFOTEXT_KEY,
    EmbeddingFile,
    format_ti_hashes,
    list_embeddings,
    reference_pattern,
    referenced,
    single_key,
    ti_hash,
)

__all__ = ["INFOTEXT_KEY", "EmbeddedPrompts", "apply_embeddings", "format_ti_hashes"]


@dataclass(frozen=True, slots=True)
class EmbeddedPrompts:
    """Prompts with embedding names replaced by their tokens, and the embeddings used (for infotext)."""

    prompt: str
    negative: str
    used: tuple[EmbeddingFile, ...] = ()


def _model_label(family: ModelFamily) -> str:
    return family.label if hasattr(family, "label") else str(family)


def _check_family(item: EmbeddingFile, family: ModelFamily, widths: tuple[int, ...]) -> None:
    if item.pickled:
        raise GenerationError(
            f"The embedding “{item.path.name}” is a pickled file, which is not loaded: unpickling can run "
            "any code hidden in it.",
            hint="Use the .safetensors version of this embedding (most sites offer one), or convert it "
            "in a tool you trust.",
        )
    sdxl_model = family == ModelFamily.SDXL
    if item.sdxl != sdxl_model:
        made = "SDXL" if item.sdxl else item.family_label
        raise GenerationError(
            f"The embedding “{item.name}” was made for {made}; the model is {_model_label(family)}.",
            hint="Remove it from the prompt, or use an embedding made for this kind of model.",
        )
    if item.widths != widths:
        raise GenerationError(
            f"The embedding “{item.name}” was made for a model whose text encoder width is "
            f"{'/'.join(map(str, item.widths))}; this model's is {'/'.join(map(str, widths))} "
            f"({item.family_label} vs {_model_label(family)}).",
            hint="Use an embedding made for this base model.",
        )


def _encoders(pipe: Any) -> list[tuple[Any, Any]]:
    pairs = [(pipe.tokenizer, pipe.text_encoder)]
    if getattr(pipe, "text_encoder_2", None) is not None:
        pairs.append((pipe.tokenizer_2, pipe.text_encoder_2))
    return pairs


def _load_vectors(item: EmbeddingFile) -> list[Any]:
    """One ``[vectors, width]`` float tensor per text encoder (no pickle: safetensors only)."""
    from safetensors.torch import load_file

    data = load_file(str(item.path))
    if item.sdxl:
        return [data["clip_l"].reshape(item.vectors, -1), data["clip_g"].reshape(item.vectors, -1)]
    key = single_key({k: tuple(v.shape) for k, v in data.items()})
    assert key is not None  # inspect_embedding checked the header
    return [data[key].reshape(item.vectors, -1)]


def _token_names(item: EmbeddingFile) -> list[str]:
    digest = ti_hash(item.path)
    return [f"<ls-ti-{digest}-{i}>" for i in range(item.vectors)]


def _insert(tokenizer: Any, encoder: Any, tokens: list[str], vectors: Any) -> None:
    import torch

    if any(t not in tokenizer.added_tokens_encoder for t in tokens):
        tokenizer.add_tokens(tokens)
    table = encoder.get_input_embeddings()
    if table.weight.shape[0] < len(tokenizer):
        encoder.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        table = encoder.get_input_embeddings()
    ids = tokenizer.convert_tokens_to_ids(tokens)
    with torch.no_grad():
        table.weight[ids] = vectors.to(device=table.weight.device, dtype=table.weight.dtype)


def apply_embeddings(
    pipe: Any, family: ModelFamily, prompt: str, negative: str, dirs: Sequence[str | os.PathLike[str]]
) -> EmbeddedPrompts:
    """Load the embeddings ``prompt``/``negative`` name into ``pipe`` and replace the names by tokens.

    Raises :class:`GenerationError` for a pickled or wrong-family embedding the prompt names.
    """
    available = list_embeddings(dirs)
    if not available:
        return EmbeddedPrompts(prompt, negative)
    used = referenced(prompt + "\n" + negative, available)
    if not used:
        return EmbeddedPrompts(prompt, negative)
    encoders = _encoders(pipe)
    widths = tuple(int(enc.get_input_embeddings().weight.shape[1]) for _, enc in encoders)
    replacements: dict[str, str] = {}
    for item in used:
        _check_family(item, family, widths)
        tokens = _token_names(item)
        for (tokenizer, encoder), vectors in zip(encoders, _load_vectors(item), strict=True):
            _insert(tokenizer, encoder, tokens, vectors)
        replacements[item.name.lower()] = " ".join(tokens)
    pattern = reference_pattern([e.name for e in used])
    assert pattern is not None

    def swap(text: str) -> str:
        return pattern.sub(lambda m: replacements[m.group(1).lower()], text)

    return EmbeddedPrompts(swap(prompt), swap(negative), tuple(used))
