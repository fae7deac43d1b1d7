"""Exact CLIP token counts without torch or transformers: the ``tokenizers`` library over the
vocabulary files that ship with the app (``resources/clip_tokenizer``).

SD 1.x, SD 2.x and SDXL all read prompts and captions with the same CLIP byte-level BPE tokenizer
(openai/clip-vit-large-patch14). The caption editor, the prompt editor and the dataset check show
the count the trainer will really see, while ``lora_studio.dataset`` stays light (``tokenizers`` is
a small Rust library; transformers is never imported here).

The pipeline is the one transformers' ``CLIPTokenizer`` (5.x) builds on the same library, so the
counts agree token for token (tests/dataset/test_clip_tokens.py compares them over every Unicode
code point): ``<|startoftext|>``/``<|endoftext|>`` typed in the text are one token each; NFC, runs
of white space become one space, lower case; CLIP's split pattern (contractions, runs of letters,
single digits, runs of other characters); byte-level BPE with ``</w>`` ending each word.

The files are read on first use, once per process, never at import time. A missing or damaged
vocabulary is an error (:class:`TokenizerFilesError`), never a silent switch to estimates.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import BPE

from lora_studio.core import paths
from lora_studio.core.errors import DatasetError

START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
END_OF_WORD = "</w>"

# CLIP's pre-tokenisation: special-token look-alikes, English contractions, runs of letters,
# single digits, runs of anything else that is not white space.
_CLIP_SPLIT = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


class TokenizerFilesError(DatasetError):
    """The bundled CLIP vocabulary is missing or damaged."""


class ClipTokenizer:
    """CLIP's byte-level BPE over a vocabulary and a ranked list of merges."""

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]]) -> None:
        """``merges``: symbol pairs, most important first (``merges.txt`` without its header)."""
        self.vocab = vocab
        tokenizer = Tokenizer(
            BPE(vocab=vocab, merges=merges, end_of_word_suffix=END_OF_WORD, unk_token=END_TOKEN, fuse_unk=False)
        )
        tokenizer.normalizer = normalizers.Sequence(
            [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
        )
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(_CLIP_SPLIT), behavior="removed", invert=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False),
            ]
        )
        # The special tokens as typed (case-sensitive, before normalisation) are one token each.
        tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in (START_TOKEN, END_TOKEN)])
        self._tokenizer = tokenizer

    @classmethod
    def from_folder(cls, folder: str | Path) -> ClipTokenizer:
        """Read ``vocab.json`` and ``merges.txt``; raise TokenizerFilesError if either is unusable."""
        folder = Path(folder)
        try:
            with open(folder / "vocab.json", encoding="utf-8") as fh:
                vocab = json.load(fh)
            lines = (folder / "merges.txt").read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise _files_error(folder, str(exc)) from exc
        if lines and lines[0].startswith("#version"):
            lines = lines[1:]
        merges = [line.rstrip("\r") for line in lines if line.strip()]
        problem = _check(vocab, merges)
        if problem:
            raise _files_error(folder, problem)
        pairs = [(left, right) for left, right in (line.split(" ") for line in merges)]
        return cls(vocab, pairs)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without start and end tokens."""
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def tokenize(self, text: str) -> list[str]:
        """Token strings of ``text`` without start and end tokens."""
        return list(self._tokenizer.encode(text, add_special_tokens=False).tokens)

    def count(self, text: str) -> int:
        """Token count of ``text`` without start and end tokens."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)


def _files_error(folder: Path, details: str) -> TokenizerFilesError:
    return TokenizerFilesError(
        "The CLIP vocabulary that comes with LoRA Studio is missing or damaged, so captions and "
        "prompts cannot be counted in tokens.",
        hint="Reinstall LoRA Studio to restore it.",
        details=f"{folder}: {details}",
    )


def _check(vocab: object, merges: list[str]) -> str:
    """What is wrong with the loaded files ("" when they are usable)."""
    if not isinstance(vocab, dict) or not vocab:
        return "vocab.json is not a token table"
    if not all(isinstance(k, str) and isinstance(v, int) for k, v in vocab.items()):
        return "vocab.json has entries that are not token: id"
    for special in (START_TOKEN, END_TOKEN):
        if special not in vocab:
            return f"vocab.json has no {special}"
    if not merges:
        return "merges.txt has no merges"
    for symbol in pre_tokenizers.ByteLevel.alphabet():
        if symbol not in vocab or symbol + END_OF_WORD not in vocab:
            return f"vocab.json lacks the byte token {symbol!r}"
    for line in merges:
        parts = line.split(" ")
        if len(parts) != 2 or not all(parts) or parts[0] + parts[1] not in vocab:
            return f"merges.txt has a bad line {line!r}"
    return ""


# -- the shared instance --------------------------------------------------------------------------

_instance: ClipTokenizer | None = None
_lock = threading.Lock()


def tokenizer_folder() -> Path:
    return paths.resource("clip_tokenizer")


def get_tokenizer() -> ClipTokenizer:
    """The tokenizer for the bundled vocabulary, read on first use (thread-safe).

    Raises TokenizerFilesError if the files are missing or damaged (and tries again next time).
    """
    global _instance
    tokenizer = _instance
    if tokenizer is None:
        with _lock:
            if _instance is None:
                _instance = ClipTokenizer.from_folder(tokenizer_folder())
            tokenizer = _instance
    return tokenizer


def count(text: str) -> int:
    """Exact CLIP token count of ``text`` without start and end tokens."""
    return get_tokenizer().count(text)


def tokenize(text: str) -> list[str]:
    """CLIP token strings of ``text`` without start and end tokens."""
    return get_tokenizer().tokenize(text)


def encode(text: str) -> list[int]:
    """CLIP token ids of ``text`` without start and end tokens."""
    return get_tokenizer().encode(text)
