"""Exact CLIP token counts in pure Python (no torch, no transformers).

SD 1.x, SD 2.x and SDXL all read prompts and captions with the same CLIP byte-level BPE tokenizer
(openai/clip-vit-large-patch14). This module implements that tokenizer from the vocabulary files
that ship with the app (``resources/clip_tokenizer``), so the caption editor and the dataset check
can show the count the trainer will really see, while ``lora_studio.dataset`` stays light.

It matches the ``transformers`` CLIPTokenizer the app trains and generates with (5.x, backed by the
``tokenizers`` library), step by step:

1. The exact strings ``<|startoftext|>`` and ``<|endoftext|>`` in the raw text are special tokens
   (one token each); the text between them is processed on its own.
2. Normalisation: Unicode NFC, every run of white space becomes one space, then lower-casing one
   character at a time (so a final capital sigma becomes ``σ``, not ``ς``). No HTML unescaping and
   no ftfy: this version of the tokenizer does neither (``&amp;`` is three tokens).
3. Pre-tokenisation with CLIP's pattern: special-token look-alikes, English contractions, runs of
   letters, single digits, runs of other non-space characters. A look-alike that is left after
   lower-casing (``<|EndOfText|>``) is split again as GPT-2's byte-level step does: ``<|``, the
   word, ``|>``.
4. Each piece is turned into its UTF-8 bytes, written with the 256 printable stand-in characters
   of byte-level BPE; the last symbol gets the end-of-word mark ``</w>``; then the merge with the
   lowest rank among neighbouring symbols is applied (to every occurrence, left to right) until no
   neighbouring pair has a merge.

The parts of the tokenizers library each use their own Unicode tables (its NFC roughly Unicode
9, its regular expressions 15.1, lower-casing 17), while Python's ``unicodedata`` (14 in 3.11) and
the ``regex`` package (17) use others. The three small tables below make up the difference; they
were found by comparing every code point with tokenizers 0.23 (tests/dataset/test_clip_tokens.py
repeats that comparison).

The files are read on first use (about 0.1 s), once per process, never at import time.
"""

from __future__ import annotations

import functools
import json
import threading
import unicodedata
from pathlib import Path

import regex

from lora_studio.core import paths
from lora_studio.core.errors import DatasetError

START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
END_OF_WORD = "</w>"
WORD_CACHE_SIZE = 20_000  # distinct words kept with their BPE result (a big tag vocabulary fits)

# Split on the special tokens as typed (case-sensitive, before normalisation), keeping them.
_SPECIAL_SPLIT = regex.compile(r"(<\|startoftext\|>|<\|endoftext\|>)")
_WHITESPACE = regex.compile(r"\s+")

# Letters and numbers that the ``regex`` package knows (Unicode 16 and 17) but the tokenizers
# library's regular expressions do not: for the tokenizer they are "other" characters.
_NEWER_LETTERS = (
    r"\u0558\u058b\u058c\u088f\u0c5c\u0cdc\u208f\u209d-\u209f\ua7ce\ua7cf\ua7d2\ua7d4\ua7dd\ua7e2"
    r"\ua7f1\uab6c\uab6d\U000107bb-\U000107bf\U00010940-\U00010959\U00010ec5-\U00010ec7"
    r"\U00010ed9-\U00010eee\U00011b0a\U00011db0-\U00011ddb\U00011de0-\U00011de9\U00011df1\U0001246f"
    r"\U00012475-\U0001247f\U00012550-\U00012686\U00016ea0-\U00016eb8\U00016ebb-\U00016ed3"
    r"\U00016ff2-\U00016ff6\U000187f8-\U000187ff\U00018cd6-\U00018cda\U00018d09-\U00018d20"
    r"\U00018d80-\U00018df2\U00018e00-\U00019191\U000191a0-\U000191d2\U0001b123-\U0001b128\U0001b168"
    r"\U0001d6a6\U0001df1f-\U0001df24\U0001df2b-\U0001df81\U0001df90-\U0001df96\U0001dfcd-\U0001dfff"
    r"\U0001e6c0-\U0001e6de\U0001e6e0-\U0001e6e2\U0001e6e4\U0001e6e5\U0001e6e7-\U0001e6ed"
    r"\U0001e6f0-\U0001e6f4\U0001e6fe\U0001e6ff\U0002b73a-\U0002b73f\U0002b81e\U0002cea2-\U0002cead"
    r"\U000323b0-\U00033479\U0003d000-\U0003fc3f"
)
_LETTER = rf"[\p{{L}}--[{_NEWER_LETTERS}]]"
_NUMBER = rf"[\p{{N}}--[{_NEWER_LETTERS}]]"
_PIECES = regex.compile(
    r"(?V1)<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d"
    rf"|{_LETTER}+|{_NUMBER}|[^\s{_LETTER}{_NUMBER}]+"
)

