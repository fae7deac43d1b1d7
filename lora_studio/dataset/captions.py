"""Captions: sidecar files, comma-separated tags, pure bulk operations, frequency and autocomplete.

Sidecars are read as UTF-8 (with or without a byte-order mark). A file in another encoding is
reported, decoded with a best guess for display, and marked read-only: LoRA Studio never rewrites
it unless the user asks for a conversion. Every tag operation works line by line, so multi-line
captions (sd-scripts picks one line at random) keep their lines.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from lora_studio.core.errors import DatasetError
from lora_studio.core.fileio import atomic_write_text
from lora_studio.dataset import clip_tokens

UTF8_BOM = b"\xef\xbb\xbf"
CAPTION_EXTENSIONS = (".txt", ".caption")
TokenCounter = Callable[[str], int]

log = logging.getLogger(__name__)


# -- sidecar files ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaptionFile:
    """A caption as read from disk."""

    path: Path
    text: str  # decoded text ("" when the file does not exist)
    exists: bool
    encoding: str = "utf-8"  # "utf-8", "utf-8-sig", or the guessed other encoding
    readonly: bool = False  # True for files in another encoding: shown, never rewritten

    @property
    def has_bom(self) -> bool:
        return self.encoding == "utf-8-sig"

    @property
    def other_encoding(self) -> bool:
        return self.encoding not in ("utf-8", "utf-8-sig")


def sidecar_path(image: str | os.PathLike[str], extension: str = ".txt") -> Path:
    """``photo.jpg`` -> ``photo.txt`` (kohya convention)."""
    if not extension.startswith("."):
        extension = "." + extension
    image = Path(image)
    return image.with_name(image.stem + extension)


def guess_encoding(data: bytes) -> str:
    """Best guess for bytes that are not UTF-8: UTF-16 by its mark, else cp1251 or latin-1."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    high = [b for b in data if b >= 0x80]
    if not high:
        return "ascii"
    # Cyrillic text in cp1251 is mostly letters in 0xC0-0xFF; Western text in latin-1/cp1252 has
    # far fewer of those and more accents spread over 0x80-0xFF.
    cyrillic_letters = sum(1 for b in high if b >= 0xC0)
    return "cp1251" if cyrillic_letters / len(high) > 0.9 and len(high) >= 3 else "cp1252"


def decode_caption(data: bytes) -> tuple[str, str]:
    """Bytes -> (text, encoding). UTF-8 (with/without BOM) or a best-guess other encoding."""
    if data.startswith(UTF8_BOM):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            pass
    else:
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    encoding = guess_encoding(data)
    return data.decode(encoding, errors="replace"), encoding


def read_caption(path: str | os.PathLike[str]) -> CaptionFile:
    """Read a sidecar; a missing file gives an empty caption with ``exists=False``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return CaptionFile(path=path, text="", exists=False)
    except OSError as exc:
        raise DatasetError(f"The caption file {path.name} cannot be read: {exc.strerror or exc}.") from exc
    text, encoding = decode_caption(data)
    other = encoding not in ("utf-8", "utf-8-sig")
    return CaptionFile(path=path, text=text, exists=True, encoding=encoding, readonly=other)


def caption_bytes(text: str) -> bytes:
    """The exact bytes LoRA Studio writes for a caption: UTF-8, no BOM, line endings as given."""
    return text.encode("utf-8")


def write_caption(path: str | os.PathLike[str], text: str) -> None:
    """Write a caption atomically as UTF-8 (no BOM). Refuses to overwrite a file in another encoding."""
    path = Path(path)
    if path.exists():
        current = read_caption(path)
        if current.readonly:
            raise DatasetError(
                f"The caption file {path.name} is not saved as UTF-8 (it looks like {current.encoding}).",
                hint="Convert it to UTF-8 first (Check → Fix), so that no letters get lost.",
            )
    atomic_write_text(path, text, encoding="utf-8")


# -- tags ---------------------------------------------------------------------------------------------


def parse_tags(caption: str) -> list[str]:
    """``"a, b ,, c"`` -> ``["a", "b", "c"]``: split on commas and newlines, trim, keep order."""
    return [t.strip() for t in re.split(r"[,\n]", caption) if t.strip()]


def join_tags(tags: Iterable[str]) -> str:
    return ", ".join(t.strip() for t in tags if t.strip())


def _per_line(caption: str, fn: Callable[[list[str]], list[str]]) -> str:
    """Apply a tag-list function to each line; a caption without commas is one tag per line."""
    lines = caption.split("\n")
    out = []
    for line in lines:
        ending = "\r" if line.endswith("\r") else ""
        body = line[:-1] if ending else line
        if not body.strip() and len(lines) > 1:
            out.append(line)
            continue
        out.append(join_tags(fn([t.strip() for t in body.split(",") if t.strip()])) + ending)
    return "\n".join(out)


def add_tag(caption: str, tag: str, *, front: bool = False) -> str:
    """Add ``tag`` (to the front or the end) unless the caption already has it."""
    tag = tag.strip()
    if not tag:
        return caption

    def fn(tags: list[str]) -> list[str]:
        if tag in tags:
            return tags
        return [tag, *tags] if front else [*tags, tag]

    return _per_line(caption, fn)


def remove_tag(caption: str, tag: str) -> str:
    tag = tag.strip()
    return _per_line(caption, lambda tags: [t for t in tags if t != tag])


def rename_tag(caption: str, old: str, new: str) -> str:
    """Rename a whole tag (not parts of other tags); a resulting duplicate is dropped."""
    old, new = old.strip(), new.strip()
    return _per_line(caption, lambda tags: dedupe_list([new if t == old else t for t in tags]))


def replace_text(caption: str, old: str, new: str, *, regex: bool = False) -> str:
    """Replace text anywhere in the caption (plain or regular expression)."""
    if not old:
        return caption
    if not regex:
        return caption.replace(old, new)
    try:
        return re.sub(old, new, caption)
    except re.error as exc:
        raise DatasetError(f"The search pattern {old!r} is not a valid regular expression: {exc}.") from exc


def compile_check(pattern: str) -> None:
    """Raise DatasetError if ``pattern`` is not a valid regular expression."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise DatasetError(
            f"The search pattern {pattern!r} is not a valid regular expression: {exc}."
        ) from exc


