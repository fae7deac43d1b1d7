"""LoHa and LoKr files written in LyCORIS' own key layout load in our generation, fuse, bake.

The files are built here tensor by tensor, as LyCORIS' kohya network saves them (compared against
KohakuBlueleaf/LyCORIS ``lycoris/modules/loha.py`` ``LohaModule.custom_state_dict`` and
``lycoris/modules/lokr.py`` ``LokrModule.custom_state_dict``), and the expected weight change is
computed here the way LyCORIS and the UIs apply it:

* LoHa: ΔW = (w1_a @ w1_b) ⊙ (w2_a @ w2_b) · alpha / dim, dim = w1_b.shape[0]; CP/Tucker convs
  rebuild each half as einsum("i j k l, j r, i p -> p r k l", t, w_b, w_a).
* LoKr: ΔW = kron(w1, w2) · alpha / dim with w = w_a @ w_b where factorised and dim the rank of a
  factorised part; scale 1 (alpha ignored) when both parts are full matrices.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from lora_studio.formats.lora_keys import kohya_name, write_kohya_file
from lora_studio.generation.request import LoraSpec

Q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"  # Linear 32 -> 32
CONV = "down_blocks.0.resnets.0.conv1"  # Conv2d 3x3
TE_Q = "encoder.layers.0.self_attn.q_proj"


def _rand(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=gen) * 0.2


def _cp(t, wa, wb):
    return torch.einsum("i j k l, j r, i p -> p r k l", t, wb, wa)


def loha_file(path: Path, pipe) -> tuple[Path, dict]:
    """A LoHa file: a Linear and a text-encoder Linear in plain form, a 3x3 conv in CP form."""
    gen = torch.Generator().manual_seed(3)
    tensors, expected = {}, {}
    for comp, module, rank, alpha in (("unet", Q, 4, 2.0), ("text_encoder", TE_Q, 3, 3.0)):
        w = getattr(pipe, comp).get_submodule(module).weight
        out, inp = w.shape
        name = kohya_name(comp, module, "sd1")
        parts = {
            "hada_w1_a": _rand(gen, out, rank), "hada_w1_b": _rand(gen, rank, inp),
            "hada_w2_a": _rand(gen, out, rank), "hada_w2_b": _rand(gen, rank, inp),
        }  # fmt: skip
        tensors.update({f"{name}.{k}": v for k, v in parts.items()})
        tensors[f"{name}.alpha"] = torch.tensor(alpha)
        expected[(comp, module)] = (
            (parts["hada_w1_a"] @ parts["hada_w1_b"])
            * (parts["hada_w2_a"] @ parts["hada_w2_b"])
            * alpha
            / rank
        )
    w = pipe.unet.get_submodule(CONV).weight
    out, inp, k, _ = w.shape
    rank, alpha = 2, 1.0
    parts = {
        "hada_t1": _rand(gen, rank, rank, k, k), "hada_w1_a": _rand(gen, rank, out), "hada_w1_b": _rand(gen, rank, inp),
        "hada_t2": _rand(gen, rank, rank, k, k), "hada_w2_a": _rand(gen, rank, out), "hada_w2_b": _rand(gen, rank, inp),
    }  # fmt: skip
    name = kohya_name("unet", CONV, "sd1")
    tensors.update({f"{name}.{k}": v for k, v in parts.items()})
    tensors[f"{name}.alpha"] = torch.tensor(alpha)
    expected[("unet", CONV)] = (
        _cp(parts["hada_t1"], parts["hada_w1_a"], parts["hada_w1_b"])
        * _cp(parts["hada_t2"], parts["hada_w2_a"], parts["hada_w2_b"])
        * alpha
        / rank
    )
    meta = {"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "loha"}'}
    return write_kohya_file(path, tensors, meta), expected


def lokr_file(path: Path, pipe) -> tuple[Path, dict]:
    """A LoKr file with each factorisation LyCORIS writes: full w1 + factorised w2, both parts
    factorised, both parts full (alpha stored but ignored), and a conv with a 4-D w2."""
    gen = torch.Generator().manual_seed(4)
    tensors, expected = {}, {}

    def add(comp, module, parts, alpha, scale):
        name = kohya_name(comp, module, "sd1")
        tensors.update({f"{name}.{k}": v for k, v in parts.items()})
        tensors[f"{name}.alpha"] = torch.tensor(alpha)
        w1 = parts["lokr_w1"] if "lokr_w1" in parts else parts["lokr_w1_a"] @ parts["lokr_w1_b"]
        w2 = parts["lokr_w2"] if "lokr_w2" in parts else parts["lokr_w2_a"] @ parts["lokr_w2_b"]
        if w2.dim() == 4:
            w1 = w1[:, :, None, None]
        expected[(comp, module)] = torch.kron(w1, w2) * scale

    # 32 = 4 x 8 on both sides
    add("unet", Q, {"lokr_w1": _rand(gen, 4, 4), "lokr_w2_a": _rand(gen, 8, 2), "lokr_w2_b": _rand(gen, 2, 8)}, 1.0, 1.0 / 2)  # fmt: skip
    k_mod = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_k"
    add("unet", k_mod, {"lokr_w1_a": _rand(gen, 4, 2), "lokr_w1_b": _rand(gen, 2, 4), "lokr_w2_a": _rand(gen, 8, 2), "lokr_w2_b": _rand(gen, 2, 8)}, 4.0, 4.0 / 2)  # fmt: skip
    add("text_encoder", TE_Q, {"lokr_w1": _rand(gen, 4, 4), "lokr_w2": _rand(gen, 8, 8)}, 7.0, 1.0)
    w = pipe.unet.get_submodule(CONV).weight
    out, inp, k, _ = w.shape
    add(
        "unet", CONV, {"lokr_w1": _rand(gen, 4, 4), "lokr_w2": _rand(gen, out // 4, inp // 4, k, k)}, 1.0, 1.0
    )
    meta = {"ss_network_module": "lycoris.kohya", "ss_network_args": '{"algo": "lokr"}'}
    return write_kohya_file(path, tensors, meta), expected


@pytest.fixture()
def stack(tiny_sd1_dir):
    from lora_studio.diffusion.loading import load_pipeline
    from lora_studio.generation.loras import LoraStack

    pipe = load_pipeline(tiny_sd1_dir).pipeline
    return LoraStack(pipe, "sd1")


@pytest.mark.parametrize("make", [loha_file, lokr_file], ids=["loha", "lokr"])
def test_a_lycoris_file_applies_the_weight_change_lycoris_defines(tmp_path: Path, stack, make) -> None:
    pipe = stack.pipe
    path, expected = make(tmp_path / "ly.safetensors", pipe)
    base = {key: getattr(pipe, key[0]).get_submodule(key[1]).weight.detach().clone() for key in expected}
    [loaded] = [stack.ensure_loaded(path)]
    assert loaded.modules_matched == loaded.modules_in_file == len(expected)
    for weight in (1.0, 0.5):
        stack.apply([LoraSpec(str(path), weight)])
        for (comp, module), delta in expected.items():
            layer = getattr(pipe, comp).get_submodule(module)
            w = base[(comp, module)] + weight * delta.reshape(base[(comp, module)].shape)
            if w.dim() == 2:
                x = torch.randn(2, w.shape[1])
                want = F.linear(x, w, layer.get_base_layer().bias)
            else:
                x = torch.randn(1, w.shape[1], 6, 6)
                conv = layer.get_base_layer()
                want = F.conv2d(x, w, conv.bias, conv.stride, conv.padding)
            with torch.no_grad():
                got = layer(x)
            assert torch.allclose(got, want, atol=1e-5), (comp, module, weight)
    # fused: the base weights hold W + ΔW, and unfusing gives the exact originals back
    stack.apply([LoraSpec(str(path), 0.5)], fuse=True)
    for (comp, module), delta in expected.items():
        layer = getattr(pipe, comp).get_submodule(module)
        want = base[(comp, module)] + 0.5 * delta.reshape(base[(comp, module)].shape)
        assert torch.allclose(layer.get_base_layer().weight, want, atol=1e-6)
    stack.clear()
    for (comp, module), weight in base.items():
        assert torch.equal(getattr(pipe, comp).get_submodule(module).weight, weight)


def test_a_loha_file_bakes_into_a_checkpoint(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    from lora_studio.diffusion.loading import load_pipeline
    from lora_studio.generation.merge import bake_loras

    pipe = load_pipeline(tiny_sd1_dir).pipeline
    path, expected = loha_file(tmp_path / "ly.safetensors", pipe)
    out = bake_loras(tiny_sd1_dir, [LoraSpec(str(path), 0.8)], tmp_path / "baked", dtype=torch.float32)
    baked = load_pipeline(out).pipeline
    for (comp, module), delta in expected.items():
        before = getattr(pipe, comp).get_submodule(module).weight
        after = getattr(baked, comp).get_submodule(module).weight
        assert torch.allclose(after, before + 0.8 * delta.reshape(before.shape), atol=1e-6), module


def test_a_file_mixing_loha_and_lokr_is_refused_in_plain_words(tmp_path: Path, stack) -> None:
    from lora_studio.core.errors import GenerationError

    name_a, name_b = kohya_name("unet", Q, "sd1"), kohya_name("text_encoder", TE_Q, "sd1")
    tensors = {
        f"{name_a}.hada_w1_a": torch.ones(32, 1), f"{name_a}.hada_w1_b": torch.ones(1, 32),
        f"{name_a}.hada_w2_a": torch.ones(32, 1), f"{name_a}.hada_w2_b": torch.ones(1, 32),
        f"{name_b}.lokr_w1": torch.ones(4, 4), f"{name_b}.lokr_w2": torch.ones(8, 8),
    }  # fmt: skip
    path = write_kohya_file(tmp_path / "mixed.safetensors", tensors, {})
    with pytest.raises(GenerationError, match="mixes LoHa and LoKr"):
        stack.ensure_loaded(path)
    assert stack.loaded == {}


def _fused_weights(stack, specs) -> dict[str, torch.Tensor]:
    stack.apply(specs, fuse=True)
    out = {
        f"{comp}.{name}": p.detach().clone()
        for comp in stack.components
        for name, p in getattr(stack.pipe, comp).named_parameters()
        if "lora" not in name and "hada" not in name and "lokr" not in name
    }
    stack.clear()
    return {k.replace(".base_layer", ""): v for k, v in out.items()}


def test_merging_a_loha_with_a_kohya_lora_is_exact(tmp_path: Path, stack) -> None:
    from lora_studio.generation.merge import merge_lora_files
    from tests.generation.conftest import make_kohya_lora

    loha, _ = loha_file(tmp_path / "loha.safetensors", stack.pipe)
    lora = make_kohya_lora(tmp_path / "lora.safetensors", "sd1", seed=2)
    specs = [LoraSpec(str(loha), 0.7), LoraSpec(str(lora), 0.5)]
    report = merge_lora_files(specs, tmp_path / "merged.safetensors", dtype=torch.float32)
    assert report.mode == "concat" and report.min_energy_kept == 1.0
    from safetensors import safe_open

    with safe_open(str(report.path), "pt") as fh:
        assert fh.metadata()["ss_network_module"] == "lycoris.kohya"
        assert {k.split(".", 1)[1] for k in fh.keys()} == {"lokr_w1", "lokr_w2", "alpha"}
    base = {f"unet.{n}": p.detach().clone() for n, p in stack.pipe.unet.named_parameters()}
    want = _fused_weights(stack, specs)  # a LoRA layer wrapping a LoHa layer on the shared modules
    after = {f"unet.{n}": p for n, p in stack.pipe.unet.named_parameters()}
    assert all(torch.equal(after[k], base[k]) for k in base), "unfusing the stacked layers changed the model"
    got = _fused_weights(stack, [LoraSpec(str(report.path), 1.0)])
    assert want.keys() == got.keys()
    changed = [k for k in want if not torch.equal(want[k], got[k])]
    for key in want:
        assert torch.allclose(got[key], want[key], atol=1e-5), key
    assert len(changed) < len(want)  # not everything differs in rounding: the comparison is real

    small = merge_lora_files(specs, tmp_path / "small.safetensors", rank=2, dtype=torch.float32)
    assert small.mode == "svd" and 0 < small.min_energy_kept < 1
    assert stack.ensure_loaded(small.path).modules_matched == report.modules


def test_a_dora_file_is_not_merged(tmp_path: Path) -> None:
    from lora_studio.core.errors import GenerationError
    from lora_studio.generation.merge import merge_lora_files

    name = kohya_name("unet", Q, "sd1")
    tensors = {
        f"{name}.lora_down.weight": torch.ones(2, 32), f"{name}.lora_up.weight": torch.ones(32, 2),
        f"{name}.alpha": torch.tensor(2.0), f"{name}.dora_scale": torch.ones(32, 1),
    }  # fmt: skip
    path = write_kohya_file(tmp_path / "dora.safetensors", tensors, {})
    with pytest.raises(GenerationError, match="DoRA files cannot be merged"):
        merge_lora_files([LoraSpec(str(path), 1.0)], tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


def test_an_input_axis_dora_file_is_refused_in_plain_words(tmp_path: Path, stack) -> None:
    """LyCORIS' DoRA without ``wd_on_output`` keeps [1, in] magnitudes; PEFT has output-axis DoRA only."""
    from lora_studio.core.errors import GenerationError

    name = kohya_name("unet", Q, "sd1")
    tensors = {
        f"{name}.lora_down.weight": torch.ones(2, 32), f"{name}.lora_up.weight": torch.zeros(32, 2),
        f"{name}.alpha": torch.tensor(2.0), f"{name}.dora_scale": torch.ones(1, 32),
    }  # fmt: skip
    path = write_kohya_file(tmp_path / "dora_in.safetensors", tensors, {})
    with pytest.raises(GenerationError, match="per input channel"):
        stack.ensure_loaded(path)
    assert stack.loaded == {}
