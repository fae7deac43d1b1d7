"""The bundled T5 v1.1 tokenizer gives the ids T5 (and so FLUX.1) was trained with."""

from __future__ import annotations

import hashlib

from lora_studio.core import paths
from lora_studio.diffusion.t5_tokenizer import T5_VOCAB_SIZE, load_t5_tokenizer


def test_known_t5_ids():
    tok = load_t5_tokenizer()
    assert tok("a photo of a cat").input_ids == [3, 9, 1202, 13, 3, 9, 1712, 1]
    # Capitals, runs of spaces, a sentinel token and an unknown character (T5 has no CJK pieces).
    assert tok("A Photo  of a   cat, <extra_id_0> 東").input_ids == [71, 5810, 13, 3, 9, 1712, 6, 32099, 3, 2, 1]
    assert len(tok) == T5_VOCAB_SIZE
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    assert tok.convert_ids_to_tokens([1202, 1712]) == ["▁photo", "▁cat"]


def test_padding_and_truncation_as_flux_asks():
    tok = load_t5_tokenizer()
    out = tok(["a photo of a cat"], padding="max_length", max_length=10, truncation=True).input_ids[0]
    assert out == [3, 9, 1202, 13, 3, 9, 1712, 1, 0, 0]
    long = tok(["cat " * 600], padding="max_length", max_length=512, truncation=True).input_ids[0]
    assert len(long) == 512 and long[-1] == 1


def test_shipped_file_is_the_recorded_one():
    data = (paths.resource("t5_tokenizer") / "tokenizer.json").read_bytes()
    readme = (paths.resource("t5_tokenizer") / "README.md").read_text("utf-8")
    assert hashlib.sha256(data).hexdigest() in readme
    assert "Apache License 2.0" in readme
