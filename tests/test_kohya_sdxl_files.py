"""A LoCon for the tiny SDXL demo model, named the way sd-scripts names SDXL modules (the original
layout: ``lora_unet_input_blocks_4_1_…``), is used everywhere: generation applies every module
(checked against diffusers' own LDM converter), merge, bake, ``lora info``, and training continues
from it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from lora_studio.core.families import ModelFamily
from lora_studio.demo import TRAIN_CONFIG, create_demo_project, model_file
from lora_studio.generation.request import GenerationRequest, LoraSpec
from tests.kohya_rules import KOHYA_TE, by_class, sdxl_unet_from_ldm_keys

RANK, ALPHA, CONV_RANK, CONV_ALPHA = 4, 2.0, 2, 1.0


def _sd_scripts_style_locon(pipe, path, seed: int = 0):
    """Random LoCon tensors for every module sd-scripts would create, under sd-scripts' names."""
    names = sdxl_unet_from_ldm_keys(pipe.unet, conv=True, rank=RANK, conv_rank=CONV_RANK)
    for comp, prefix in (("text_encoder", "lora_te1"), ("text_encoder_2", "lora_te2")):
        names.update(by_class(getattr(pipe, comp), prefix, KOHYA_TE, False, True, rank=RANK))
    gen = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, (down, up) in sorted(names.items()):
        tensors[f"{name}.lora_down.weight"] = torch.randn(down, generator=gen) * 0.2
        tensors[f"{name}.lora_up.weight"] = torch.randn(up, generator=gen) * 0.2
        conv = len(down) == 4 and down[2:] != (1, 1)
        tensors[f"{name}.alpha"] = torch.tensor(CONV_ALPHA if conv else ALPHA)
    meta = {
        "ss_base_model_version": "sdxl_base_v1-0",
        "ss_v2": "False",
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(RANK),
        "ss_network_alpha": str(ALPHA),
        "ss_network_args": json.dumps({"conv_dim": str(CONV_RANK), "conv_alpha": str(CONV_ALPHA)}),
    }
    save_file(tensors, str(path), metadata=meta)
    return path, names


@pytest.fixture(scope="module")
def sdxl(tmp_path_factory):
    from lora_studio.diffusion.tiny import build_tiny_pipeline

    root = create_demo_project(tmp_path_factory.mktemp("xl") / "demo", family="sdxl")
    pipe = build_tiny_pipeline("sdxl", 0)  # the demo model's weights (same seed)
    path, names = _sd_scripts_style_locon(pipe, root / "kohya-xl.safetensors")
    return {"root": root, "lora": path, "names": names}


def _diffusers_path_of(unet) -> dict[str, str]:
    """sd-scripts name -> diffusers module path, by diffusers' own original-layout converter."""
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    from lora_studio.diffusion.ldm_format import unet_to_ldm

    state = unet.state_dict()
    ldm = unet_to_ldm(state, dict(unet.config))
    marked = {k: torch.tensor([float(i)]) for i, k in enumerate(ldm)}
    back = convert_ldm_unet_checkpoint(marked, dict(unet.config))
    by_mark = {int(v.item()): k for k, v in back.items()}
    out = {}
    for i, key in enumerate(ldm):
        if key.endswith(".weight") and i in by_mark:
            ldm_path = key.removeprefix("model.diffusion_model.").removesuffix(".weight")
            out["lora_unet_" + ldm_path.replace(".", "_")] = by_mark[i].removesuffix(".weight")
    return out


def test_generation_applies_every_module_where_sd_scripts_meant_it(sdxl):
    from lora_studio.diffusion.tiny import build_tiny_pipeline
    from lora_studio.generation.loras import LoraStack

    pipe = build_tiny_pipeline("sdxl", 0)
    where = _diffusers_path_of(pipe.unet)
    loaded = LoraStack(pipe, ModelFamily.SDXL).ensure_loaded(sdxl["lora"])
    assert loaded.modules_in_file == loaded.modules_matched == len(sdxl["names"])
    layers = dict(pipe.unet.named_modules())
    with safe_open(str(sdxl["lora"]), "pt") as fh:
        unet_names = [n for n in sdxl["names"] if n.startswith("lora_unet_")]
        assert any(n.endswith("_op") for n in unet_names) and any(
            n.endswith("_emb_layers_1") for n in unet_names
        )
        for name in unet_names:
            layer = layers[where[name]]
            adapter = loaded.adapter
            down = fh.get_tensor(f"{name}.lora_down.weight").flatten(1)
            up = fh.get_tensor(f"{name}.lora_up.weight").flatten(1)
            alpha = float(fh.get_tensor(f"{name}.alpha"))
            want = up @ down * (alpha / down.shape[0])
            got = layer.lora_B[adapter].weight.flatten(1) @ layer.lora_A[adapter].weight.flatten(1)
            got = got * layer.scaling[adapter]
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4, msg=name)


def _generate(model, loras, out_dir):
    from lora_studio.generation.engine import GenerationEngine

    request = GenerationRequest(
        model=str(model), prompt="zorb, orange round mascot", loras=tuple(loras), sampler="Euler",
        steps=3, cfg=5.0, seed=5, width=64, height=64, output_dir=str(out_dir),
    )  # fmt: skip
    path = GenerationEngine().generate(request).paths[0]
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


