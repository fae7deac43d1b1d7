"""Build the CLIP BPE tokenizer files (vocab.json, merges.txt) that ship in resources/clip_tokenizer.

The OpenAI CLIP BPE table (MIT licensed) is distributed inside the open-clip-torch wheel on PyPI as
``open_clip/bpe_simple_vocab_16e6.txt.gz``. This script turns it into the Hugging Face layout so
``transformers.CLIPTokenizer`` can load it from a local folder, with no hub access:

    pip download --no-deps open-clip-torch==3.3.0 -d /tmp/oc
    unzip -o /tmp/oc/open_clip_torch-*.whl 'open_clip/bpe_simple_vocab_16e6.txt.gz' -d /tmp/oc
    python resources/sources/make_clip_tokenizer.py /tmp/oc/open_clip/bpe_simple_vocab_16e6.txt.gz

The generated files are committed, so users and CI never run this.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

N_MERGES = 49152 - 256 - 2  # CLIP keeps this many merges from the table


def byte_alphabet() -> list[str]:
    """The 256 printable stand-ins GPT-2/CLIP use for raw bytes, in byte order."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def build(bpe_gz: Path, out_dir: Path) -> int:
    lines = gzip.open(bpe_gz).read().decode("utf-8").split("\n")
    merges = lines[1 : N_MERGES + 1]
    alphabet = byte_alphabet()
    tokens = alphabet + [a + "</w>" for a in alphabet] + ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = {t: i for i, t in enumerate(tokens)}
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (out_dir / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return len(vocab)


if __name__ == "__main__":
    target = Path(__file__).resolve().parents[1] / "clip_tokenizer"
    print(build(Path(sys.argv[1]), target), "tokens written to", target)
