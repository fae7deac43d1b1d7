from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from lora_studio.core.errors import DatasetError
from lora_studio.dataset import captions as cap
from lora_studio.dataset import edits


def test_tag_ops() -> None:
    assert cap.parse_tags(" a, b ,, c\n d ") == ["a", "b", "c", "d"]
    assert cap.join_tags(["a", " b ", ""]) == "a, b"
    assert cap.add_tag("a, b", "c") == "a, b, c"
    assert cap.add_tag("a, b", "c", front=True) == "c, a, b"
    assert cap.add_tag("a, b", "b") == "a, b"
    assert cap.remove_tag("a, b, ab", "b") == "a, ab"
    assert cap.rename_tag("dog, cat, dog2", "cat", "dog") == "dog, dog2"
    assert cap.replace_text("red hair, red eyes", "red", "blue") == "blue hair, blue eyes"
    assert cap.replace_text("1girl, 2girls", r"(\d)girls?", r"\1 person", regex=True) == "1 person, 2 person"
    with pytest.raises(DatasetError):
        cap.replace_text("x", "(", "", regex=True)
    assert cap.remove_duplicate_tags("a, b, a, c, b") == "a, b, c"
    assert cap.sort_tags("b, C, a") == "a, b, C"
    assert cap.sort_tags("b, a, c", by="frequency", frequency=Counter({"c": 5, "a": 2})) == "c, a, b"
    assert cap.sort_tags("sks, z, a", keep_first=1) == "sks, a, z"
    assert cap.add_trigger("a, sks, b", "sks") == "sks, a, b"
    assert cap.add_trigger("", "sks") == "sks"
    assert cap.add_tag("a, b\nc", "x") == "a, b, x\nc, x"  # each line is a caption variant


def test_frequency_and_autocomplete() -> None:
    freq = cap.tag_frequency(["long hair, smile, smile", "long hair, lake", "hat, long hair, lamp"])
    assert freq["long hair"] == 3 and freq["smile"] == 1
    assert cap.frequency_table(["b, a", "a"])[0] == ("a", 2)
    assert cap.autocomplete("l", freq) == ["long hair", "lake", "lamp"]
    assert cap.autocomplete("hair", freq) == ["long hair"]
    assert cap.autocomplete("", freq) == []


def test_token_counts() -> None:
    assert cap.approximate_token_count("a photo of a dog") == 5
    assert cap.count_tokens("short\n" + "word, " * 80) >= 80
    assert cap.count_tokens("a b c", counter=lambda t: 42) == 42


def test_encodings(tmp_path: Path) -> None:
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbf" + "кот, рыжий".encode())
    cf = cap.read_caption(bom)
    assert cf.text == "кот, рыжий" and cf.has_bom and not cf.readonly
    cyr = tmp_path / "cyr.txt"
    cyr.write_bytes("кот, рыжий, на окне".encode("cp1251"))
    cf = cap.read_caption(cyr)
    assert cf.encoding == "cp1251" and cf.readonly and cf.text == "кот, рыжий, на окне"
    lat = tmp_path / "lat.txt"
    lat.write_bytes("café, naïve".encode("latin-1"))
    cf = cap.read_caption(lat)
    assert cf.other_encoding and cf.text == "café, naïve"
    before = cyr.read_bytes(), lat.read_bytes()
    with pytest.raises(DatasetError, match="not saved as UTF-8"):
        cap.write_caption(cyr, "x")
    edit = edits.add_tag_edit([cyr, lat, bom], "new")
    assert [p for p, _ in edit.skipped] == [cyr, lat] and len(edit) == 1
    edits.EditStack().push(edit)
    assert (cyr.read_bytes(), lat.read_bytes()) == before
    assert bom.read_text(encoding="utf-8") == "кот, рыжий, new"
    assert not cap.read_caption(tmp_path / "none.txt").exists


def test_undo_redo_bulk_replace_restores_bytes(tmp_path: Path) -> None:
    files = {
        "a.txt": b"red hair, smile\r\n",
        "b.txt": b"\xef\xbb\xbfred dress, red",
        "c.txt": b"blue, sky",
        "d.txt": "rouge, r\xe9d".encode("latin-1"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    paths = [tmp_path / n for n in files] + [tmp_path / "e.txt"]  # e.txt does not exist
    stack = edits.EditStack()
    edit = stack.push(edits.replace_edit(paths, r"\bred\b", "crimson", regex=True))
    assert {c.path.name for c in edit.changes} == {"a.txt", "b.txt"}
    assert (tmp_path / "a.txt").read_bytes() == b"crimson hair, smile\r\n"
    assert stack.undo_label.startswith("Replace")
    stack.undo()
    assert {n: (tmp_path / n).read_bytes() for n in files} == files
    assert not (tmp_path / "e.txt").exists()
    stack.redo()
    assert (tmp_path / "b.txt").read_bytes() == b"crimson dress, crimson"
    trig = stack.push(edits.add_trigger_edit(paths, "sks"))
    assert (tmp_path / "e.txt").read_text() == "sks" and len(trig) == 4
    stack.undo()
    assert not (tmp_path / "e.txt").exists()
    (tmp_path / "a.txt").write_text("changed elsewhere", encoding="utf-8")
    with pytest.raises(DatasetError, match="changed outside"):
        stack.undo()
    stack.undo(force=True)
    assert {n: (tmp_path / n).read_bytes() for n in files} == files


def test_other_bulk_edits(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("x, y, x", encoding="utf-8")
    b.write_text("y, z", encoding="utf-8")
    stack = edits.EditStack()
    stack.push(edits.dedupe_edit([a, b]))
    assert a.read_text() == "x, y"
    stack.push(edits.sort_edit([a, b], by="frequency"))
    assert a.read_text() == "y, x"
    stack.push(edits.rename_tag_edit([a, b], "y", "why"))
    stack.push(edits.remove_tag_edit([a, b], "z"))
    stack.push(edits.add_tag_edit([a, b], "q", front=True))
    assert (a.read_text(), b.read_text()) == ("q, why, x", "q, why")
    while stack.can_undo:
        stack.undo()
    assert (a.read_text(), b.read_text()) == ("x, y, x", "y, z")
    assert stack.can_redo and not stack.can_undo