# Combining marks, and parts of compositions, newer than the tables of the tokenizers library's NFC:
# there they are plain characters that nothing is reordered or composed across. Python's NFC runs
# on the text between them. (Unicode 10-14 ones found by comparison; 15-17 ones, which Python 3.11
# does not know yet but later Pythons do, from the ``regex`` package's ccc/decomposition data.)
_NFC_BARRIERS = regex.compile(
    "(["
    r"\u05c8\u05c9\u07fd\u0897-\u089f\u08ca-\u08d3\u09fe\u0c3c\u0d3b\u0d3c\u0eba\u1715\u1abf-\u1af0"
    r"\u1df6-\u1dfa\ua82c\U000105c9\U000105d2\U000105da\U000105e4\U00010d24-\U00010d27"
    r"\U00010d69-\U00010d6d\U00010eab\U00010eac\U00010ecb-\U00010ecf\U00010ef0-\U00010efb"
    r"\U00010efd-\U00010eff\U00010f46-\U00010f50\U00010f82-\U00010f85\U00011070\U0001133b\U00011383"
    r"\U00011385\U0001138e\U00011391\U000113b8\U000113bb\U000113c2\U000113c5\U000113c7-\U000113c9"
    r"\U000113ce-\U000113d0\U0001145e\U00011839\U0001183a\U00011930\U00011938\U0001193d\U0001193e"
    r"\U00011943\U000119e0\U00011a34\U00011a47\U00011a99\U00011d42\U00011d44\U00011d45\U00011d97"
    r"\U00011f41\U00011f42\U0001611e-\U00016129\U0001612f\U00016d67-\U00016d6a\U00016ff0\U00016ff1"
    r"\U0001d127\U0001d128\U0001d250-\U0001d252\U0001d25b\U0001d25c\U0001d25f\U0001d280\U0001d281"
    r"\U0001e08f\U0001e130-\U0001e136\U0001e2ae\U0001e2ec-\U0001e2ef\U0001e4ec-\U0001e4ef"
    r"\U0001e5ee\U0001e5ef\U0001e6e3\U0001e6e6\U0001e6ee\U0001e6ef\U0001e6f5"
    "])"
)

# Upper-case letters that Unicode 16 and 17 gave a lower-case partner: the tokenizers library
# lowers them, older Pythons (3.11: Unicode 14) leave them alone.
_LOWER_EXTRA: dict[int, int] = {
    0x1C89: 0x1C8A,
    0xA7CB: 0x0264,
    0xA7CC: 0xA7CD,
    0xA7CE: 0xA7CF,
    0xA7D2: 0xA7D3,
    0xA7D4: 0xA7D5,
    0xA7DA: 0xA7DB,
    0xA7DC: 0x019B,
    **{cp: cp + 0x20 for cp in range(0x10D50, 0x10D66)},
    **{cp: cp + 0x1B for cp in range(0x16EA0, 0x16EB9)},
}


class TokenizerFilesError(DatasetError):
    """The bundled CLIP vocabulary is missing or damaged."""


def byte_symbols() -> list[str]:
    """The 256 stand-in characters of byte-level BPE, indexed by byte value.

    Printable Latin-1 bytes stand for themselves; the others (controls, space, DEL, the
    non-breaking space, the soft hyphen) get the characters from U+0100 on, in byte order.
    """
    printable = {*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)}
    symbols: list[str] = []
    extra = 0
    for byte in range(256):
        if byte in printable:
            symbols.append(chr(byte))
        else:
            symbols.append(chr(0x100 + extra))
            extra += 1
    return symbols


# bytes -> Latin-1 str -> stand-in characters, in one str.translate call.
_BYTE_TRANSLATION = {byte: symbol for byte, symbol in enumerate(byte_symbols()) if chr(byte) != symbol}


