"""Memory settings on tiny models: fp8 / 8-bit / 4-bit base weights and block swapping train, save a
working LoRA, stay close to the full-precision losses, really hold fewer bytes, and resume exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lora_studio.core.control import RunControl
from lora_studio.core.errors import Cancelled, ConfigError
from lora_studio.core.events import StepFinished
from lora_studio.diffusion import memory as M
from lora_studio.formats.safetensors_meta import read_header
from lora_studio.training import run_files
from lora_studio.training.trainer import run_training

from .conftest import make_dataset, tiny_config

# Stated tolerance: every step's loss within 5 % of the full-precision run's (same seed, same
# data, bf16 compute). Measured on the tiny SD1 model: each well under 2 %.
LOSS_TOLERANCE = 0.05

_BF16 = {"run.precision": "bf16", "run.epochs": 2}


def _run(model: Path, out: Path, ds, **kw):
    return run_training(tiny_config(model, out, **{**_BF16, **kw}), dataset=ds, keep_pipeline=True)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, tiny_sd1_dir: Path):
    root = tmp_path_factory.mktemp("full")
    ds = make_dataset(root / "ds", 4)
    return ds, _run(tiny_sd1_dir, root / "o", ds)


def _renders_differ(model_dir: Path, lora: Path) -> float:
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(model_dir, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)

    def render():
        g = torch.Generator().manual_seed(5)
        return pipe(
            "sks, photo", num_inference_steps=2, generator=g, output_type="np", width=64, height=64
        ).images

    base = render()
    pipe.load_lora_weights(str(lora))
    return float(abs(render() - base).max())


def _linear_weight(unet: torch.nn.Module) -> torch.nn.Parameter:
    """The first feed-forward output Linear of the UNet's transformer blocks."""
    layer = next(m for n, m in unet.named_modules() if n.endswith("ff.net.2"))
    return getattr(layer, "base_layer", layer).weight


@pytest.mark.parametrize("kind", ["fp8", "int8", "nf4"])
def test_low_precision_base_trains_close_to_full_precision(
    kind: str, tmp_path: Path, tiny_sd1_dir: Path, full_run
) -> None:
    ds, full = full_run
    result = _run(
        tiny_sd1_dir,
        tmp_path,
        ds,
        **{"memory.unet_weights": kind, "memory.text_encoder_weights": kind, "run.save_every_n_epochs": 1},
    )
    assert len(result.losses) == len(full.losses) == 4
    for ours, ref in zip(result.losses, full.losses):
        assert abs(ours - ref) <= LOSS_TOLERANCE * ref, (result.losses, full.losses)
    assert result.losses != full.losses  # the base weights really changed precision

    unet = result.pipeline.unet
    full_unet = full.pipeline.unet
    weight = _linear_weight(unet)
    ref_weight = _linear_weight(full_unet)
    if kind == "fp8":
        assert weight.dtype == torch.float8_e4m3fn and weight.element_size() == 1
    elif kind == "int8":
        assert weight.dtype == torch.int8
    else:  # nf4: two 4-bit values per byte
        assert weight.dtype == torch.uint8 and weight.numel() * 2 == ref_weight.numel()
    per_value = {"fp8": 1.0, "int8": 1.0, "nf4": 0.5}[kind]
    # bytes the layer's storage holds, against bf16 (2 bytes a value)
    assert M.tensor_bytes(weight) == per_value * ref_weight.numel()
    assert ref_weight.dtype == torch.bfloat16
    held, full_held = M.held_bytes(unet), M.held_bytes(full_unet)
    assert held < full_held, (held, full_held)
    stored = M.base_weight_dtypes(unet)
    low = {"fp8": torch.float8_e4m3fn, "int8": torch.int8, "nf4": torch.uint8}[kind]
    if kind == "fp8":  # most of the frozen model is stored in fp8 (norms/embeddings stay bf16)
        assert stored[low] > 0.7 * sum(stored.values()), stored
    else:  # bitsandbytes converts the Linear layers; convolutions stay bf16
        linear = sum(
            m.weight.numel() for n, m in full_unet.named_modules() if n.endswith(("to_q", "to_k", "ff.net.2"))
        )
        assert stored[low] * (2 if kind == "nf4" else 1) > linear
    te = result.pipeline.text_encoder.encoder.layers[0].mlp.fc1
    te_weight = getattr(te, "base_layer", te).weight
    assert te_weight.element_size() == 1 and te_weight.dtype != torch.bfloat16
    # the LoRA weights themselves stay full precision
    lora = [p for n, p in unet.named_parameters() if ".lora_" in n]
    assert lora and all(p.dtype == torch.float32 and p.requires_grad for p in lora)
    assert len(result.lora_files) >= 2
    assert _renders_differ(tiny_sd1_dir, result.final_lora) > 1e-3
    # the file says so as sd-scripts would (its fp8 flag; int8/NF4 have no sd-scripts key)
    meta = read_header(result.final_lora).metadata
    assert meta["ss_fp8_base"] == str(kind == "fp8") and meta["ss_fp8_base_unet"] == "False"