@pytest.mark.slow
def test_merge_bake_and_info(sdxl, tmp_path, capsys):
    from lora_studio.cli.main import main as cli_main
    from lora_studio.formats.lora_info import inspect_lora
    from lora_studio.formats.lora_keys import SGM_UNET_PREFIXES
    from lora_studio.generation.merge import bake_loras, merge_lora_files

    info = inspect_lora(sdxl["lora"])
    assert info.family == ModelFamily.SDXL and info.format.value == "kohya_locon"
    assert info.module_count == len(sdxl["names"]) and info.has_text_encoder
    assert (info.rank, info.alpha, info.conv_rank, info.conv_alpha) == (RANK, ALPHA, CONV_RANK, CONV_ALPHA)
    assert cli_main(["lora", "info", str(sdxl["lora"])]) == 0
    assert "SDXL" in capsys.readouterr().out

    model = sdxl["root"] / model_file("sdxl")
    base = _generate(model, [], tmp_path / "base")
    with_lora = _generate(model, [LoraSpec(str(sdxl["lora"]), 1.0)], tmp_path / "lora")
    assert np.abs(with_lora - base).mean() > 1.0

    # Merging the file with itself at half weight each is the file at full weight.
    report = merge_lora_files(
        [LoraSpec(str(sdxl["lora"]), 0.5), LoraSpec(str(sdxl["lora"]), 0.5)], tmp_path / "m.safetensors",
        dtype=torch.float32,
    )  # fmt: skip
    assert report.modules == len(sdxl["names"])
    with safe_open(str(report.path), "pt") as fh:
        unet = [k for k in fh.keys() if k.startswith("lora_unet_")]
    assert unet and all(k.startswith(SGM_UNET_PREFIXES) for k in unet)
    merged = _generate(model, [LoraSpec(str(report.path), 1.0)], tmp_path / "merged")
    assert np.abs(merged - with_lora).max() <= 2

    baked = bake_loras(model, [LoraSpec(str(sdxl["lora"]), 1.0)], tmp_path / "baked.safetensors", dtype=None)
    from_bake = _generate(baked, [], tmp_path / "baked")
    assert np.abs(from_bake - with_lora).max() <= 2


def test_merge_meets_old_and_new_sdxl_names_in_one_module(tmp_path):
    """An old LoRA Studio SDXL file (diffusers names) merged with a kohya-named one: the same layer."""
    from lora_studio.formats.lora_keys import rename_sdxl_unet_keys
    from lora_studio.generation.merge import merge_lora_files

    new = {
        "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.lora_down.weight": torch.ones(2, 640),
        "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.lora_up.weight": torch.ones(640, 2),
        "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.alpha": torch.tensor(2.0),
    }
    old = rename_sdxl_unet_keys(new, to="diffusers")
    assert next(iter(old)).startswith("lora_unet_down_blocks_1_attentions_0_")
    meta = {"ss_base_model_version": "sdxl_base_v1-0"}
    save_file(new, str(tmp_path / "new.safetensors"), metadata=meta)
    save_file(old, str(tmp_path / "old.safetensors"), metadata=meta)
    report = merge_lora_files(
        [LoraSpec(str(tmp_path / "new.safetensors"), 1.0), LoraSpec(str(tmp_path / "old.safetensors"), 1.0)],
        tmp_path / "both.safetensors",
        dtype=torch.float32,
    )
    with safe_open(str(report.path), "pt") as fh:
        assert {k.split(".")[0] for k in fh.keys()} == {
            "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q"
        }
        assert (
            fh.get_tensor(
                "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.lora_down.weight"
            ).shape[0]
            == 4
        )


@pytest.mark.slow
def test_training_continues_from_the_kohya_file(sdxl, tmp_path):
    from lora_studio.training.config import NetworkTarget, load_config, resolve_paths, update
    from lora_studio.training.trainer import run_training

    root = sdxl["root"]
    config, _ = load_config(root / TRAIN_CONFIG)
    config = update(
        resolve_paths(config, root),
        **{
            "network.init_weights": str(sdxl["lora"]),
            "network.rank": RANK,
            "network.alpha": ALPHA,
            "network.target": NetworkTarget.ATTENTION_FF_CONV,
            "network.conv_rank": CONV_RANK,
            "network.conv_alpha": CONV_ALPHA,
            "network.train_text_encoder": True,
            "optimizer.learning_rate": 1e-12,  # one step that changes nothing measurable
            "run.max_steps": 1,
            "run.save_precision": config.run.precision,
            "run.output_dir": str(tmp_path / "out"),
            "sample.prompts": (),
        },
    )
    result = run_training(config)
    assert result.final_lora is not None
    with safe_open(str(sdxl["lora"]), "pt") as a, safe_open(str(result.final_lora), "pt") as b:
        assert set(a.keys()) == set(b.keys())  # same modules, same (kohya) names
        for key in a.keys():
            torch.testing.assert_close(
                b.get_tensor(key).float(), a.get_tensor(key).float(), atol=1e-6, rtol=1e-5
            )


def test_continuing_needs_the_files_rank(sdxl, tmp_path):
    from lora_studio.core.errors import TrainingError
    from lora_studio.training.config import NetworkTarget, load_config, resolve_paths, update
    from lora_studio.training.trainer import run_training

    root = sdxl["root"]
    config, _ = load_config(root / TRAIN_CONFIG)
    config = update(
        resolve_paths(config, root),
        **{
            "network.init_weights": str(sdxl["lora"]),
            "network.rank": RANK * 2,
            "network.target": NetworkTarget.ATTENTION_FF_CONV,
            "network.train_text_encoder": True,
            "run.max_steps": 1,
            "run.output_dir": str(tmp_path / "out"),
            "sample.prompts": (),
        },
    )
    with pytest.raises(TrainingError, match="rank"):
        run_training(config)
