"""The T5 v1.1 tokenizer of FLUX.1, loaded from the file that ships with the app (never from a hub).

``resources/t5_tokenizer/tokenizer.json`` is Google's T5 SentencePiece vocabulary in the form the
``tokenizers`` library reads (see the README there for its source and licence). This module adds
the two small config files transformers wants beside it and loads it as ``T5TokenizerFast``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lora_studio.core import paths

T5_VOCAB_SIZE = 32100  # 32,000 SentencePiece pieces + 100 <extra_id_N> tokens
T5_MODEL_VOCAB = 32128  # the encoder's embedding rows (padded to a multiple of 128)
T5_MAX_LENGTH = 512  # FLUX.1-dev's T5 sequence length (schnell uses 256)
_SPECIALS = {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}


def write_t5_tokenizer_dir(target: Path, model_max_length: int = T5_MAX_LENGTH) -> Path:
    """Write a complete Hugging Face T5 tokenizer folder into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    src = paths.resource("t5_tokenizer") / "tokenizer.json"
    dst = target / "tokenizer.json"
    if not dst.exists() or dst.stat().st_size != src.stat().st_size:
        shutil.copyfile(src, dst)
    extra = [f"<extra_id_{i}>" for i in range(100)]
    config = {
        **_SPECIALS,
        "tokenizer_class": "T5Tokenizer",
        "extra_ids": 100,
        "additional_special_tokens": extra,
        "model_max_length": model_max_length,
        "legacy": True,
        "clean_up_tokenization_spaces": True,
    }
    (target / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    specials = {**_SPECIALS, "additional_special_tokens": extra}
    (target / "special_tokens_map.json").write_text(json.dumps(specials, indent=2), encoding="utf-8")
    return target


def t5_tokenizer_dir() -> Path:
    """A ready T5 tokenizer folder in the cache (made once)."""
    target = paths.cache_dir() / "tokenizers" / "t5-v1_1"
    if not (target / "tokenizer_config.json").exists():
        write_t5_tokenizer_dir(target)
    return target


def load_t5_tokenizer():  # -> transformers.T5TokenizerFast
    from transformers import T5TokenizerFast  # type: ignore[attr-defined]  # lazily exported; stubs miss it

    return T5TokenizerFast.from_pretrained(str(t5_tokenizer_dir()), local_files_only=True)
