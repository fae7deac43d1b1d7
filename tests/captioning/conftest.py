"""Fixtures: tiny captioning models (built once per session) and a small folder of pictures."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from lora_studio.dataset.items import Item
from tests.captioning.tiny_models import build_blip, build_wd14

RED = (255, 0, 0)
BLUE = (0, 0, 255)


@pytest.fixture(scope="session")
def wd14_dir(tmp_path_factory) -> Path:
    return build_wd14(tmp_path_factory.mktemp("captioners") / "tiny-wd14")


@pytest.fixture(scope="session")
def wd14(wd14_dir):
    from lora_studio.captioning.models.wd14 import WD14Tagger

    tagger = WD14Tagger()
    tagger.load(wd14_dir, "cpu")
    return tagger


@pytest.fixture(scope="session")
def blip_dir(tmp_path_factory) -> Path:
    return build_blip(tmp_path_factory.mktemp("captioners") / "tiny-blip")


def solid(path: Path, colour=RED, size=(40, 40)) -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


@pytest.fixture
def pictures(tmp_path) -> list[Item]:
    """Three red pictures; the second has a caption, the others none."""
    folder = tmp_path / "concept"
    folder.mkdir()
    items = []
    for i in range(3):
        image = solid(folder / f"img{i}.png", RED)
        items.append(Item(image=image, caption_path=folder / f"img{i}.txt"))
    (folder / "img1.txt").write_text("old tag, smile", encoding="utf-8")
    return items
