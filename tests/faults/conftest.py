"""Fault injection: a bad-input corpus, tiny training configs, and the CLI run as a user runs it."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from lora_studio.training.config import save_config
from tests.training.conftest import _one_thread, make_images, tiny_config  # noqa: F401 - (fixture)

REPO = Path(__file__).resolve().parents[2]


# -- the bad-input corpus ------------------------------------------------------------------------------
def png_bomb(path: Path, width: int = 40000, height: int = 40000) -> Path:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a "decompression bomb")."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


@dataclass
class Corpus:
    """A kohya folder holding every kind of bad input the issue lists, and what each should cause."""

    root: Path  # the kohya "img" folder
    concept: Path  # img/2_sks
    good: list[Path] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)  # file name -> check code
    odd: dict[str, str] = field(default_factory=dict)  # file name -> check code


def make_bad_corpus(base: Path, good: int = 2) -> Corpus:
    """Generate the corpus: good pictures plus a bomb, a cut-off JPEG, text named .png, an empty
    file, a GIF, a TIFF, a caption without a picture, twin.png/twin.jpg sharing twin.txt, a broken
    link and a 15:1 panorama."""
    concept = base / "img" / "2_sks"
    c = Corpus(root=base / "img", concept=concept)
    c.good = make_images(concept, good)
    for p in c.good:
        p.with_suffix(".txt").write_text("sks, photo", encoding="utf-8")
    png_bomb(concept / "bomb.png")
    c.unreadable["bomb.png"] = "too-large"
    Image.fromarray(np.full((96, 96, 3), 128, np.uint8)).save(concept / "whole.jpg", quality=90)
    data = (concept / "whole.jpg").read_bytes()
    (concept / "cut.jpg").write_bytes(data[: len(data) // 2])
    (concept / "whole.jpg").unlink()
    c.unreadable["cut.jpg"] = "unreadable"
    (concept / "notes.png").write_text("this is not a picture", encoding="utf-8")
    c.unreadable["notes.png"] = "not-an-image"
    (concept / "empty.png").write_bytes(b"")
    c.unreadable["empty.png"] = "empty-file"
    Image.new("P", (64, 64)).save(concept / "anim.gif")
    c.odd["anim.gif"] = "unsupported-format"
    Image.new("RGB", (64, 64), (10, 20, 30)).save(concept / "scan.tiff")
    c.odd["scan.tiff"] = "unsupported-format"
    (concept / "lonely.txt").write_text("a caption without its picture", encoding="utf-8")
    c.odd["lonely.txt"] = "orphan-caption"
    make_images(concept, 1, prefix="twin_", seed=5)
    (concept / "twin_0.png").rename(concept / "twin.png")
    Image.open(concept / "twin.png").convert("RGB").save(concept / "twin.jpg")
    (concept / "twin.txt").write_text("sks, twin", encoding="utf-8")
    c.odd["twin.txt"] = "shared-caption"
    c.good += [concept / "twin.png", concept / "twin.jpg"]
    os.symlink(base / "gone.png", concept / "link.png")
    c.odd["link.png"] = "broken-link"
    Image.new("RGB", (1500, 100), (200, 100, 50)).save(concept / "panorama.png")
    c.odd["panorama.png"] = "extreme-aspect"
    c.good.append(concept / "panorama.png")
    return c


# -- running the CLI -----------------------------------------------------------------------------------
def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONWARNINGS"] = "ignore"
    return env


def cli(*args: str, **kwargs) -> subprocess.Popen:
    """Start ``lora-studio ARGS`` as a separate process (as a user runs it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "lora_studio.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        **kwargs,
    )


def write_train_config(tmp: Path, model: Path, **changes) -> Path:
    """A tiny CPU config over a kohya folder ``tmp/img`` with output ``tmp/out``; returns its path."""
    base = {"dataset.path": str(tmp / "img"), "run.output_dir": str(tmp / "out"), "run.epochs": 50}
    base.update(changes)
    cfg = tiny_config(model, tmp, **base)
    path = tmp / "train.toml"
    save_config(cfg, path)
    return path


def simple_kohya(tmp: Path, n: int = 2) -> Path:
    folder = tmp / "img" / "2_sks"
    for p in make_images(folder, n):
        p.with_suffix(".txt").write_text("sks, photo", encoding="utf-8")
    return folder


def assert_one_line_error(code: int, err: str, *words: str) -> str:
    """A refusal: non-zero exit, no traceback, one ``error:`` line that names what is wrong."""
    assert code != 0
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    for w in words:
        assert w.lower() in lines[0].lower(), (w, lines[0])
    return lines[0]
