"""The engine on the tiny models: reproducibility, events, cancel, img2img, infotext."""

from __future__ import annotations

import numpy as np
import pytest

from lora_studio.core.control import RunControl
from lora_studio.core.errors import Cancelled, GenerationError
from lora_studio.core.events import ImageReady, PreviewReady, Progress
from tests.generation.conftest import image_array


def test_same_request_and_seed_give_identical_images(engine, base_request):
    a = engine.generate(base_request)
    b = engine.generate(base_request)
    assert a.seeds == b.seeds == (42,)
    assert np.array_equal(image_array(a.paths[0]), image_array(b.paths[0]))
    c = engine.generate(base_request.with_(seed=43))
    assert not np.array_equal(image_array(a.paths[0]), image_array(c.paths[0]))


def test_batches_use_seed_plus_index_and_random_seed_is_reported(engine, base_request):
    res = engine.generate(base_request.with_(batch_count=2, batch_size=2, steps=2))
    assert res.seeds == (42, 43, 44, 45) and len(res.paths) == 4
    single = engine.generate(base_request.with_(seed=44, steps=2))
    # Same noise; only batched-matmul rounding differs (a 1-level difference in a few pixels).
    assert np.abs(image_array(res.paths[2]) - image_array(single.paths[0])).max() <= 2
    rnd = engine.generate(base_request.with_(seed=-1, steps=1))
    assert rnd.seeds[0] >= 0 and f"Seed: {rnd.seeds[0]}" in rnd.infotexts[0]


def test_progress_and_preview_events(engine, base_request):
    events = []
    engine.generate(base_request.with_(steps=4, preview_every=1), events.append)
    steps = [e for e in events if isinstance(e, Progress)]
    assert [e.done for e in steps] == [1, 2, 3, 4] and steps[-1].total == 4
    previews = [e for e in events if isinstance(e, PreviewReady)]
    assert len(previews) == 3 and previews[0].png.startswith(b"\x89PNG")
    assert sum(isinstance(e, ImageReady) for e in events) == 1


def test_cancel_within_a_step(engine, base_request):
    control = RunControl()
    seen = []

    def reporter(event):
        if isinstance(event, Progress):
            seen.append(event.done)
            control.cancel()

    with pytest.raises(Cancelled):
        engine.generate(base_request.with_(steps=10), reporter, control)
    assert seen == [1]
    # the engine stays usable afterwards
    assert engine.generate(base_request.with_(steps=2)).paths


def test_cancel_before_the_next_unet_call(engine, base_request):
    """A cancel from another thread is seen before the next UNet evaluation (Heun: 2 per step)."""
    control = RunControl()
    entry = engine.model(base_request.model)
    calls = []

    def after_unet(*_args):
        calls.append(1)
        control.cancel()

    hook = entry.pipe.unet.register_forward_hook(after_unet)
    try:
        with pytest.raises(Cancelled):
            engine.generate(base_request.with_(steps=5, sampler="Heun"), control=control)
    finally:
        hook.remove()
    assert len(calls) == 1


def test_img2img_changes_less_than_txt2img(engine, base_request, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    init = tmp_path / "init.png"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(init)
    # The tiny VAE is random, so compare with the init image as it survives encode+decode (one
    # denoising step at a very low strength), not with the raw pixels.
    ref = image_array(
        engine.generate(base_request.with_(init_image=str(init), strength=0.05, steps=20)).paths[0]
    )
    txt = image_array(engine.generate(base_request.with_(steps=4)).paths[0])
    low = engine.generate(base_request.with_(init_image=str(init), strength=0.3, steps=4))
    img = image_array(low.paths[0])
    assert np.abs(img - ref).mean() < 0.5 * np.abs(txt - ref).mean()
    assert "Denoising strength: 0.3" in low.infotexts[0]


def test_inpaint_keeps_unmasked_area_close(engine, base_request, tmp_path):
    from PIL import Image

    init = tmp_path / "init.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(init)
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))
    mask.save(tmp_path / "mask.png")
    req = base_request.with_(init_image=str(init), mask=str(tmp_path / "mask.png"), strength=1.0, steps=3)
    a = image_array(engine.generate(req).paths[0])
    b = image_array(engine.generate(req.with_(seed=7)).paths[0])
    # Another seed repaints the masked left half differently; the kept right half barely moves.
    masked, kept = np.abs(a[:, :24] - b[:, :24]).mean(), np.abs(a[:, 40:] - b[:, 40:]).mean()
    assert kept < 0.5 * masked


