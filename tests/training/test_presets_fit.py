"""Every memory preset fits the card it is named for, by the same estimate the Training panel shows
(a "16 GB" preset that the panel then marks "will probably not fit" was a stumble)."""

from __future__ import annotations

import pytest

from lora_studio.training.presets import preset, preset_names
from lora_studio.training.vram_estimate import estimate_vram


@pytest.mark.parametrize(("purpose", "family", "vram"), preset_names(), ids=lambda v: str(getattr(v, "value", v)))
def test_preset_fits_its_card(purpose, family, vram):
    config = preset(purpose, family, vram)
    estimate = estimate_vram(config, family, float(vram))
    assert estimate.fits, f"{purpose.value} {family.value} {vram} GB: {estimate.summary()}"


def test_bigger_cards_get_faster_settings():
    """A preset for a bigger card never trains with less per step than the smaller card's."""
    for purpose, family, vram in preset_names():
        smaller = [v for p, f, v in preset_names() if p == purpose and f == family and v < vram]
        if smaller:
            small, big = preset(purpose, family, max(smaller)), preset(purpose, family, vram)
            assert big.run.batch_size >= small.run.batch_size
            assert big.memory.blocks_to_swap <= small.memory.blocks_to_swap
