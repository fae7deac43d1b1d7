"""FLUX.1 generation on the tiny FLUX models: distilled guidance, samplers, LoRAs, img2img, infotext."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lora_studio.core.errors import GenerationError
from lora_studio.core.events import PreviewReady
from tests.generation.conftest import image_array
from tests.generation.flux_helpers import bfl_dotted, random_flux_peft


def _img(result, i=0):
    return image_array(result.paths[i])


def test_dev_infotext_reads_back_and_regenerates_the_same_image(flux_engine, flux_request, flux_dirs):
    from lora_studio.generation.metadata import request_from_infotext

    first = flux_engine.generate(flux_request)
    info = first.infotexts[0]
    assert "Sampler: Euler, Schedule type: Simple, CFG scale: 1, Distilled CFG Scale: 3.5, Seed: 7" in info
    assert "Size: 64x64" in info and "Clip skip" not in info
    back = request_from_infotext(
        info, [flux_dirs["loras"]], base=flux_request.with_(seed=1, distilled_cfg=9.0)
    )
    assert back.request.distilled_cfg == 3.5 and back.request.seed == 7
    again = flux_engine.generate(back.request)
    assert np.array_equal(_img(first), _img(again))
    assert not np.array_equal(_img(first), _img(flux_engine.generate(flux_request.with_(seed=8))))


def test_distilled_guidance_changes_dev_but_schnell_has_none(flux_engine, flux_request, flux_dirs):
    base = flux_engine.generate(flux_request)
    other = flux_engine.generate(flux_request.with_(distilled_cfg=1.0))
    assert "Distilled CFG Scale: 1," in other.infotexts[0]
    assert np.abs(_img(base) - _img(other)).max() > 0
    schnell = flux_request.with_(model=str(flux_dirs["schnell"]), steps=4)
    a = flux_engine.generate(schnell)
    b = flux_engine.generate(schnell.with_(distilled_cfg=1.0))
    assert np.array_equal(_img(a), _img(b))  # schnell ignores it …
    assert "Distilled CFG Scale" not in a.infotexts[0] and "Steps: 4" in a.infotexts[0]  # … and says nothing


def test_real_cfg_only_with_a_negative_prompt(flux_engine, flux_request):
    plain = flux_engine.generate(flux_request)
    cfg_no_negative = flux_engine.generate(flux_request.with_(cfg=4.0))
    assert np.array_equal(_img(plain), _img(cfg_no_negative))
    unused_negative = flux_engine.generate(flux_request.with_(negative="blurry"))  # CFG 1: not read
    assert np.array_equal(_img(plain), _img(unused_negative))
    assert "Negative prompt" not in unused_negative.infotexts[0]
    with_negative = flux_engine.generate(flux_request.with_(cfg=4.0, negative="blurry"))
    assert np.abs(_img(plain) - _img(with_negative)).max() > 0
    assert "Negative prompt: blurry" in with_negative.infotexts[0]


def test_schedules_and_sampler_names(flux_engine, flux_request):
    pipe = flux_engine.model(flux_request.model).pipe
    simple = flux_engine.generate(flux_request)
    simple_sigmas = pipe.scheduler.sigmas.clone()
    beta = flux_engine.generate(flux_request.with_(schedule="Beta"))
    assert "Schedule type: Beta" in beta.infotexts[0]
    # The tiny model's velocity barely depends on the time, so the pictures may agree to the pixel;
    # the sigmas it was run with show the schedule (the resolution shift kept, the ends the same).
    assert pipe.scheduler.config.use_beta_sigmas and pipe.scheduler.config.use_dynamic_shifting
    assert pipe.scheduler.sigmas[0] == simple_sigmas[0] and not torch.equal(
        pipe.scheduler.sigmas, simple_sigmas
    )
    auto = flux_engine.generate(flux_request.with_(schedule="Automatic"))
    assert np.array_equal(_img(simple), _img(auto)) and "Schedule type: Simple" in auto.infotexts[0]
    with pytest.raises(GenerationError, match="cannot be used with FLUX"):
        flux_engine.generate(flux_request.with_(sampler="DPM++ 2M"))
    with pytest.raises(GenerationError, match="multiples of 16"):
        flux_engine.generate(flux_request.with_(width=72))


def test_lora_weight_zero_is_base_and_tags_apply(flux_engine, flux_request):
    base = flux_engine.generate(flux_request)
    zero = flux_engine.generate(flux_request.with_(prompt="a photo of a cat <lora:fa:0>"))
    assert np.array_equal(_img(base), _img(zero))
    one = flux_engine.generate(flux_request.with_(prompt="a photo of a cat <lora:fa:1>"))
    assert np.abs(_img(base) - _img(one)).max() > 5
    assert "<lora:fa:1>" in one.infotexts[0] and "Lora hashes:" in one.infotexts[0]
    unfused = flux_engine.generate(
        flux_request.with_(prompt="a photo of a cat <lora:fa:1>", fuse_loras=False)
    )
    assert np.abs(_img(one) - _img(unfused)).max() <= 2
    # Weight 0 again after a fused LoRA: the exact base image (the fuse is undone bit for bit).
    assert np.array_equal(_img(base), _img(flux_engine.generate(flux_request)))


def test_every_module_is_injected(flux_engine, flux_request, flux_dirs):
    from lora_studio.formats.flux_lora_keys import load_flux_lora

    flux_engine.generate(flux_request.with_(prompt="a cat <lora:fa:1>", steps=1))
    entry = flux_engine.model(flux_request.model)
    [loaded] = entry.stack.loaded.values()
    expected = load_flux_lora(flux_dirs["loras"] / "fa.safetensors").module_count
    assert loaded.modules_in_file == loaded.modules_matched == expected
    assert set(loaded.components) == {"transformer", "text_encoder"}


def test_two_loras_equal_their_merged_lora(flux_engine, flux_request, tmp_path):
    """Two weighted LoRAs give the image of one LoRA file that holds both (ranks concatenated)."""
    from lora_studio.formats.flux_lora_keys import load_flux_lora, save_flux_kohya_lora

    loras = Path(flux_engine.lora_dirs[0])
    a, b = load_flux_lora(loras / "fa.safetensors"), load_flux_lora(loras / "fb.safetensors")
    wa, wb = 0.7, -0.4
    merged: dict[str, dict[str, torch.Tensor]] = {"transformer": {}, "text_encoder": {}}
    for comp in merged:
        for path, pa in a.components()[comp].items():
            pb = b.components()[comp][path]
            merged[comp][f"{path}.lora_A.weight"] = torch.cat([pa.down, pb.down])
            merged[comp][f"{path}.lora_B.weight"] = torch.cat(
                [pa.up * pa.scale * wa, pb.up * pb.scale * wb], 1
            )
    out = tmp_path / "loras"
    out.mkdir()
    rank = 8
    save_flux_kohya_lora(
        out / "merged.safetensors",
        merged["transformer"],
        text_encoder_state_dict=merged["text_encoder"],
        alpha_for=rank,
    )
    two = flux_engine.generate(flux_request.with_(prompt=f"a cat <lora:fa:{wa}> <lora:fb:{wb}>"))
    flux_engine.lora_dirs.append(out)
    try:
        one = flux_engine.generate(flux_request.with_(prompt="a cat <lora:merged:1>"))
    finally:
        flux_engine.lora_dirs.remove(out)
    assert np.abs(_img(two) - _img(one)).max() <= 2
    assert np.abs(_img(two) - _img(flux_engine.generate(flux_request.with_(prompt="a cat")))).max() > 5


def test_matches_diffusers_own_kohya_loader(flux_engine, flux_request, tmp_path):
    """Our reading of a kohya FLUX file gives the image diffusers' own converter gives. The file has
    the double blocks and CLIP-L only: diffusers 0.42 assumes 3072-wide single blocks (the real-width
    check is in test_flux_lora_diffusers.py) and drops embedder/final-layer modules, which ours keeps."""
    from safetensors.torch import load_file

    from lora_studio.diffusion.loading import load_pipeline
    from lora_studio.formats.flux_lora_keys import flux_peft_to_kohya
    from lora_studio.formats.lora_keys import write_kohya_file

    transformer, text = random_flux_peft(21, blocks="double")
    tensors = flux_peft_to_kohya(transformer, text_encoder_state_dict=text, alpha_for=2.0)
    folder = tmp_path / "loras"
    folder.mkdir()
    path = write_kohya_file(folder / "double.safetensors", tensors)
    flux_engine.lora_dirs.append(folder)
    try:
        ours = flux_engine.generate(
            flux_request.with_(prompt="a photo of a cat <lora:double:1>", fuse_loras=False)
        )
    finally:
        flux_engine.lora_dirs.remove(folder)
    pipe = load_pipeline(flux_request.model, dtype=torch.float32).pipeline
    pipe.load_lora_weights(load_file(str(path)), adapter_name="theirs")
    injected = sum(1 for m in pipe.transformer.modules() if "theirs" in getattr(m, "lora_A", {}))
    injected += sum(1 for m in pipe.text_encoder.modules() if "theirs" in getattr(m, "lora_A", {}))
    assert injected == (len(transformer) + len(text)) // 2
    theirs = pipe(
        "a photo of a cat", num_inference_steps=3, width=64, height=64, guidance_scale=3.5,
        generator=[torch.Generator("cpu").manual_seed(7)],
    ).images[0]  # fmt: skip
    assert np.abs(np.asarray(theirs, dtype=np.float32) - _img(ours)).max() <= 2


def test_img2img_and_previews(flux_engine, flux_request, tmp_path):
    from PIL import Image

    red, blue = tmp_path / "red.png", tmp_path / "blue.png"
    Image.new("RGB", (80, 80), (200, 40, 40)).save(red)
    Image.new("RGB", (80, 80), (30, 60, 220)).save(blue)
    events = []
    req = flux_request.with_(init_image=str(red), strength=0.5, steps=4)
    res = flux_engine.generate(req.with_(preview_every=1), events.append)
    assert "Denoising strength: 0.5" in res.infotexts[0]
    img = _img(res)
    assert img.shape == (64, 64, 3)  # resized to the requested size
    assert np.array_equal(img, _img(flux_engine.generate(req)))  # same seed, same picture
    assert (
        np.abs(img - _img(flux_engine.generate(req.with_(init_image=str(blue))))).max() > 5
    )  # the init counts
    assert np.abs(img - _img(flux_engine.generate(flux_request.with_(steps=4)))).max() > 5  # not txt2img
    previews = [e for e in events if isinstance(e, PreviewReady)]
    assert previews and previews[0].png.startswith(b"\x89PNG")


def test_family_messages_both_ways(flux_engine, flux_request, flux_dirs, tmp_path):
    from lora_studio.generation.loras import check_lora_file
    from tests.generation.conftest import make_kohya_lora

    sdxl_lora = make_kohya_lora(tmp_path / "xl.safetensors", "sdxl", 4)
    with pytest.raises(GenerationError, match="is an SDXL LoRA, but the model is FLUX.1"):
        flux_engine.generate(flux_request.with_(loras=(), prompt="x").with_(**_with_lora(sdxl_lora)))
    with pytest.raises(GenerationError, match="is a FLUX.1 LoRA, but the model is SDXL"):
        from lora_studio.core.families import ModelFamily

        check_lora_file(flux_dirs["loras"] / "fa.safetensors", ModelFamily.SDXL)


def _with_lora(path):
    from lora_studio.generation.request import LoraSpec

    return {"loras": (LoraSpec(str(path), 1.0),)}


def test_cli_takes_flux_defaults_and_options(flux_engine, flux_dirs, tmp_path):
    """``lora-studio generate`` on FLUX.1: Forge's defaults when not given, --distilled-cfg and
    --base-weights when given."""
    from lora_studio.cli.main import main
    from lora_studio.formats.infotext import read_png_parameters

    common = ["--prompt", "a cat <lora:fa:0.5>", "--lora-dir", str(flux_dirs["loras"]), "--seed", "3"]
    common += ["--size", "64x64"]
    dev = ["generate", "--model", str(flux_dirs["dev"]), *common, "--steps", "2"]
    assert main([*dev, "--distilled-cfg", "2.5", "--base-weights", "fp8", "--out", str(tmp_path / "d")]) == 0
    (png,) = (tmp_path / "d").glob("*.png")
    text = read_png_parameters(png) or ""
    assert (
        "Steps: 2, Sampler: Euler, Schedule type: Simple, CFG scale: 1, Distilled CFG Scale: 2.5, Seed: 3"
        in text
    )
    assert "<lora:fa:0.5>" in text
    schnell = ["generate", "--model", str(flux_dirs["schnell"]), *common, "--out", str(tmp_path / "s")]
    assert main(schnell) == 0
    (png,) = (tmp_path / "s").glob("*.png")
    text = read_png_parameters(png) or ""
    assert "Steps: 4, Sampler: Euler, Schedule type: Simple, CFG scale: 1, Seed: 3" in text
    assert main([*dev, "--sampler", "DPM++ 2M", "--out", str(tmp_path / "e")]) == 2


def test_bake_a_lora_into_a_flux_file(flux_engine, flux_request, flux_dirs, tmp_path):
    """ "Bake into model" on FLUX.1 writes an all-in-one file that the loader reads and that draws what
    the base model with the LoRA draws."""
    from lora_studio.generation.merge import bake_loras
    from lora_studio.generation.request import LoraSpec

    spec = LoraSpec(str(flux_dirs["loras"] / "fa.safetensors"), 0.8)
    baked = bake_loras(flux_request.model, [spec], tmp_path / "flux-baked.safetensors", dtype=torch.float32)
    with_lora = flux_engine.generate(flux_request.with_(loras=(spec,)))
    from_file = flux_engine.generate(flux_request.with_(model=str(baked)))
    base = flux_engine.generate(flux_request)
    assert np.abs(_img(with_lora) - _img(from_file)).max() <= 2
    assert np.abs(_img(base) - _img(from_file)).max() > 5


def test_grid_over_distilled_guidance(flux_engine, flux_request, tmp_path):
    from lora_studio.generation.grid import GridAxis, run_grid

    x = GridAxis("guidance", (1.0, 3.5))
    result = run_grid(flux_engine, flux_request.with_(steps=2), x, out_dir=tmp_path / "grid")
    assert len(result.image_paths) == 2 and Path(result.grid_paths[0]).is_file()
    infos = [read(p) for p in result.image_paths]
    assert "Distilled CFG Scale: 1," in infos[0] and "Distilled CFG Scale: 3.5," in infos[1]
    assert x.label(3.5) == "Distilled CFG 3.5"


def read(path) -> str:
    from lora_studio.formats.infotext import read_png_parameters

    return read_png_parameters(path) or ""


def test_lora_merge_command_on_flux_files(flux_engine, flux_request, flux_dirs, tmp_path):
    """``lora merge`` (concatenated ranks) of two FLUX LoRAs draws what the two at their weights draw."""
    from lora_studio.generation.merge import merge_lora_files
    from lora_studio.generation.request import LoraSpec

    specs = [
        LoraSpec(str(flux_dirs["loras"] / "fa.safetensors"), 0.6),
        LoraSpec(str(flux_dirs["loras"] / "fb.safetensors"), 0.5),
    ]
    merged = merge_lora_files(specs, tmp_path / "m.safetensors", dtype=torch.float32).path
    both = flux_engine.generate(flux_request.with_(loras=tuple(specs)))
    one = flux_engine.generate(flux_request.with_(loras=(LoraSpec(str(merged), 1.0),)))
    assert np.abs(_img(both) - _img(one)).max() <= 2


def test_batches_use_seed_plus_index(flux_engine, flux_request):
    res = flux_engine.generate(flux_request.with_(batch_size=2, batch_count=2, steps=2))
    assert res.seeds == (7, 8, 9, 10) and len(res.paths) == 4
    single = flux_engine.generate(flux_request.with_(seed=9, steps=2))
    assert np.abs(_img(res, 2) - _img(single)).max() <= 2


def test_every_file_form_draws_the_same(flux_engine, flux_request, flux_dirs, tmp_path):
    """The same LoRA saved as diffusers/PEFT, ai-toolkit (BFL names) and OneTrainer files draws what
    the kohya file draws, with every module injected."""
    from safetensors.torch import load_file

    from lora_studio.formats.flux_lora_keys import load_flux_lora
    from lora_studio.formats.safetensors_meta import write_safetensors

    kohya_path = flux_dirs["loras"] / "fa.safetensors"
    lora = load_flux_lora(kohya_path)
    forms = {"diffusers": lora.to_diffusers_state_dict()}
    ot = {}
    for comp, prefix in (("transformer", "lora_transformer_"), ("text_encoder", "lora_te1_text_model_")):
        for path, pair in lora.components()[comp].items():
            name = prefix + path.replace(".", "_")
            ot[f"{name}.lora_down.weight"], ot[f"{name}.lora_up.weight"] = pair.down, pair.up
            ot[f"{name}.alpha"] = torch.tensor(pair.alpha)
    forms["onetrainer"] = ot
    ait = {}
    for key, value in load_file(str(kohya_path)).items():
        name, _, suffix = key.partition(".")
        if name.startswith("lora_unet_"):
            suffix = suffix.replace("lora_down", "lora_A").replace("lora_up", "lora_B")
            ait[f"diffusion_model.{bfl_dotted(name[len('lora_unet_') :])}.{suffix}"] = value
    forms["ai-toolkit"] = ait
    want = _img(flux_engine.generate(flux_request.with_(loras=(_spec(kohya_path),))))
    unet_only = {k: v for k, v in load_file(str(kohya_path)).items() if k.startswith("lora_unet_")}
    unet_path = write_safetensors(tmp_path / "kohya-transformer.safetensors", unet_only, {})
    want_transformer = _img(flux_engine.generate(flux_request.with_(loras=(_spec(unet_path),))))
    for form, tensors in forms.items():
        path = write_safetensors(tmp_path / f"{form}.safetensors", tensors, {})
        got = flux_engine.generate(flux_request.with_(loras=(_spec(path),)))
        [loaded] = flux_engine.model(flux_request.model).stack.loaded.values()
        assert loaded.modules_matched == loaded.modules_in_file, form
        expected = lora.module_count - (len(lora.text_encoder) if form == "ai-toolkit" else 0)
        assert loaded.modules_in_file == expected, form
        reference = want_transformer if form == "ai-toolkit" else want  # that file: transformer only
        assert np.abs(_img(got) - reference).max() <= 2, form


def _spec(path):
    from lora_studio.generation.request import LoraSpec

    return LoraSpec(str(path), 1.0)
