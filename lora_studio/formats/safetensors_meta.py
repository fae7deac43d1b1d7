"""Read a ``.safetensors`` header without loading any tensor; write safetensors files atomically.

A safetensors file is: 8 bytes (little-endian unsigned length ``n``), ``n`` bytes of JSON (the
header: tensor name -> dtype/shape/data_offsets, plus an optional ``__metadata__`` dict of strings),
then the raw tensor data. Reading the header is enough to tell what a file is (LoRA or checkpoint,
which base model, which training settings), so the app can list hundreds of files quickly.

Torch-free at import time: ``write_safetensors`` imports torch/safetensors.torch only when called.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lora_studio.core.errors import ModelLoadError
from lora_studio.core.fileio import atomic_path

# torch is never imported at module level here (not even for type checking: the import contracts
# count those too), so tensors are typed with this alias.
Tensor = Any  # a torch.Tensor

# A header larger than this is not a real file (safetensors itself refuses headers > 100 MB).
MAX_HEADER_BYTES = 100 * 1024 * 1024

# Bytes per element for each safetensors dtype name (sub-byte types count as 1 here; only used for
# sanity checks and size estimates).
DTYPE_SIZES: dict[str, int] = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "F4": 1, "F6_E2M3": 1,
    "F6_E3M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8, "C64": 8,
}  # fmt: skip


@dataclass(frozen=True)
class TensorInfo:
    """What the header says about one tensor."""

    dtype: str
    shape: tuple[int, ...]
    data_offsets: tuple[int, int]  # relative to the start of the data section

    @property
    def nbytes(self) -> int:
        return self.data_offsets[1] - self.data_offsets[0]

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class SafetensorsHeader:
    """The parsed header of a safetensors file (no tensor data is read)."""

    path: Path
    header_size: int  # length of the JSON header in bytes (the ``n`` of the 8-byte prefix)
    file_size: int
    metadata: dict[str, str] = field(default_factory=dict)
    tensors: dict[str, TensorInfo] = field(default_factory=dict)

    @property
    def data_start(self) -> int:
        """Byte offset where the tensor data begins (8 + header size)."""
        return 8 + self.header_size

    @property
    def data_size(self) -> int:
        return self.file_size - self.data_start

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Tensor name -> shape, the form the key classifiers take."""
        return {name: info.shape for name, info in self.tensors.items()}


def _bad(path: Path, what: str, hint: str = "") -> ModelLoadError:
    return ModelLoadError(
        f"“{path.name}” cannot be read: {what}.",
        hint=hint
        or "The file may be damaged or incomplete (an interrupted download or copy), or not a model "
        "file. Download or copy it again.",
        details=str(path),
    )


def _unreadable(path: Path, exc: OSError) -> ModelLoadError:
    """A file the system won't let us read, in plain words (missing, a folder, no permission …)."""
    if isinstance(exc, FileNotFoundError):
        what, hint = "does not exist", "It was not found: check that the file still exists and choose it again."
    elif isinstance(exc, IsADirectoryError):
        what, hint = "is a folder, not a model file", "Choose the model file itself."
    elif isinstance(exc, PermissionError):
        what, hint = "cannot be read (permission denied)", "Check the file's permissions, or copy it to a folder you own."
    else:
        what, hint = f"cannot be read ({exc.strerror or exc})", "Check the disk, or copy the file again."
    return ModelLoadError(f"The file “{path.name}” {what}.", hint=hint, details=str(path))


_CONVERT_HINT = (
    "Convert it to .safetensors first, for example with the kohya_ss GUI (Utilities > Convert model) "
    'or the "Model Converter" extension of AUTOMATIC1111, then choose the new file.'
)


