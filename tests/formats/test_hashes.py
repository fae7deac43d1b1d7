from __future__ import annotations

import hashlib
import json
import threading

import torch

from lora_studio.formats import hashes
from lora_studio.formats.hashes import (
    HashCache,
    addnet_hash,
    legacy_model_hash,
    model_hash,
    precompute_sshs_hashes,
    sha256_file,
)
from lora_studio.formats.safetensors_meta import read_header, write_safetensors


def test_file_hashes_match_definitions(tmp_path, monkeypatch):
    monkeypatch.setattr(hashes, "CHUNK", 1000)  # force several chunks
    data = bytes(range(256)) * 5000  # 1.28 MB, past the legacy window
    path = tmp_path / "model.ckpt"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert model_hash(path) == hashlib.sha256(data).hexdigest()[:10]
    assert legacy_model_hash(path) == hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8]


def test_addnet_hash_covers_tensor_data_only(tmp_path):
    tensors = {"a.lora_down.weight": torch.arange(12.0).reshape(3, 4), "a.alpha": torch.tensor(2.0)}
    one = write_safetensors(tmp_path / "one.safetensors", tensors, {"ss_x": "1"})
    two = write_safetensors(tmp_path / "two.safetensors", tensors, {"ss_x": "1", "modelspec.title": "t" * 99})
    raw = one.read_bytes()
    assert addnet_hash(one) == hashlib.sha256(raw[read_header(one).data_start :]).hexdigest()
    assert addnet_hash(one) == addnet_hash(two)


def test_precomputed_sshs_hash_equals_final_file(tmp_path):
    tensors = {
        "m.lora_down.weight": torch.randn(4, 8),
        "m.lora_up.weight": torch.randn(8, 4),
        "m.alpha": torch.tensor(2.0),
    }
    meta = {"ss_network_dim": "4", "modelspec.title": "x"}
    model, legacy = precompute_sshs_hashes(tensors, meta)
    final = write_safetensors(
        tmp_path / "f.safetensors",
        tensors,
        {**meta, "sshs_model_hash": model, "sshs_legacy_hash": legacy, "more": "y"},
    )
    assert model == addnet_hash(final)
    assert len(legacy) == 8 and int(legacy, 16) >= 0


def test_cache_reuses_and_invalidates(tmp_path, monkeypatch):
    cache_file = tmp_path / "cache" / "hashes.json"
    target = tmp_path / "f.bin"
    target.write_bytes(b"hello")
    calls = []
    real = hashes._COMPUTE["sha256"]
    monkeypatch.setitem(hashes._COMPUTE, "sha256", lambda p: calls.append(p) or real(p))

    cache = HashCache(cache_file)
    first = cache.get(target)
    assert first == hashlib.sha256(b"hello").hexdigest()
    assert cache.get(target) == first and len(calls) == 1
    # A second cache object reads the persisted JSON.
    assert HashCache(cache_file).peek(target) == first
    assert str(target.resolve()) in json.loads(cache_file.read_text())["files"]

    target.write_bytes(b"hello world")  # size changes -> recomputed
    assert cache.get(target) == hashlib.sha256(b"hello world").hexdigest()
    assert len(calls) == 2


def test_cache_thread_safe(tmp_path):
    files = []
    for i in range(6):
        f = tmp_path / f"{i}.bin"
        f.write_bytes(str(i).encode() * 100)
        files.append(f)
    cache = HashCache(tmp_path / "h.json")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for f in files:
                cache.get(f)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    reread = HashCache(tmp_path / "h.json")
    assert all(reread.peek(f) == sha256_file(f) for f in files)


def test_cached_lora_hash_prefers_stored(tmp_path):
    path = write_safetensors(tmp_path / "l.safetensors", {"a": torch.ones(2)})
    assert hashes.cached_lora_hash(path, {"sshs_model_hash": "ab" * 32}) == "ab" * 6
    assert hashes.cached_lora_hash(path) == addnet_hash(path)[:12]