def test_infotext_round_trip(engine, base_request, lora_dir):
    from lora_studio.formats.infotext import read_png_parameters
    from lora_studio.generation.metadata import request_from_infotext
    from lora_studio.generation.request import LoraSpec

    req = base_request.with_(
        prompt="a (cat:1.2), garden",
        sampler="DPM++ 2M",
        schedule="Karras",
        cfg=5.5,
        clip_skip=2,
        loras=(LoraSpec(str(lora_dir / "a.safetensors"), 0.8),),
        steps=2,
    )
    res = engine.generate(req)
    text = read_png_parameters(res.paths[0])
    assert text == res.infotexts[0]
    assert "Lora hashes:" in text and "<lora:a:0.8>" in text and "Clip skip: 2" in text
    back = request_from_infotext(text, [lora_dir], model=req.model, base=base_request)
    assert back.request == req and back.missing == ()


def test_infotext_from_a1111_finds_lora_by_hash(lora_dir, tmp_path):
    import shutil

    from lora_studio.generation.metadata import lora_short_hash, request_from_infotext

    renamed = tmp_path / "renamed.safetensors"
    shutil.copy(lora_dir / "b.safetensors", renamed)
    text = (
        "portrait <lora:old_name:0.6>\nNegative prompt: bad\n"
        "Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1, Size: 512x768, Model hash: 45dee52b3f, "
        f'Model: v1-5, Lora hashes: "old_name: {lora_short_hash(renamed)}", Version: v1.10.1'
    )
    restored = request_from_infotext(text, [tmp_path], model="m.safetensors")
    req = restored.request
    assert restored.missing == ()
    assert req.sampler == "DPM++ 2M" and req.schedule == "Karras" and (req.width, req.height) == (512, 768)
    assert req.loras[0].path == str(renamed) and req.loras[0].weight == 0.6


def test_infotext_lists_every_missing_lora_with_its_hash(lora_dir):
    from lora_studio.generation.metadata import MissingLora, request_from_infotext

    text = (
        "cat <lora:gone_one:0.7> <lora:a:0.5> <lora:gone_two:1>\nNegative prompt: bad\n"
        "Steps: 20, Sampler: Euler, CFG scale: 7, Seed: 3, Size: 64x64, "
        'Lora hashes: "gone_one: 0123456789ab, a: 000000000000"'
    )
    restored = request_from_infotext(text, [lora_dir], model="m")
    assert restored.missing == (
        MissingLora("gone_one", "0123456789ab", 0.7),
        MissingLora("gone_two", None, 1.0),
    )
    assert [s.path for s in restored.request.loras] == [str(lora_dir / "a.safetensors")]
    assert restored.request.seed == 3 and restored.request.prompt.strip().startswith("cat")


def test_missing_prompt_lora_is_a_clear_error(engine, base_request, lora_dir):
    with pytest.raises(GenerationError) as info:
        engine.generate(base_request.with_(prompt="cat <lora:does_not_exist:1>"))
    assert "does_not_exist" in str(info.value) and str(lora_dir) in str(info.value)


def test_sdxl_txt2img(engine, tiny_sdxl_dir, tmp_path):
    from lora_studio.generation.request import GenerationRequest

    req = GenerationRequest(
        model=str(tiny_sdxl_dir),
        prompt="a (red:1.3) car",
        steps=2,
        seed=1,
        output_dir=str(tmp_path),
        clip_skip=2,
    )
    res = engine.generate(req)
    assert image_array(res.paths[0]).shape == (64, 64, 3)


def test_is_loaded_reports_the_cached_models(tiny_sd1_dir, tmp_path):
    from lora_studio.generation.engine import GenerationEngine

    engine = GenerationEngine()
    assert not engine.is_loaded(tiny_sd1_dir)
    engine.model(tiny_sd1_dir)
    assert engine.is_loaded(tiny_sd1_dir) and engine.is_loaded(str(tiny_sd1_dir) + "/")
    assert not engine.is_loaded(tmp_path)
    engine.unload()
    assert not engine.is_loaded(tiny_sd1_dir)