def parse_header_bytes(raw: bytes, *, path: Path, file_size: int) -> SafetensorsHeader:
    """Parse the JSON header bytes (without the 8-byte length prefix). Raises ``ModelLoadError``."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(path, "its header is not valid JSON") from exc
    if not isinstance(doc, dict):
        raise _bad(path, "its header is not a JSON object")
    metadata: dict[str, str] = {}
    raw_meta = doc.pop("__metadata__", None)
    if raw_meta is not None:
        if not isinstance(raw_meta, dict):
            raise _bad(path, "its metadata block is not a JSON object")
        # The format says values are strings; be lenient with writers that put other JSON there.
        metadata = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw_meta.items()}
    data_size = file_size - 8 - len(raw)
    tensors: dict[str, TensorInfo] = {}
    for name, entry in doc.items():
        try:
            dtype = str(entry["dtype"])
            shape = tuple(int(d) for d in entry["shape"])
            begin, end = (int(x) for x in entry["data_offsets"])
        except (KeyError, TypeError, ValueError) as exc:
            raise _bad(path, f"the entry for tensor “{name}” is malformed") from exc
        if not 0 <= begin <= end <= data_size:
            raise _bad(path, f"tensor “{name}” points past the end of the file (it is cut off, truncated)")
        tensors[name] = TensorInfo(dtype=dtype, shape=shape, data_offsets=(begin, end))
    return SafetensorsHeader(
        path=path, header_size=len(raw), file_size=file_size, metadata=metadata, tensors=tensors
    )


def read_header(path: str | os.PathLike[str]) -> SafetensorsHeader:
    """Read only the header of a safetensors file (the one header reader of the code base).

    Raises ``ModelLoadError`` (a plain message naming the file, and what to do) when the file is
    missing, empty, cut off, an old-style pickle checkpoint, or not a safetensors file at all.
    """
    path = Path(path)
    try:
        file_size = path.stat().st_size
        with open(path, "rb") as fh:
            prefix = fh.read(8)
            json_start = fh.read(1)
            fh.seek(8)
            # PyTorch zip archives start with "PK", bare pickles with the protocol byte 0x80; a real
            # header's length can start with the same bytes, but then its JSON follows at byte 8.
            if (prefix[:2] == b"PK" or prefix[:1] == b"\x80") and json_start not in (b"{", b" "):
                raise _bad(
                    path,
                    "it is an old-style PyTorch (pickle) file, not a real .safetensors file",
                    _CONVERT_HINT,
                )
            if len(prefix) < 8:
                raise _bad(path, "the file is empty" if not prefix else "the file is too short")
            (n,) = struct.unpack("<Q", prefix)
            if n == 0 or n > MAX_HEADER_BYTES:
                raise _bad(path, "it is not a .safetensors file (it has no valid header)")
            if n > file_size - 8:
                raise _bad(path, "the file is cut off (truncated)")
            raw = fh.read(n)
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    if len(raw) < n:
        raise _bad(path, "the file is cut off (truncated)")
    if not raw.lstrip(b" ").startswith(b"{"):
        raise _bad(path, "it is not a .safetensors file (it has no valid header)")
    return parse_header_bytes(raw, path=path, file_size=file_size)


# Floating-point dtypes: (unsigned view, exponent bits). A value is NaN or ±inf exactly when all its
# exponent bits are set, whatever the format, so one mask test finds both without a float library.
_EXPONENT_MASKS = {
    "F16": ("<u2", 0x7C00),
    "BF16": ("<u2", 0x7F80),
    "F32": ("<u4", 0x7F800000),
    "F64": ("<u8", 0x7FF0000000000000),
}


def nonfinite_tensors(path: str | os.PathLike[str], header: SafetensorsHeader | None = None) -> list[str]:
    """Names of the tensors that hold a NaN or an infinity (read in chunks, numpy only).

    A LoRA with such values turns every picture black or grey; this reads the file once, which for
    a LoRA (tens of MB) costs a fraction of a second.
    """
    import numpy as np

    path = Path(path)
    header = header or read_header(path)
    bad: list[str] = []
    with open(path, "rb") as fh:
        for name, info in header.tensors.items():
            spec = _EXPONENT_MASKS.get(info.dtype.upper())
            if spec is None or info.nbytes == 0:
                continue
            view, mask = spec
            fh.seek(header.data_start + info.data_offsets[0])
            remaining = info.nbytes
            while remaining > 0:
                chunk = fh.read(min(remaining, 16 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
                words = np.frombuffer(chunk[: len(chunk) - len(chunk) % np.dtype(view).itemsize], dtype=view)
                if np.any((words & np.array(mask, dtype=view)) == np.array(mask, dtype=view)):
                    bad.append(name)
                    break
    return bad


def is_safetensors(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` has a readable safetensors header."""
    try:
        read_header(path)
    except ModelLoadError:
        return False
    return True


def write_safetensors(
    path: str | os.PathLike[str],
    tensors: Mapping[str, Tensor],
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``tensors`` and string ``metadata`` to ``path`` atomically; return the path.

    Non-string metadata values are converted with ``str`` (kohya does the same). Tensors are made
    contiguous and moved to the CPU first.
    """
    from safetensors.torch import save_file

    meta = {str(k): v if isinstance(v, str) else str(v) for k, v in (metadata or {}).items()}
    plain = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    target = Path(path)
    with atomic_path(target) as tmp:
        save_file(plain, str(tmp), metadata=meta)
    return target


def read_scalars(header: SafetensorsHeader, names: Iterable[str]) -> dict[str, float]:
    """Read single-element tensors (such as LoRA ``.alpha`` values) without torch.

    Names that are missing, not single-element, or of an unsupported dtype are skipped.
    """
    wanted = [(n, header.tensors[n]) for n in names if n in header.tensors]
    out: dict[str, float] = {}
    if not wanted:
        return out
    try:
        with open(header.path, "rb") as fh:
            for name, info in wanted:
                if info.numel != 1 or info.dtype not in _SCALAR_FORMATS:
                    continue
                fh.seek(header.data_start + info.data_offsets[0])
                raw = fh.read(info.nbytes)
                if len(raw) != info.nbytes:
                    continue
                out[name] = _decode_scalar(info.dtype, raw)
    except OSError as exc:
        raise ModelLoadError(f"Cannot read “{header.path.name}”.", details=str(exc)) from exc
    return out


_SCALAR_FORMATS = {
    "F64": "<d", "F32": "<f", "F16": "<e", "BF16": "", "I64": "<q", "I32": "<i", "I16": "<h",
    "I8": "<b", "U8": "<B",
}  # fmt: skip


def _decode_scalar(dtype: str, raw: bytes) -> float:
    if dtype == "BF16":  # the top half of a float32
        return float(struct.unpack("<f", b"\x00\x00" + raw)[0])
    return float(struct.unpack(_SCALAR_FORMATS[dtype], raw)[0])
