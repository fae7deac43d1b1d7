"""TensorBoard event files of a run (optional, ``log.tensorboard``): loss, learning rate(s),
average epoch loss, validation loss and sample pictures, in ``<output_dir>/tensorboard/<name>/``.

The files are written here without TensorBoard or TensorFlow installed (the app does not ship
them): an event file is a TFRecord stream (length, masked CRC-32C of the length, the record,
masked CRC-32C of the record) of ``Event`` protocol buffers, encoded by hand below for the few
fields used (``Event.wall_time/step/file_version/summary``, ``Summary.Value.tag/simple_value/
image``). The tests read them back with TensorBoard's own ``EventAccumulator``.

:class:`TensorBoardReporter` wraps a run's reporter: every event still reaches the wrapped one.
"""

from __future__ import annotations

import platform
import struct
import time
from pathlib import Path
from typing import BinaryIO

from lora_studio.core.events import (
    EpochFinished,
    Event,
    Reporter,
    SampleReady,
    StepFinished,
    ValidationLoss,
)

TB_DIR = "tensorboard"


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as TFRecord uses."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# -- protocol buffer encoding (wire types: 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit) -------


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _bytes_field(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def _event(step: int, *, summary: bytes | None = None, file_version: str | None = None) -> bytes:
    msg = _key(1, 1) + struct.pack("<d", time.time()) + _key(2, 0) + _varint(step)
    if file_version is not None:
        msg += _bytes_field(3, file_version.encode())
    if summary is not None:
        msg += _bytes_field(5, summary)
    return msg


def _scalar_value(tag: str, value: float) -> bytes:
    return _bytes_field(1, tag.encode()) + _key(2, 5) + struct.pack("<f", value)


def _image_value(tag: str, png: bytes, width: int, height: int, channels: int) -> bytes:
    image = _key(1, 0) + _varint(height) + _key(2, 0) + _varint(width) + _key(3, 0) + _varint(channels)
    image += _bytes_field(4, png)
    return _bytes_field(1, tag.encode()) + _bytes_field(4, image)


class EventFileWriter:
    """One ``events.out.tfevents.*`` file, appended record by record (flushed on each write, so
    TensorBoard shows a running training live and a crash loses nothing written)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time()):010d}.{platform.node()}.lora-studio"
        self.path = self.folder / name
        self._fh: BinaryIO | None = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        self._write(_event(0, file_version="brain.Event:2"))

    def _write(self, record: bytes) -> None:
        if self._fh is None:
            return
        header = struct.pack("<Q", len(record))
        self._fh.write(header + struct.pack("<I", _masked_crc(header)) + record)
        self._fh.write(struct.pack("<I", _masked_crc(record)))
        self._fh.flush()

    def scalar(self, tag: str, value: float, step: int) -> None:
        self._write(_event(step, summary=_bytes_field(1, _scalar_value(tag, float(value)))))

    def image(self, tag: str, path: str | Path, step: int) -> None:
        from PIL import Image

        with Image.open(path) as img:
            width, height = img.size
            channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}.get(img.mode, 3)
        png = Path(path).read_bytes()
        self._write(_event(step, summary=_bytes_field(1, _image_value(tag, png, width, height, channels))))

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def tensorboard_dir(output_dir: str | Path, output_name: str) -> Path:
    """Where a run's event files go: ``<output_dir>/tensorboard/<output_name>``."""
    return Path(output_dir) / TB_DIR / output_name


class TensorBoardReporter:
    """A reporter that logs the run's numbers and samples to TensorBoard, then passes each event on."""

    def __init__(self, inner: Reporter, folder: str | Path) -> None:
        self.inner = inner
        self.writer = EventFileWriter(folder)

    def __call__(self, event: Event) -> None:
        w = self.writer
        if isinstance(event, StepFinished):
            w.scalar("loss/step", event.loss, event.step)
            w.scalar("lr/unet", event.lr, event.step)
            for i, lr in enumerate(event.lrs[1:], start=1):
                w.scalar(f"lr/group{i}", lr, event.step)
        elif isinstance(event, EpochFinished):
            w.scalar("loss/epoch_average", event.avg_loss, event.step)
        elif isinstance(event, ValidationLoss):
            w.scalar("loss/validation", event.loss, event.step)
        elif isinstance(event, SampleReady):
            w.image(f"samples/prompt{event.prompt_index}", event.path, event.step)
        self.inner(event)

    def close(self) -> None:
        self.writer.close()