def test_held_bytes_adds_up_every_tensor(tmp_path: Path, tiny_sd1_dir: Path, full_run) -> None:
    """The memory the engine reports for a model equals what its tensors add up to."""
    ds, full = full_run
    unet = full.pipeline.unet
    expected = sum(p.numel() * p.element_size() for p in unet.parameters())
    expected += sum(b.numel() * b.element_size() for b in unet.buffers())
    assert M.held_bytes(unet) == expected
    quant = _run(tiny_sd1_dir, tmp_path, ds, **{"memory.unet_weights": "nf4", "run.max_steps": 1})
    qunet = quant.pipeline.unet
    packed = sum(p.numel() * p.element_size() for p in qunet.parameters())
    packed += sum(b.numel() * b.element_size() for b in qunet.buffers())
    scales = sum(
        M.tensor_bytes(t)
        for p in qunet.parameters()
        if getattr(p, "quant_state", None) is not None
        for t in M._quant_state_tensors(p.quant_state)
    )
    assert scales > 0 and M.held_bytes(qunet) == packed + scales


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_block_swapping_matches_and_offloads_between_uses(
    family: str, tmp_path: Path, request, monkeypatch
) -> None:
    model_dir = request.getfixturevalue("tiny_sdxl_dir" if family == "sdxl" else "tiny_sd1_dir")
    ds = make_dataset(tmp_path / "ds", 4)
    plain = _run(model_dir, tmp_path / "plain", ds)
    seen: list[tuple[int, bool]] = []  # (block, every *other* block offloaded at that moment)
    real_onload = M.BlockSwapper.onload

    def watching_onload(self, index):
        others = [i for i in range(len(self.blocks)) if i != index]
        seen.append((index, all(self.is_offloaded(i) for i in others)))
        assert self.is_offloaded(index)  # it was away between uses
        real_onload(self, index)
        assert not self.is_offloaded(index)

    monkeypatch.setattr(M.BlockSwapper, "onload", watching_onload)
    swapped = _run(model_dir, tmp_path / "swap", ds, **{"memory.blocks_to_swap": 3})
    assert swapped.losses == plain.losses  # the same result, bit for bit
    assert len(seen) == 3 * 2 * len(swapped.losses)  # each block: forward + backward, every step
    assert {i for i, _ in seen} == {0, 1, 2} and all(ok for _, ok in seen)
    blocks = M.swappable_blocks(swapped.pipeline.unet)[:3]
    weights = [p for b in blocks for p in b.parameters() if not p.requires_grad]
    assert weights and all(p.device.type == "cpu" for p in weights)
    from safetensors.torch import load_file

    a, b = load_file(str(plain.final_lora)), load_file(str(swapped.final_lora))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _renders_differ(model_dir, swapped.final_lora) > 1e-3


