"""LoHa, LoKr and DoRA training on the tiny SD1 model: the file has LyCORIS' key layout and
metadata, reproduces the trainer's own sample in the generation engine, loads in diffusers where
diffusers supports it (DoRA), and resumes exactly.

Key layout and shapes compared against LyCORIS (KohakuBlueleaf/LyCORIS) ``lycoris/modules/loha.py``
(``hada_w1_a`` [out, r], ``hada_w1_b`` [r, in·k·k] …), ``lycoris/modules/lokr.py`` (``lokr_w1`` /
``lokr_w2`` …) and, for DoRA, ``weight_decompose`` with ``wd_on_output`` (``dora_scale`` [out, 1]),
and its kohya network's metadata (``lycoris/kohya.py``: ``ss_network_module = lycoris.kohya``,
``ss_network_args`` with ``algo``, ``conv_dim``, ``conv_alpha`` …).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from lora_studio.core.control import RunControl
from lora_studio.core.errors import Cancelled
from lora_studio.core.events import StepFinished
from lora_studio.formats.safetensors_meta import read_header
from lora_studio.training import run_files
from lora_studio.training.config import NetworkAlgo, NetworkTarget, SamplePrompt
from lora_studio.training.trainer import run_training
from tests.a1111_rules import a1111_view

from .conftest import make_dataset, tiny_config

PROMPT = SamplePrompt(prompt="sks, photo, red", seed=5, steps=3, cfg=5.0)


def _cfg(model: Path, out: Path, algo: str, **kw):
    return tiny_config(
        model,
        out,
        **{
            "network.algo": NetworkAlgo(algo),
            "network.target": NetworkTarget.ATTENTION_FF_CONV,
            "network.conv_rank": 2,
            "network.conv_alpha": 1.0,
            "network.train_text_encoder": True,
            "run.max_steps": 3,
            **kw,
        },
    )


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def _check_layout(tensors: dict, algo: str) -> None:
    names = {k.split(".")[0] for k in tensors}
    assert all(n.startswith(("lora_unet_", "lora_te_")) for n in names)
    assert any(n.startswith("lora_te_text_model_encoder_layers_") for n in names)
    conv = "lora_unet_down_blocks_0_resnets_0_conv1"  # a 3x3 conv at conv rank 2
    q = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"  # 32 -> 32 at rank 4
    for n in names:
        assert f"{n}.alpha" in tensors and tensors[f"{n}.alpha"].dim() == 0
    if algo == "loha":
        assert set(tensors) >= {f"{q}.hada_w1_a", f"{q}.hada_w1_b", f"{q}.hada_w2_a", f"{q}.hada_w2_b"}
        assert tensors[f"{q}.hada_w1_a"].shape == (32, 4) and tensors[f"{q}.hada_w1_b"].shape == (4, 32)
        assert tensors[f"{conv}.hada_w1_b"].shape[0] == 2  # conv rank; [r, in·3·3]
        assert tensors[f"{conv}.hada_w1_b"].shape[1] % 9 == 0
        assert float(tensors[f"{q}.alpha"]) == 2.0 and float(tensors[f"{conv}.alpha"]) == 1.0
    elif algo == "lokr":
        # 32 = 4 x 8 per side: both Kronecker parts are full at rank 4 (LyCORIS: scale 1, alpha = dim)
        assert tensors[f"{q}.lokr_w1"].shape == (4, 4) and tensors[f"{q}.lokr_w2"].shape == (8, 8)
        assert f"{conv}.lokr_w1" in tensors
    else:
        assert tensors[f"{q}.lora_down.weight"].shape == (4, 32)
        assert tensors[f"{q}.dora_scale"].shape == (32, 1)  # output axis, as LyCORIS' wd_on_output
        assert tensors[f"{conv}.dora_scale"].shape[1:] == (1, 1, 1)
        assert not any(".lora_magnitude_vector" in k for k in tensors)


CASES = [
    pytest.param("sd1", "loha", id="sd1-loha"),
    pytest.param("sd1", "lokr", id="sd1-lokr"),
    pytest.param("sd1", "dora", id="sd1-dora"),
    pytest.param("sdxl", "loha", id="sdxl-loha", marks=pytest.mark.slow),
    pytest.param("sdxl", "lokr", id="sdxl-lokr", marks=pytest.mark.slow),
    pytest.param("sdxl", "dora", id="sdxl-dora", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("family", "algo"), CASES)
def test_trained_file_has_lycoris_keys_and_reproduces_the_trainers_sample(
    tmp_path: Path, request, family: str, algo: str
) -> None:
    from lora_studio.generation.engine import GenerationEngine
    from lora_studio.generation.request import GenerationRequest, LoraSpec

    model = request.getfixturevalue(f"tiny_{family}_dir")
    ds = make_dataset(tmp_path / "ds", 2)
    cfg = _cfg(model, tmp_path, algo, **{"sample.prompts": (PROMPT,), "sample.every_n_steps": 3})
    result = run_training(cfg, dataset=ds)
    assert result.final_lora is not None and result.samples
    tensors = load_file(str(result.final_lora))
    if family == "sd1":
        _check_layout(tensors, algo)
    else:  # kohya's SDXL names: the original layout's blocks, two text encoders
        names = {k.split(".")[0] for k in tensors}
        unet = [n for n in names if n.startswith("lora_unet_")]
        assert unet and all(n.startswith(("lora_unet_input_blocks_", "lora_unet_middle_block_", "lora_unet_output_blocks_")) for n in unet)  # fmt: skip
        assert any(n.startswith("lora_te1_") for n in names) and any(n.startswith("lora_te2_") for n in names)
    meta = read_header(result.final_lora).metadata
    assert meta["ss_network_module"] == "lycoris.kohya"
    assert a1111_view(meta)["rows"]["Kohya module"] == "lycoris.kohya"  # A1111's metadata view reads it
    args = json.loads(meta["ss_network_args"])
    assert args["algo"] == {"loha": "loha", "lokr": "lokr", "dora": "locon"}[algo]
    assert (args["conv_dim"], args["conv_alpha"]) == ("2", "1")
    if algo == "dora":
        assert args["dora_wd"] == "True" and args["wd_on_output"] == "True"
    if algo == "lokr":
        assert args["factor"] == "-1"

    gen_request = GenerationRequest(
        model=str(model),
        prompt=PROMPT.prompt,
        loras=(LoraSpec(str(result.final_lora), 1.0),),
        sampler="Euler",
        steps=PROMPT.steps,
        cfg=PROMPT.cfg,
        seed=PROMPT.seed,
        width=64,
        height=64,
        output_dir=str(tmp_path / "gen"),
    )
    engine = GenerationEngine()
    trainer_sample = _pixels(result.samples[-1])
    with_lora = _pixels(engine.generate(gen_request).paths[0])
    without = _pixels(engine.generate(gen_request.with_(loras=())).paths[0])
    diff = np.abs(with_lora - trainer_sample)
    assert diff.max() <= 3, f"engine differs from the trainer's sample by {diff.max()} levels"
    assert np.abs(without - trainer_sample).mean() > 2 * max(diff.mean(), 0.1)
    # fused (one batch at fixed weights) gives the same picture
    fused = _pixels(engine.generate(gen_request.with_(fuse_loras=True)).paths[0])
    assert np.abs(fused - with_lora).max() <= 2

    if algo == "dora" and family == "sd1":
        _check_diffusers_loads_dora(model, result.final_lora, tensors)


def _check_diffusers_loads_dora(model_dir: Path, path: Path, tensors: dict) -> None:
    """diffusers 0.3x drops kohya ``dora_scale`` for SD/SDXL (with a warning), so the stack hands
    it the PEFT layout; diffusers then builds PEFT DoRA layers whose magnitude is the file's."""
    from lora_studio.diffusion.loading import load_pipeline
    from lora_studio.generation.loras import LoraStack

    pipe = load_pipeline(model_dir).pipeline
    LoraStack(pipe, "sd1").ensure_loaded(path)
    (adapter,) = pipe.get_list_adapters()["unet"]
    for comp, module, name in (
        ("unet", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"),
        ("unet", "down_blocks.0.resnets.0.conv1", "lora_unet_down_blocks_0_resnets_0_conv1"),
    ):  # fmt: skip
        layer = getattr(pipe, comp).get_submodule(module)
        assert layer.use_dora[adapter]
        magnitude = layer.lora_magnitude_vector[adapter].weight
        assert torch.equal(magnitude.reshape(-1), tensors[f"{name}.dora_scale"].reshape(-1))


@pytest.mark.parametrize("algo", ["loha", "lokr", "dora"])
def test_resume_is_exact(tmp_path: Path, tiny_sd1_dir: Path, algo: str) -> None:
    ds = make_dataset(tmp_path / "ds", 2)
    opts = {"run.max_steps": 0, "run.epochs": 2, "network.train_text_encoder": False, "run.batch_size": 1}
    full = run_training(_cfg(tiny_sd1_dir, tmp_path / "a", algo, **opts), dataset=ds)
    cfg_b = _cfg(tiny_sd1_dir, tmp_path / "b", algo, **opts)
    control = RunControl()

    def stop_at_2(event) -> None:
        if isinstance(event, StepFinished) and event.step == 2:
            control.cancel()

    with pytest.raises(Cancelled):
        run_training(cfg_b, stop_at_2, control, dataset=ds)
    state = run_files.latest_state(cfg_b.run.output_dir, "t")
    assert state is not None
    resumed = run_training(cfg_b, dataset=ds, resume_from=state)
    assert resumed.losses == full.losses and len(full.losses) == 4
    a, b = load_file(str(full.final_lora)), load_file(str(resumed.final_lora))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
