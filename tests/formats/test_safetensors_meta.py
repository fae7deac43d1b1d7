from __future__ import annotations

import json
import struct

import pytest
import torch

from lora_studio.core.errors import ModelLoadError
from lora_studio.formats.safetensors_meta import is_safetensors, read_header, read_scalars, write_safetensors


def _raw_file(path, header: dict, data: bytes = b"") -> None:
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)


def test_write_then_read_header(tmp_path):
    path = write_safetensors(
        tmp_path / "a.safetensors",
        {"x.weight": torch.ones(2, 3), "y.alpha": torch.tensor(2.0, dtype=torch.float16)},
        {"ss_network_dim": "4", "n": 5},
    )
    header = read_header(path)
    assert header.metadata == {"ss_network_dim": "4", "n": "5"}
    assert header.tensors["x.weight"].shape == (2, 3)
    assert header.tensors["x.weight"].dtype == "F32"
    assert header.tensors["y.alpha"].shape == ()
    assert header.data_start + header.data_size == path.stat().st_size
    assert read_scalars(header, ["y.alpha", "x.weight", "missing"]) == {"y.alpha": 2.0}
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left nothing behind


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_read_scalars_dtypes(tmp_path, dtype):
    path = write_safetensors(tmp_path / "s.safetensors", {"a": torch.tensor(0.5, dtype=dtype)})
    assert read_scalars(read_header(path), ["a"]) == {"a": 0.5}


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b"", "empty"),
        (b"\x01\x02", "too short"),
        (struct.pack("<Q", 500) + b'{"a": 1', "truncated"),
        (struct.pack("<Q", 4) + b"\xff\xfe\x00\x01", "no valid header"),
        (b"PK\x03\x04 this is a zip or ckpt file", "pickle"),
        (struct.pack("<Q", 7) + b"[1,2,3]", "no valid header"),
    ],
)
def test_broken_files_raise_model_load_error(tmp_path, content, phrase):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError) as info:
        read_header(path)
    assert "broken.safetensors" in info.value.message
    assert phrase in info.value.message
    assert not is_safetensors(path)


def test_tensor_past_end_is_truncated(tmp_path):
    path = tmp_path / "cut.safetensors"
    _raw_file(path, {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8)
    with pytest.raises(ModelLoadError, match="truncated"):
        read_header(path)


def test_malformed_entry_and_missing_file(tmp_path):
    path = tmp_path / "odd.safetensors"
    _raw_file(path, {"w": {"dtype": "F32"}})
    with pytest.raises(ModelLoadError, match="malformed"):
        read_header(path)
    with pytest.raises(ModelLoadError, match="does not exist"):
        read_header(tmp_path / "nope.safetensors")
    with pytest.raises(ModelLoadError, match="folder"):
        read_header(tmp_path)


def test_non_string_metadata_is_tolerated(tmp_path):
    path = tmp_path / "m.safetensors"
    _raw_file(path, {"__metadata__": {"a": "x", "b": {"c": 1}}})
    assert read_header(path).metadata == {"a": "x", "b": '{"c": 1}'}


def test_a_header_length_that_looks_like_a_pickle_is_still_read(tmp_path):
    """The 8-byte length can begin with 0x80 or "PK" (a header of 128 + 256·k bytes): still safetensors."""
    for pad, first_bytes in ((0x80, b"\x80"), (0x4B50, b"PK")):
        name = "x" * 8
        header = json.dumps({"__metadata__": {"k": "v"}, name: {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})
        header = header.ljust(pad, " ").encode()  # safetensors pads its header with spaces
        path = tmp_path / f"odd-{pad}.safetensors"
        path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
        assert path.read_bytes()[:len(first_bytes)] == first_bytes
        assert read_header(path).metadata == {"k": "v"}
