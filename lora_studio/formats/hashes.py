"""File hashes that other tools show and look up (A1111, kohya, Civitai), plus a persistent cache.

- ``model_hash``: A1111's "Model hash" = ``sha256(file)[:10]`` (Civitai "AutoV2").
- ``legacy_model_hash``: the old 8-hex hash = ``sha256(file[1 MiB : 1 MiB + 64 KiB])[:8]`` ("AutoV1").
- ``addnet_hash``: the LoRA hash = sha256 of the bytes after the safetensors header (tensor data
  only). A1111 shows its first 12 hex digits in ``Lora hashes``.
- ``precompute_sshs_hashes``: kohya's ``sshs_model_hash``/``sshs_legacy_hash``, computed before the
  file is written. Because the addnet hash skips the header, it equals ``addnet_hash`` of the final
  file whatever metadata is added later.

All file hashes stream the file in chunks. Torch-free at import time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from lora_studio.core.errors import ModelLoadError

# torch is never imported at module level here (not even for type checking: the import contracts
# count those too), so tensors are typed with this alias.
Tensor = Any  # a torch.Tensor

log = logging.getLogger(__name__)

CHUNK = 1 << 20
LEGACY_OFFSET = 0x100000
LEGACY_LENGTH = 0x10000
LORA_SHORT_LEN = 12  # A1111 shows the first 12 hex digits of a LoRA's hash
MODEL_SHORT_LEN = 10  # A1111 "Model hash"


def _sha256_stream(fh: BinaryIO, start: int = 0, length: int | None = None) -> str:
    h = hashlib.sha256()
    fh.seek(start)
    remaining = length
    while True:
        size = CHUNK if remaining is None else min(CHUNK, remaining)
        if size == 0:
            break
        block = fh.read(size)
        if not block:
            break
        h.update(block)
        if remaining is not None:
            remaining -= len(block)
    return h.hexdigest()


def _open(path: str | os.PathLike[str]) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise ModelLoadError(
            f"Cannot read “{Path(path).name}” to compute its hash.", details=f"{path}: {exc}"
        ) from exc


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The full sha256 of a file (64 hex digits)."""
    with _open(path) as fh:
        return _sha256_stream(fh)


def model_hash(path: str | os.PathLike[str]) -> str:
    """A1111's current "Model hash": the first 10 hex digits of the file's sha256."""
    return sha256_file(path)[:MODEL_SHORT_LEN]


def _legacy_of_stream(fh: BinaryIO) -> str:
    return _sha256_stream(fh, LEGACY_OFFSET, LEGACY_LENGTH)[:8]


def legacy_model_hash(path: str | os.PathLike[str]) -> str:
    """The old A1111 8-hex model hash (sha256 of 64 KiB at offset 1 MiB)."""
    with _open(path) as fh:
        return _legacy_of_stream(fh)


def _addnet_of_stream(fh: BinaryIO, name: str) -> str:
    fh.seek(0)
    prefix = fh.read(8)
    if len(prefix) < 8:
        raise ModelLoadError(f"“{name}” is too short to be a safetensors file.")
    (n,) = struct.unpack("<Q", prefix)
    return _sha256_stream(fh, 8 + n)


def addnet_hash(path: str | os.PathLike[str]) -> str:
    """sha256 of the tensor data of a safetensors file (everything after the header)."""
    with _open(path) as fh:
        return _addnet_of_stream(fh, Path(path).name)