def test_block_swapping_refuses_quantised_base(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    ds = make_dataset(tmp_path / "ds", 2)
    cfg = tiny_config(tiny_sd1_dir, tmp_path, **{"memory.blocks_to_swap": 1, "memory.unet_weights": "nf4"})
    with pytest.raises(ConfigError, match="Block swapping"):
        run_training(cfg, dataset=ds)


@pytest.mark.parametrize(
    "setting",
    [
        {"memory.unet_weights": "fp8"},
        {"memory.unet_weights": "int8"},
        {"memory.unet_weights": "nf4"},
        {"memory.blocks_to_swap": 2},
    ],
    ids=["fp8", "int8", "nf4", "swap"],
)
def test_resume_is_bit_identical(setting: dict, tmp_path: Path, tiny_sd1_dir: Path) -> None:
    ds = make_dataset(tmp_path / "ds", 3)
    opts = {**_BF16, "run.epochs": 2, "run.batch_size": 1, "network.dropout": 0.1, **setting}
    full = run_training(tiny_config(tiny_sd1_dir, tmp_path / "a", **opts), dataset=ds)
    control = RunControl()

    def stop_at_2(e):
        if isinstance(e, StepFinished) and e.step == 2:
            control.cancel()

    cfg_b = tiny_config(tiny_sd1_dir, tmp_path / "b", **opts)
    with pytest.raises(Cancelled):
        run_training(cfg_b, stop_at_2, control, dataset=ds)
    state = run_files.latest_state(cfg_b.run.output_dir, "t")
    assert state is not None and state.name == "t-state-s000002.pt"
    resumed = run_training(cfg_b, dataset=ds, resume_from=state)
    assert resumed.losses == full.losses
    from safetensors.torch import load_file

    a, b = load_file(str(full.final_lora)), load_file(str(resumed.final_lora))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("shuffle", [False, True])
def test_cached_text_encoders_stay_in_system_memory_and_are_freed_before_the_first_step(
    shuffle: bool, tmp_path: Path, tiny_sd1_dir: Path, monkeypatch
) -> None:
    from lora_studio.training import session as S

    log: list = []
    real_setup = S.TrainingSession.setup_network

    def spy_setup(self):
        real_setup(self)
        log.append(("te_device", self.text_cache_complete()))

    real_release = S.TrainingSession.release_text_encoders

    def spy_release(self):
        real_release(self)
        log.append(("freed", sum(p.numel() for te in self.text_encoders for p in te.parameters())))

    monkeypatch.setattr(S.TrainingSession, "setup_network", spy_setup)
    monkeypatch.setattr(S.TrainingSession, "release_text_encoders", spy_release)
    ds = make_dataset(tmp_path / "ds", 2)
    cfg = tiny_config(tiny_sd1_dir, tmp_path, **{"run.max_steps": 2, "dataset.shuffle_tags": shuffle})
    result = run_training(cfg, lambda e: log.append(type(e).__name__), dataset=ds)
    assert len(result.losses) == 2
    if shuffle:  # captions change every step: the encoders are needed, nothing is freed
        assert ("te_device", False) in log and not any(e[0] == "freed" for e in log if isinstance(e, tuple))
    else:
        assert ("te_device", True) in log
        freed = log.index(("freed", 0))
        assert freed < log.index("StepFinished")


def test_text_encoders_stay_for_sampling(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    from lora_studio.training.config import SamplePrompt

    ds = make_dataset(tmp_path / "ds", 2)
    cfg = tiny_config(
        tiny_sd1_dir,
        tmp_path,
        **{
            "run.max_steps": 1,
            "sample.prompts": (SamplePrompt(prompt="sks", steps=2),),
            "sample.every_n_steps": 1,
        },
    )
    result = run_training(cfg, dataset=ds)
    assert len(result.samples) == 1 and result.samples[0].is_file()


def test_fp8_layers_keep_only_fp8_weights_for_the_backward_pass() -> None:
    """The backward pass re-casts the fp8 weight instead of keeping a bf16 copy alive, and its
    gradients match the bf16 layer's."""
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(64, 96), torch.nn.Conv2d(96, 32, 3, padding=1)).bfloat16()
    ref.requires_grad_(False)
    low = torch.nn.Sequential(torch.nn.Linear(64, 96), torch.nn.Conv2d(96, 32, 3, padding=1))
    low.load_state_dict(ref.state_dict())
    low.requires_grad_(False)
    assert M.store_fp8(low, torch.bfloat16) == 2
    assert {p.dtype for n, p in low.named_parameters() if n.endswith("weight")} == {torch.float8_e4m3fn}

    def run(model):
        x = torch.randn(2, 5, 5, 64, generator=torch.Generator().manual_seed(1)).bfloat16().requires_grad_()
        saved: list[torch.Tensor] = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
            h = model[0](x).permute(0, 3, 1, 2)
            out = model[1](h)
        out.float().square().mean().backward()
        return x.grad, saved

    grad_ref, _ = run(ref)
    grad_low, saved = run(low)
    weight_shapes = {tuple(p.shape) for p in low.parameters() if p.dim() > 1}
    copies = [t for t in saved if tuple(t.shape) in weight_shapes and t.dtype != torch.float8_e4m3fn]
    assert not copies  # no compute-dtype weight copy waits for the backward pass
    assert torch.allclose(grad_low.float(), grad_ref.float(), rtol=0.1, atol=2e-3)


def test_fp8_with_gradient_checkpointing_on_sdxl(tmp_path: Path, tiny_sdxl_dir: Path) -> None:
    ds = make_dataset(tmp_path / "ds", 2)
    opts = {"run.gradient_checkpointing": True, "run.max_steps": 3}
    full = _run(tiny_sdxl_dir, tmp_path / "a", ds, **opts)
    low = _run(
        tiny_sdxl_dir,
        tmp_path / "b",
        ds,
        **{**opts, "memory.unet_weights": "fp8", "memory.blocks_to_swap": 2},
    )
    assert len(low.losses) == 3
    for ours, ref in zip(low.losses, full.losses):
        assert abs(ours - ref) <= LOSS_TOLERANCE * ref
    assert _linear_weight(low.pipeline.unet).dtype == torch.float8_e4m3fn


def test_quantised_weights_without_bitsandbytes_say_what_to_do(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # as on macOS, where it is not installed
    with pytest.raises(ConfigError, match="bitsandbytes") as info:
        M.store_base_weights(torch.nn.Sequential(torch.nn.Linear(4, 4)), "nf4", torch.bfloat16)
    assert "fp8" in info.value.hint