def normalize(text: str) -> str:
    """CLIP's normalisation: NFC, white space runs to one space, per-character lower case."""
    if text.isascii():
        return _WHITESPACE.sub(" ", text).lower()
    if _NFC_BARRIERS.search(text):
        parts = _NFC_BARRIERS.split(text)  # odd indexes: the barriers themselves, kept as they are
        text = "".join(p if i % 2 else unicodedata.normalize("NFC", p) for i, p in enumerate(parts))
    else:
        text = unicodedata.normalize("NFC", text)
    text = _WHITESPACE.sub(" ", text)
    # str.lower() turns a final capital sigma into "ς"; the tokenizer lowers each letter alone.
    lowered = "".join(c.lower() for c in text) if "Σ" in text else text.lower()
    return lowered.translate(_LOWER_EXTRA)


def pre_tokenize(text: str) -> list[str]:
    """The words (pieces) of already normalised text, each of which BPE encodes separately."""
    pieces = _PIECES.findall(text)
    if "<|" not in text:
        return pieces
    out: list[str] = []
    for piece in pieces:
        if piece in (START_TOKEN, END_TOKEN):
            out.extend(("<|", piece[2:-2], "|>"))  # what the byte-level step's own split makes of it
        else:
            out.append(piece)
    return out


class ClipTokenizer:
    """CLIP's byte-level BPE over a vocabulary and a ranked list of merges."""

    def __init__(self, vocab: dict[str, int], merges: list[str]) -> None:
        """``merges``: ``"left right"`` lines, most important first (``merges.txt`` without its header)."""
        self.vocab = vocab
        self._ranks: dict[str, int] = {merge: rank for rank, merge in enumerate(merges)}
        self._word_tokens = functools.lru_cache(maxsize=WORD_CACHE_SIZE)(self._bpe)

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
        return cls(vocab, merges)

    # -- the algorithm -------------------------------------------------------------------------
    def _bpe(self, piece: str) -> tuple[str, ...]:
        """The tokens of one pre-tokenised piece (cached per piece)."""
        word = piece.encode("utf-8").decode("latin-1").translate(_BYTE_TRANSLATION)
        symbols = [*word[:-1], word[-1] + END_OF_WORD]
        ranks = self._ranks
        while len(symbols) > 1:
            best_rank = None
            best = ""
            for left, right in zip(symbols, symbols[1:]):
                pair = f"{left} {right}"
                rank = ranks.get(pair)
                if rank is not None and (best_rank is None or rank < best_rank):
                    best_rank, best = rank, pair
            if best_rank is None:
                break
            left, right = best.split(" ")
            merged = left + right
            out: list[str] = []
            i, n = 0, len(symbols)
            while i < n:
                if i + 1 < n and symbols[i] == left and symbols[i + 1] == right:
                    out.append(merged)
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            symbols = out
        return tuple(symbols)

    def _segments(self, text: str) -> list[tuple[bool, str]]:
        """``(is_special, text)`` parts: the special tokens as typed, and the text between them."""
        if "<|" not in text:
            return [(False, text)]
        parts = _SPECIAL_SPLIT.split(text)
        return [(i % 2 == 1, part) for i, part in enumerate(parts) if part]

    # -- public --------------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """Token strings (``"photo</w>"``), without start and end tokens."""
        tokens: list[str] = []
        for special, part in self._segments(text):
            if special:
                tokens.append(part)
                continue
            for piece in pre_tokenize(normalize(part)):
                tokens.extend(self._word_tokens(piece))
        return tokens

    def encode(self, text: str) -> list[int]:
        """Token ids, without start and end tokens (as ``tokenizer(text, add_special_tokens=False)``)."""
        vocab = self.vocab
        return [vocab[token] for token in self.tokenize(text)]

    def count(self, text: str) -> int:
        """The number of tokens, without start and end tokens."""
        total = 0
        word_tokens = self._word_tokens
        for special, part in self._segments(text):
            if special:
                total += 1
                continue
            for piece in pre_tokenize(normalize(part)):
                total += len(word_tokens(piece))
        return total

    def cache_clear(self) -> None:
        self._word_tokens.cache_clear()


def _files_error(folder: Path, details: str) -> TokenizerFilesError:
    return TokenizerFilesError(
        "The CLIP vocabulary that comes with LoRA Studio is missing or damaged, "
        "so token counts are estimates.",
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
    for symbol in byte_symbols():
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
