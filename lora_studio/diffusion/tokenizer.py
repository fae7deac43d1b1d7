"""The CLIP BPE tokenizer, loaded from files that ship with the app (never from a hub)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lora_studio.core import paths

SD1_PAD = "<|endoftext|>"  # SD 1.x pads with the end token
OPENCLIP_PAD = "!"  # SD 2.x and SDXL's second tokenizer pad with "!" (id 0)


def write_tokenizer_dir(target: Path, pad_token: str = SD1_PAD, model_max_length: int = 77) -> Path:
    """Write a complete Hugging Face tokenizer folder (vocab, merges, configs) into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    src = paths.resource("clip_tokenizer")
    for name in ("vocab.json", "merges.txt"):
        dst = target / name
        if not dst.exists() or dst.stat().st_size != (src / name).stat().st_size:
            shutil.copyfile(src / name, dst)
    specials = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": pad_token,
    }
    config = {
        **specials,
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": model_max_length,
        "do_lower_case": True,
        "clean_up_tokenization_spaces": True,
        "errors": "replace",
        "add_prefix_space": False,
    }
    (target / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (target / "special_tokens_map.json").write_text(json.dumps(specials, indent=2), encoding="utf-8")
    return target


def tokenizer_dir(pad_token: str = SD1_PAD) -> Path:
    """A ready tokenizer folder in the cache for the given pad token (made once)."""
    name = "clip-pad-eos" if pad_token == SD1_PAD else "clip-pad-bang"
    target = paths.cache_dir() / "tokenizers" / name
    if not (target / "tokenizer_config.json").exists():
        write_tokenizer_dir(target, pad_token)
    return target


def load_clip_tokenizer(pad_token: str = SD1_PAD):  # -> transformers.CLIPTokenizer
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(tokenizer_dir(pad_token)), local_files_only=True)