def precompute_sshs_hashes(
    tensors: Mapping[str, Tensor], metadata: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """kohya's ``(sshs_model_hash, sshs_legacy_hash)`` for tensors that are about to be saved.

    Like kohya, the tensors are serialised in memory with only the ``ss_*`` metadata; the model hash
    covers the tensor data only, the legacy hash 64 KiB at offset 1 MiB of that serialisation.
    """
    import io

    from safetensors.torch import save

    ss_only = {k: str(v) for k, v in (metadata or {}).items() if k.startswith("ss_")}
    plain = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    buf = io.BytesIO(save(plain, metadata=ss_only))
    return _addnet_of_stream(buf, "<memory>"), _legacy_of_stream(buf)


# --- cache -----------------------------------------------------------------------------------------

HashKind = str  # "sha256" | "addnet" | "legacy"
_COMPUTE: dict[str, Callable[[Path], str]] = {
    "sha256": sha256_file,
    "addnet": addnet_hash,
    "legacy": legacy_model_hash,
}


class HashCache:
    """Hashes keyed by (absolute path, size, mtime), persisted as JSON. Safe to share across threads.

    A changed size or modification time invalidates a file's entry. Hashing itself happens outside
    the lock, so two threads may hash different files at once.
    """

    def __init__(self, cache_file: str | os.PathLike[str] | None = None) -> None:
        if cache_file is None:
            from lora_studio.core.paths import cache_dir

            cache_file = cache_dir() / "hashes.json"
        self.cache_file = Path(cache_file)
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] | None = None

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            try:
                data = json.loads(self.cache_file.read_text(encoding="utf-8"))
                self._entries = data.get("files", {}) if isinstance(data, dict) else {}
            except FileNotFoundError:
                self._entries = {}
            except (OSError, ValueError) as exc:
                log.warning("Ignoring unreadable hash cache %s: %s", self.cache_file, exc)
                self._entries = {}
        return self._entries

    @staticmethod
    def _key(path: Path) -> tuple[str, int, int]:
        resolved = path.resolve()
        try:
            st = resolved.stat()
        except OSError as exc:
            raise ModelLoadError(f"Cannot read “{path.name}” to compute its hash.", details=str(exc)) from exc
        return str(resolved), st.st_size, st.st_mtime_ns

    def get(self, path: str | os.PathLike[str], kind: HashKind = "sha256") -> str:
        """The ``kind`` hash of ``path`` ("sha256", "addnet" or "legacy"), computed once per version."""
        if kind not in _COMPUTE:
            raise ValueError(f"unknown hash kind {kind!r}")
        path = Path(path)
        key, size, mtime = self._key(path)
        with self._lock:
            entry = self._load().get(key)
            if entry and entry.get("size") == size and entry.get("mtime_ns") == mtime:
                cached = entry.get("hashes", {}).get(kind)
                if isinstance(cached, str):
                    return cached
        value = _COMPUTE[kind](path)
        with self._lock:
            entries = self._load()
            entry = entries.get(key)
            if not entry or entry.get("size") != size or entry.get("mtime_ns") != mtime:
                entry = {"size": size, "mtime_ns": mtime, "hashes": {}}
                entries[key] = entry
            entry["hashes"][kind] = value
            self._save_locked()
        return value

    def peek(self, path: str | os.PathLike[str], kind: HashKind = "sha256") -> str | None:
        """The cached hash if it is known and still valid, without computing anything."""
        path = Path(path)
        try:
            key, size, mtime = self._key(path)
        except ModelLoadError:
            return None
        with self._lock:
            entry = self._load().get(key)
            if entry and entry.get("size") == size and entry.get("mtime_ns") == mtime:
                value = entry.get("hashes", {}).get(kind)
                return value if isinstance(value, str) else None
        return None

    def _save_locked(self) -> None:
        from lora_studio.core.fileio import atomic_write_text

        try:
            text = json.dumps({"version": 1, "files": self._entries}, indent=0, sort_keys=True)
            atomic_write_text(self.cache_file, text)
        except OSError as exc:  # a cache that cannot be saved only costs time later
            log.warning("Could not save hash cache %s: %s", self.cache_file, exc)


_default_cache: HashCache | None = None
_default_lock = threading.Lock()


def default_cache() -> HashCache:
    """The app-wide cache in ``cache_dir()/hashes.json``."""
    global _default_cache
    with _default_lock:
        if _default_cache is None:
            _default_cache = HashCache()
        return _default_cache


def cached_model_hash(path: str | os.PathLike[str]) -> str:
    """A1111 "Model hash" (sha256[:10]) through the app-wide cache."""
    return default_cache().get(path, "sha256")[:MODEL_SHORT_LEN]


def cached_lora_hash(path: str | os.PathLike[str], metadata: Mapping[str, str] | None = None) -> str:
    """A1111's 12-hex LoRA short hash: ``sshs_model_hash`` from the metadata when present, else the
    addnet hash (through the app-wide cache)."""
    stored = (metadata or {}).get("sshs_model_hash")
    if isinstance(stored, str) and len(stored) >= LORA_SHORT_LEN:
        return stored[:LORA_SHORT_LEN]
    return default_cache().get(path, "addnet")[:LORA_SHORT_LEN]
