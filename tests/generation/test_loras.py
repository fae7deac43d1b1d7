"""The LoRA stack: weights, formats, fusing, stacking vs merging, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from lora_studio.core.errors import GenerationError
from lora_studio.generation.request import LoraSpec
from tests.generation.conftest import add_random_lora, image_array


def _img(engine, req):
    return image_array(engine.generate(req).paths[0])


def _reference(seed_lora: int, alpha: float, req):
    """The image from a plain diffusers pipeline carrying the original PEFT LoRA (no files)."""
    import torch

    from lora_studio.diffusion.tiny import build_tiny_pipeline
    from lora_studio.generation.prompts import encode_prompts
    from lora_studio.generation.samplers import make_scheduler

    pipe = build_tiny_pipeline("sd1", 0)
    add_random_lora(pipe, seed_lora, alpha=alpha)
    pipe.scheduler = make_scheduler(pipe.scheduler.config, req.sampler, req.schedule)
    embeds = encode_prompts(pipe, req.prompt, req.negative)
    out = pipe(
        **embeds.as_kwargs(),
        num_inference_steps=req.steps,
        guidance_scale=req.cfg,
        width=64,
        height=64,
        generator=[torch.Generator().manual_seed(req.seed)],
        output_type="pil",
    )
    return np.asarray(out.images[0], dtype=np.float32)


def test_weight_zero_equals_no_lora_and_effect_grows_with_weight(engine, base_request, lora_dir):
    base = _img(engine, base_request)
    spec = LoraSpec(str(lora_dir / "a.safetensors"), 0.0)
    for fuse in (False, True):
        assert np.array_equal(_img(engine, base_request.with_(loras=(spec,), fuse_loras=fuse)), base)
        dists = [
            np.abs(
                _img(engine, base_request.with_(loras=(spec.__class__(spec.path, w),), fuse_loras=fuse))
                - base
            ).mean()
            for w in (0.25, 0.5, 1.0)
        ]
        assert 0 < dists[0] < dists[1] < dists[2], dists
    neg = np.abs(_img(engine, base_request.with_(loras=(LoraSpec(spec.path, -1.0),))) - base).mean()
    assert neg > dists[0]
    assert np.array_equal(_img(engine, base_request), base)  # LoRAs gone again: base output exactly


def test_kohya_lora_matches_the_trained_peft_lora(engine, base_request, lora_dir):
    ours = _img(engine, base_request.with_(loras=(LoraSpec(str(lora_dir / "a.safetensors"), 1.0),)))
    ref = _reference(1, 2.0, base_request)
    assert np.abs(ours - ref).max() <= 2


def test_diffusers_format_lora_loads_and_matches(engine, base_request, lora_dir):
    ours = _img(
        engine,
        base_request.with_(loras=(LoraSpec(str(lora_dir / "diff.safetensors"), 1.0),), fuse_loras=False),
    )
    ref = _reference(3, 4.0, base_request)
    assert np.abs(ours - ref).max() <= 2


def test_fused_equals_unfused_and_weight_changes_do_not_reload(engine, base_request, lora_dir):
    specs = (LoraSpec(str(lora_dir / "a.safetensors"), 0.7), LoraSpec(str(lora_dir / "b.safetensors"), -0.5))
    fused = _img(engine, base_request.with_(loras=specs, fuse_loras=True))
    stack = engine.model(base_request.model).stack
    assert stack.fused
    unet = engine.model(base_request.model).pipe.unet
    assert any(getattr(m, "merged", False) for m in unet.modules())
    again = _img(engine, base_request.with_(loras=specs, fuse_loras=True))  # same set: stays fused
    assert np.array_equal(again, fused) and any(getattr(m, "merged", False) for m in unet.modules())
    loaded_before = dict(stack.loaded)
    unfused = _img(engine, base_request.with_(loras=specs, fuse_loras=False))
    assert not stack.fused and stack.loaded == loaded_before  # same adapters, only re-weighted
    assert np.abs(fused - unfused).max() <= 2


def test_switching_sets_drops_unused_adapters(engine, base_request, lora_dir):
    stack = engine.model(base_request.model).stack
    for name in ("a", "b", "diff", "a"):
        engine.generate(base_request.with_(steps=1, loras=(LoraSpec(str(lora_dir / f"{name}.safetensors")),)))
        adapters = engine.model(base_request.model).pipe.get_list_adapters()
        assert len(stack.loaded) == 1 and all(len(v) == 1 for v in adapters.values())


def test_sdxl_lora_on_sd1_names_both_families(engine, base_request, lora_dir):
    with pytest.raises(GenerationError) as info:
        engine.generate(base_request.with_(loras=(LoraSpec(str(lora_dir / "xl.safetensors")),)))
    assert "SDXL" in str(info.value) and "SD 1.5" in str(info.value)


def test_corrupt_lora_file(engine, base_request, lora_dir, tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes((lora_dir / "a.safetensors").read_bytes()[:300])
    with pytest.raises(GenerationError, match="broken.safetensors"):
        engine.generate(base_request.with_(loras=(LoraSpec(str(bad)),)))


def test_lycoris_oft_is_reported_as_not_supported(engine, base_request, tmp_path):
    """LoHa and LoKr load (tests/generation/test_lycoris_files.py); other LyCORIS kinds are refused."""
    import torch
    from safetensors.torch import save_file

    name = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
    t = {f"{name}.oft_blocks": torch.zeros(4, 8, 8), f"{name}.alpha": torch.tensor(4.0)}
    path = tmp_path / "oft.safetensors"
    save_file(t, str(path))
    with pytest.raises(GenerationError, match="oft file, which is not supported yet"):
        engine.generate(base_request.with_(loras=(LoraSpec(str(path)),)))


def test_partially_matching_lora_is_reported(engine, base_request, lora_dir, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(lora_dir / "a.safetensors"))
    # A module the tiny UNet does not have (its down_blocks.1 has no attentions).
    extra = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q"
    tensors[f"{extra}.lora_down.weight"] = torch.zeros(4, 64)
    tensors[f"{extra}.lora_up.weight"] = torch.zeros(64, 4)
    tensors[f"{extra}.alpha"] = torch.tensor(4.0)
    path = tmp_path / "partial.safetensors"
    save_file(tensors, str(path))
    try:
        res = engine.generate(base_request.with_(steps=1, loras=(LoraSpec(str(path)),)))
    except GenerationError as exc:  # refusing is fine too, as long as it says so
        assert "partial" in str(exc) or "match" in str(exc) or "fit" in str(exc)
    else:
        assert any("modules match" in w for w in res.warnings)


def _te_qv_lora(path, seed: int = 5):
    """A kohya LoRA on the tiny SD1 text encoder's q_proj/v_proj only (no out_proj, no MLP, no UNet),
    plus the PEFT pipeline it came from."""
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from lora_studio.diffusion.tiny import build_tiny_pipeline
    from lora_studio.formats.lora_keys import save_kohya_lora

    pipe = build_tiny_pipeline("sd1", 0)
    pipe.text_encoder.add_adapter(LoraConfig(r=4, lora_alpha=2.0, target_modules=["q_proj", "v_proj"]), "ref")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in pipe.text_encoder.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.3)
    sds = {"text_encoder": get_peft_model_state_dict(pipe.text_encoder, adapter_name="ref")}
    save_kohya_lora(path, sds, family="sd1", alpha_for=lambda *_: 2.0, metadata={"ss_network_dim": "4"})
    return pipe


def _te_out(pipe):
    import torch

    ids = torch.arange(2, 12).unsqueeze(0) % pipe.tokenizer.vocab_size
    with torch.no_grad():
        return pipe.text_encoder(ids)[0]


@pytest.mark.parametrize("fuse", [False, True])
def test_text_encoder_lora_on_q_and_v_only_loads_and_matches(tmp_path, fuse):
    import torch

    from lora_studio.core.families import ModelFamily
    from lora_studio.diffusion.tiny import build_tiny_pipeline
    from lora_studio.generation.loras import LoraStack

    path = tmp_path / "te_qv.safetensors"
    ref = _te_out(_te_qv_lora(path))
    pipe = build_tiny_pipeline("sd1", 0)
    base = _te_out(pipe)
    stack = LoraStack(pipe, ModelFamily.SD1)
    assert stack.apply([LoraSpec(str(path), 1.0)], fuse=fuse) == []
    (loaded,) = stack.loaded.values()
    assert loaded.components == ("text_encoder",) and loaded.modules_matched == loaded.modules_in_file
    ours = _te_out(pipe)
    assert not torch.allclose(ours, base, atol=1e-3)
    assert torch.allclose(ours, ref, atol=1e-4), (ours - ref).abs().max()
    stack.apply([LoraSpec(str(path), 0.0)], fuse=fuse)
    assert torch.equal(_te_out(pipe), base)


def test_any_diffusers_failure_becomes_a_plain_error_naming_the_file(tmp_path, lora_dir, monkeypatch):
    from lora_studio.core.families import ModelFamily
    from lora_studio.diffusion.tiny import build_tiny_pipeline
    from lora_studio.generation.loras import LoraStack

    pipe = build_tiny_pipeline("sd1", 0)
    stack = LoraStack(pipe, ModelFamily.SD1)

    def broken(*_a, **_k):
        raise TypeError("unexpected keyword 'foo'")

    monkeypatch.setattr(pipe, "load_lora_weights", broken)
    with pytest.raises(GenerationError, match="a.safetensors") as info:
        stack.apply([LoraSpec(str(lora_dir / "a.safetensors"))])
    assert "TypeError" in info.value.details and not stack.loaded
