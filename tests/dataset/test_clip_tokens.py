"""Our CLIP token counter (the tokenizers library, torch-free) against the transformers CLIPTokenizer the
app trains with."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lora_studio.core import paths
from lora_studio.dataset import captions as cap
from lora_studio.dataset import clip_tokens

TAGS = (
    "masterpiece, best quality, 1girl, solo, long_hair, looking_at_viewer, smile, open_mouth, "
    "blue_eyes, blonde_hair, shirt, hair_ornament, long_sleeves, dress, ribbon, holding, "
    "school_uniform, white_shirt, upper_body, outdoors, sky, day, cloud, blue_sky, cherry_blossoms"
)

CASES = [
    "",
    " ",
    "\t\n  \r\n",
    "a photo of a dog",
    "A PHOTO OF A DOG",
    TAGS,
    "solo_focus, hatsune_miku_(cosplay), pokemon_(creature), :d, ^_^, >_<, o_o",
    "(masterpiece:1.2), ((best quality)), [worst quality], {extra}, (red hair:0.8)",
    r"kaname_madoka \(cosplay\), \(tag\)\\, a\,b",
    "<lora:myStyle_v2:0.7>, BREAK, AND, sks person",
    "1girl, 2boys, 1024x768, 3.5, 16:9, 0.75, 100%, #1, 3d, 4k, 8k uhd, 2000s (style)",
    "it's the dog's bone, don't, we're, they've, I'm, you'll, he'd, 'tis, rock'n'roll, ''s",
    "IT'S DON'T WE'RE",  # upper-case contractions become contractions after lower-casing
    "emoji 😀🎉👍🏽 👩‍👩‍👧 ❤️ 🇯🇵 ✨",
    "café naïve résumé Ångström Zoë façade crème brûlée São Paulo Łódź Straße ẞ",
    "e\u0301 vs é, combining: a\u0308o\u0308u\u0308",  # NFC composes
    "фото кота, девушка с длинными волосами, ЁЖИК",
    "ΟΔΟΣ οδος Σ σ ς ΣΑΣ",  # per-character lower case: a final capital sigma becomes σ
    "一个女孩, 长发, 蓝眼睛, 樱花",
    "女の子, 長い髪, カタカナ, ひらがな, ｶﾀｶﾅ, 「引用」",
    "한국어 캡션, \u1100\u1161\u11a8",  # Hangul, also as conjoining jamo (NFC composes)
    "Tom &amp; Jerry &lt;3 &quot;quoted&quot; &#39;x&#39; &nbsp;",
    "tab\tseparated\tvalues\nnew line\r\nwindows  two  spaces   three\u00a0nbsp\u3000ideographic",
    "zero\u200bwidth\ufeffbom\u180emongolian\x1cfile\x00null\x7fdel",
    "İstanbul, ǅ, ﬁ ﬀ, Ⅻ, ①②, ²³, ½",
    "a<|endoftext|>b <|startoftext|> x",
    "<|EndOfText|> <|STARTOFTEXT|> <|endoftext",
    "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopic",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, !!!!!!!!!!, ..., ---, ___, ~~~, ???",
    "url https://example.com/a_b?c=d&e=f, mail@example.org, C:\\path\\to\\file.png",
    "mixed: 1girl🙂café2boys—“quotes” ‘single’ «guillemets» …",
]


@pytest.fixture(scope="module")
def hf():
    pytest.importorskip("transformers")
    from lora_studio.diffusion.tokenizer import load_clip_tokenizer

    return load_clip_tokenizer()


@pytest.fixture(scope="module")
def ours() -> clip_tokens.ClipTokenizer:
    return clip_tokens.get_tokenizer()


def hf_ids(hf, texts: list[str]) -> list[list[int]]:
    return hf(texts, add_special_tokens=False, truncation=False)["input_ids"]


def long_caption(tokens_at_least: int) -> str:
    parts, i = [], 0
    while cap.approximate_token_count(", ".join(parts)) < tokens_at_least * 1.3:
        parts.append(f"{TAGS.split(', ')[i % 25]}_{i}")
        i += 1
    return ", ".join(parts)


@pytest.mark.parametrize("text", CASES, ids=range(len(CASES)))
def test_ids_match_transformers(hf, ours, text: str) -> None:
    expected = hf_ids(hf, [text])[0]
    assert ours.encode(text) == expected
    assert ours.tokenize(text) == hf.convert_ids_to_tokens(expected)
    assert ours.count(text) == len(expected)


@pytest.mark.parametrize("limit", [75, 150, 225])
def test_long_captions(hf, ours, limit: int) -> None:
    text = long_caption(limit)
    expected = hf_ids(hf, [text])[0]
    assert len(expected) > limit
    assert ours.encode(text) == expected
    assert clip_tokens.count(text) == len(expected)


def test_random_strings(hf, ours) -> None:
    rng = random.Random(20240611)
    alphabet = (
        list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        + list(" \t\n\r\u00a0\u3000  ")
        + list(",.:;!?()[]{}<>|\\/'\"_-+=*&^%$#@~`")
        + list("éèêëàâäöüßçñøåæœÉÀÖÜÇÑ\u0301\u0308İıǅﬁ")
        + list("абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЁЖЗ")
        + list("αβγδεζηθλμξπσςτφχψωΣΩΔ")
        + list("的一是不了人我在有他这中大来上国个到说们女孩长发")
        + list("あいうえおかきくけこがぎアイウエオカキクケコガギｶﾀﾅー「」、。")
        + list("한국어가나다라")
        + ["😀", "🎉", "👍🏽", "👩\u200d👩\u200d👧", "❤️", "🇯🇵", "\u200b", "\ufeff"]
        + [
            "<|endoftext|>",
            "<|startoftext|>",
            "<|EndOfText|>",
            "&amp;",
            "'s",
            "'t",
            "'ll",
            "1girl",
            "(tag:1.2)",
        ]
    )
    texts = ["".join(rng.choices(alphabet, k=rng.randint(0, 60))) for _ in range(400)]
    texts += [" ".join(rng.choices(CASES, k=3)) for _ in range(50)]
    expected = hf_ids(hf, texts)
    mismatches = [t for t, e in zip(texts, expected) if ours.encode(t) != e]
    assert not mismatches, f"{len(mismatches)} of {len(texts)} differ, e.g. {mismatches[0]!r}"


@pytest.mark.slow
def test_every_code_point(hf, ours) -> None:
    """All of Unicode, eight code points at a time, in order: every script, combining marks in
    every order the tables give, symbols, CJK, unassigned and private-use code points (about 10 s)."""
    code_points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    texts = ["".join(map(chr, code_points[i : i + 8])) for i in range(0, len(code_points), 8)]
    expected = hf_ids(hf, texts)
    mismatches = [t for t, e in zip(texts, expected) if ours.encode(t) != e]
    assert not mismatches, f"{len(mismatches)} of {len(texts)} differ, e.g. {mismatches[0]!r}"


def test_unicode_edge_cases(hf, ours) -> None:
    """Characters whose handling differs between Unicode versions (see the tables in clip_tokens)."""
    texts = [
        "x\u1dfa\u0301 x\u0301\u1dfa a\u1ac1\u1ac3\u0316",  # marks the tokenizer's NFC does not know
        "\U00011935\U00011930 \U000105d2\u0307",  # compositions it does not know
        "\ua7cb\ua7dc\U00010d50 \U00016ea0",  # upper case letters from Unicode 16/17
        "a\u0558b \U00010940x \U000323b0",  # letters its regular expressions do not know
        "ΣΑΣ ΟΔΟΣ.",
    ]
    for text in texts:
        assert ours.encode(text) == hf_ids(hf, [text])[0], text


def test_every_vocabulary_word(hf, ours) -> None:
    """Each whole word of the vocabulary, as text, tokenises as transformers does (BPE order)."""
    byte_of = {symbol: byte for byte, symbol in enumerate(byte_symbols())}
    words = []
    for token in ours.vocab:
        if token.endswith("</w>") and len(token) > 4:
            try:
                words.append(bytes(byte_of[c] for c in token[:-4]).decode("utf-8"))
            except (KeyError, UnicodeDecodeError):
                pass  # a token that is part of a multi-byte character
    assert len(words) > 30_000
    words = words[::3]  # a third is plenty, and quick
    expected = hf_ids(hf, words)
    assert [ours.encode(w) for w in words] == expected


def byte_symbols() -> list[str]:
    """Byte-level BPE's 256 stand-in characters by byte value: printable Latin-1 bytes stand for
    themselves, the others get U+0100 onwards in byte order."""
    printable = {*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)}
    extra = iter(range(0x100, 0x200))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def test_byte_symbols_are_the_vocabulary_s(ours) -> None:
    symbols = byte_symbols()
    assert len(set(symbols)) == 256
    assert symbols[ord("a")] == "a" and symbols[ord(" ")] == "Ġ" and symbols[0] == "Ā"
    assert all(s in ours.vocab and s + "</w>" in ours.vocab for s in symbols)


def test_count_tokens_is_exact_by_default(hf, monkeypatch) -> None:
    monkeypatch.setattr(cap, "_default_counter", None)
    text = "masterpiece, 1girl, kaname_madoka, (cherry_blossoms:1.2), supercalifragilistic"
    exact = len(hf_ids(hf, [text])[0])
    assert cap.approximate_token_count(text) != exact  # so the test tells the two apart
    assert cap.count_tokens(text) == exact
    assert cap.count_tokens(f"short\n{text}\n\nx") == exact  # the longest line
    assert cap.count_tokens("") == 0
    assert cap.count_tokens("a b c", counter=lambda t: 42) == 42
    assert cap.clip_token_counter(hf)(text) == exact  # the wrapper for a loaded HF tokenizer still works


def _without_shared_instances(monkeypatch) -> None:
    monkeypatch.setattr(clip_tokens, "_instance", None)
    monkeypatch.setattr(cap, "_default_counter", None)


def test_missing_files_are_an_error_not_an_estimate(monkeypatch, tmp_path: Path) -> None:
    _without_shared_instances(monkeypatch)
    monkeypatch.setattr(paths, "resource", lambda *parts: tmp_path.joinpath("missing", *parts))
    with pytest.raises(clip_tokens.TokenizerFilesError) as info:
        clip_tokens.get_tokenizer()
    assert "Reinstall" in info.value.hint and "missing" in info.value.details
    text = "masterpiece, 1girl, kaname_madoka, (cherry_blossoms:1.2)"
    with pytest.raises(clip_tokens.TokenizerFilesError):
        cap.count_tokens(text)  # no silent switch to approximate counts
    monkeypatch.undo()
    assert cap.count_tokens(text) == clip_tokens.count(text)  # and it tries again next time


@pytest.mark.parametrize(
    ("vocab", "merges"),
    [
        ("{not json", "#version: 0.2\ni n\n"),
        ('["a list"]', "#version: 0.2\ni n\n"),
        ('{"<|startoftext|>": 0, "<|endoftext|>": 1}', "#version: 0.2\ni n\n"),  # no byte tokens
    ],
)
def test_damaged_files(tmp_path: Path, vocab: str, merges: str) -> None:
    (tmp_path / "vocab.json").write_text(vocab, encoding="utf-8")
    (tmp_path / "merges.txt").write_text(merges, encoding="utf-8")
    with pytest.raises(clip_tokens.TokenizerFilesError):
        clip_tokens.ClipTokenizer.from_folder(tmp_path)


def test_damaged_merges(tmp_path: Path) -> None:
    src = paths.resource("clip_tokenizer")
    (tmp_path / "vocab.json").write_bytes((src / "vocab.json").read_bytes())
    good = (src / "merges.txt").read_text(encoding="utf-8")
    (tmp_path / "merges.txt").write_text(good[: len(good) // 2] + "\nnot a merge line\n", encoding="utf-8")
    with pytest.raises(clip_tokens.TokenizerFilesError):
        clip_tokens.ClipTokenizer.from_folder(tmp_path)
    (tmp_path / "merges.txt").write_text(good.replace("\n", "\r\n"), encoding="utf-8")  # CRLF is fine
    assert clip_tokens.ClipTokenizer.from_folder(tmp_path).count("a photo of a dog") == 5


def test_loaded_once_across_threads(monkeypatch) -> None:
    _without_shared_instances(monkeypatch)
    loads = []
    real = clip_tokens.ClipTokenizer.from_folder

    def counting(folder):
        loads.append(folder)
        return real(folder)

    monkeypatch.setattr(clip_tokens.ClipTokenizer, "from_folder", staticmethod(counting))
    results: list[clip_tokens.ClipTokenizer] = []
    threads = [threading.Thread(target=lambda: results.append(clip_tokens.get_tokenizer())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len(results) == 8 and all(r is results[0] for r in results)


def test_import_loads_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from lora_studio.dataset import captions, clip_tokens\n"
        "assert clip_tokens._instance is None and captions._default_counter is None\n"
        "assert not {'torch', 'transformers'} & set(sys.modules)\n"
        "assert captions.count_tokens('a photo of a dog') == 5\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_caption_editor_shows_the_exact_count(qtbot, hf, monkeypatch) -> None:
    pytest.importorskip("PySide6")
    from lora_studio.app.panels.dataset.caption_editor_widget import CaptionEditorWidget

    monkeypatch.setattr(cap, "_default_counter", None)
    widget = CaptionEditorWidget()
    qtbot.addWidget(widget)
    text = "masterpiece, 1girl, kaname_madoka, (cherry_blossoms:1.2), supercalifragilistic"
    exact = len(hf_ids(hf, [text])[0])
    assert cap.approximate_token_count(text) != exact
    widget.text.setPlainText(text)
    assert first_number(widget.tokens.text()) == exact
    long_text = long_caption(75)
    widget.text.setPlainText(long_text)
    assert first_number(widget.tokens.text()) == len(hf_ids(hf, [long_text])[0]) > 75


def first_number(label: str) -> int:
    return int(re.search(r"\d+", label).group())