def dedupe_list(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def remove_duplicate_tags(caption: str) -> str:
    return _per_line(caption, dedupe_list)


def sort_tags(
    caption: str, *, by: str = "alphabetical", frequency: Counter[str] | None = None, keep_first: int = 0
) -> str:
    """Sort tags ``"alphabetical"`` or by ``"frequency"`` (most used first); the first ``keep_first`` stay."""
    if by not in ("alphabetical", "frequency"):
        raise ValueError(f"unknown sort order {by!r}")
    freq = frequency or Counter()

    def key(t: str) -> tuple:
        return (-freq[t], t.casefold()) if by == "frequency" else (t.casefold(), t)

    return _per_line(caption, lambda tags: tags[:keep_first] + sorted(tags[keep_first:], key=key))


def add_trigger(caption: str, trigger: str) -> str:
    """Put the trigger word first (moved there if it is already elsewhere)."""
    trigger = trigger.strip()
    if not trigger:
        return caption
    return _per_line(caption, lambda tags: [trigger, *[t for t in tags if t != trigger]])


def tag_frequency(captions: Iterable[str]) -> Counter[str]:
    """How many captions contain each tag (a tag counts once per caption)."""
    counts: Counter[str] = Counter()
    for caption in captions:
        counts.update(set(parse_tags(caption)))
    return counts


def frequency_table(captions: Iterable[str]) -> list[tuple[str, int]]:
    """``[(tag, count), ...]`` most used first, then alphabetical."""
    return sorted(tag_frequency(captions).items(), key=lambda kv: (-kv[1], kv[0].casefold()))


def autocomplete(prefix: str, frequency: Counter[str], limit: int = 10) -> list[str]:
    """Tags starting with ``prefix`` (case-insensitive), most used first; then tags with a word
    starting with it (``"hair"`` finds ``"long hair"``)."""
    p = prefix.strip().casefold()
    if not p:
        return []
    ranked = sorted(frequency.items(), key=lambda kv: (-kv[1], kv[0].casefold()))
    starts = [t for t, _ in ranked if t.casefold().startswith(p) and t.casefold() != p]
    words = [
        t
        for t, _ in ranked
        if t not in starts and t.casefold() != p and any(w.startswith(p) for w in t.casefold().split()[1:])
    ]
    return (starts + words)[:limit]


# -- tokens ---------------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_]+|\d|[^\w\s]", re.UNICODE)


def approximate_token_count(text: str) -> int:
    """A cheap stand-in for the CLIP tokenizer (without start/end tokens).

    Short words are one token, long or non-English words several; digits and punctuation one each.
    Usually within ~15% of CLIP for English tag lists. The app always counts exactly
    (``clip_counter``); this is for quick sizing where no tokenizer is wanted (tests build long
    captions with it).
    """
    count = 0
    for piece in _WORD.findall(text.lower()):
        if piece.isascii() and piece.isalpha():
            count += 1 if len(piece) <= 7 else math.ceil(len(piece) / 5)
        elif piece.isalpha():
            count += len(piece)  # non-Latin letters are often one or more byte-level tokens each
        else:
            count += 1
    return count


_default_counter: TokenCounter | None = None
_default_counter_lock = threading.Lock()


def clip_counter() -> TokenCounter:
    """The exact CLIP counter (``clip_tokens``, read on first use). Raises
    ``clip_tokens.TokenizerFilesError`` when the bundled vocabulary is missing or damaged: counts
    are never silently replaced by estimates."""
    global _default_counter
    counter = _default_counter
    if counter is None:
        with _default_counter_lock:
            if _default_counter is None:
                _default_counter = clip_tokens.get_tokenizer().count
            counter = _default_counter
    return counter


def clip_token_counter(tokenizer: object) -> TokenCounter:
    """Wrap a Hugging Face CLIP tokenizer (``lora_studio.diffusion.tokenizer.load_clip_tokenizer()``,
    loaded by the caller so this package stays torch/transformers-free) as a counter."""

    def count(text: str) -> int:
        ids = tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"]  # type: ignore[operator]
        return len(ids)

    return count


def count_tokens(text: str, counter: TokenCounter | None = None) -> int:
    """CLIP tokens (without start/end) in the longest line of ``text`` (each line is a separate
    caption for the trainer). Exact by default; see ``clip_counter``."""
    fn = counter or clip_counter()
    return max((fn(line) for line in text.splitlines() if line.strip()), default=0)
