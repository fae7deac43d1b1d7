"""Fitting a model on a small card: low-precision base weights, block swapping, bytes held.

* ``store_base_weights(module, kind, compute_dtype)`` keeps a frozen model's weights in fp8
  (``float8_e4m3fn``, cast to the compute dtype one layer at a time, see :func:`store_fp8`) or
  quantised by bitsandbytes (8-bit or 4-bit NF4, QLoRA style). LoRA weights stay in fp32.
* :class:`BlockSwapper` keeps N blocks of a model in system memory and moves each to the device
  just before it runs, in the forward pass and again in the backward pass.
* ``held_bytes(module)`` adds up the bytes a model's tensors really hold (quantised storage and its
  scales included): what the engine reports as the model's memory.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

import torch

from lora_studio.diffusion.base_weights import BaseWeights

log = logging.getLogger(__name__)


FP8_DTYPE = torch.float8_e4m3fn
# Layers kept at full precision (regular expressions on module names): normalisations and
# embeddings are tiny and precision-sensitive; the UNet's first/last convolutions and the time
# embedding see every step of every sample.
_KEEP_FULL = ("norm", "embed", "conv_in", "conv_out", "time_emb", "proj_in$", "proj_out$")


def _skip(name: str) -> bool:
    return any(re.search(p, name) for p in _KEEP_FULL)


def store_base_weights(module: torch.nn.Module, kind: BaseWeights | str, compute_dtype: torch.dtype) -> None:
    """Store the frozen weights of ``module`` as ``kind`` (in place, on the module's device).

    bitsandbytes kinds: call before LoRA adapters are added (peft wraps the quantised layers).
    fp8: call after (adapter layers are skipped by name, so their weights are never converted).
    """
    kind = BaseWeights(kind)
    if kind == BaseWeights.FULL:
        return
    if kind == BaseWeights.FP8:
        store_fp8(module, compute_dtype)
        return
    quantize_linears(module, kind, compute_dtype)


class _Fp8Linear(torch.autograd.Function):
    """``linear(x, fp8 weight)`` computed in ``dtype``; only the fp8 weight is kept for the
    backward pass, which casts it again (no compute-dtype copy lives between the passes)."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: Any, dtype: torch.dtype
    ) -> torch.Tensor:
        ctx.save_for_backward(weight)
        ctx.x_dtype, ctx.dtype = x.dtype, dtype
        b = None if bias is None else bias.to(dtype)
        return torch.nn.functional.linear(x.to(dtype), weight.to(dtype), b)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        (weight,) = ctx.saved_tensors
        grad_x = grad.to(ctx.dtype) @ weight.to(ctx.dtype)
        return grad_x.to(ctx.x_dtype), None, None, None


class _Fp8Conv(torch.autograd.Function):
    """``conv2d(x, fp8 weight)`` computed in ``dtype``, the same way as :class:`_Fp8Linear`."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: Any, conv: Any, dtype: torch.dtype
    ) -> Any:
        ctx.save_for_backward(weight)
        ctx.x_dtype, ctx.x_shape, ctx.dtype, ctx.conv = x.dtype, x.shape, dtype, conv
        b = None if bias is None else bias.to(dtype)
        return conv._conv_forward(x.to(dtype), weight.to(dtype), b)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        (weight,) = ctx.saved_tensors
        c = ctx.conv
        grad_x = torch.nn.grad.conv2d_input(  # type: ignore[attr-defined]  # torch.nn.grad is not in the stubs
            ctx.x_shape, weight.to(ctx.dtype), grad.to(ctx.dtype), c.stride, c.padding, c.dilation, c.groups
        )
        return grad_x.to(ctx.x_dtype), None, None, None, None


def store_fp8(module: torch.nn.Module, compute_dtype: torch.dtype) -> int:
    """Keep every frozen Linear / Conv2d weight of ``module`` in float8_e4m3fn and compute each layer
    in ``compute_dtype``. Returns the number of layers converted.

    Our own small version rather than diffusers' layerwise-casting hooks: those swap each layer's
    weight to the compute dtype and back around its forward (made for inference), so under
    gradient checkpointing the recomputed layers see fp8 where the forward saw bf16 and torch
    refuses the backward; and without checkpointing the backward keeps a bf16 copy of every
    Linear weight alive. Here the stored weight never changes dtype, and the backward re-casts it.
    """
    converted = 0
    for name, child in module.named_modules():
        if type(child) not in (torch.nn.Linear, torch.nn.Conv2d) or _skip(name) or ".lora_" in name:
            continue
        if child.weight.requires_grad or getattr(child, "padding_mode", "zeros") != "zeros":
            continue
        child.weight.data = child.weight.data.to(FP8_DTYPE)
        if child.bias is not None:
            child.bias.data = child.bias.data.to(compute_dtype)
        child.forward = _fp8_forward(child, compute_dtype)
        converted += 1
    return converted


def _fp8_forward(layer: torch.nn.Module, dtype: torch.dtype) -> Any:
    if isinstance(layer, torch.nn.Linear):
        return lambda x: _Fp8Linear.apply(x, layer.weight, layer.bias, dtype)
    return lambda x: _Fp8Conv.apply(x, layer.weight, layer.bias, layer, dtype)


def quantize_linears(module: torch.nn.Module, kind: BaseWeights, compute_dtype: torch.dtype) -> int:
    """Replace every ``nn.Linear`` of an already loaded model by its bitsandbytes counterpart.

    Our own conversion because diffusers' ``BitsAndBytesConfig`` path refuses to run without a GPU
    and only applies while ``from_pretrained`` reads a diffusers folder; our models also come from
    single-file checkpoints. bitsandbytes itself quantises on CPU and CUDA. Returns the number of
    layers converted.
    """
    try:
        import bitsandbytes as bnb
    except ImportError as exc:  # not installed on macOS / ARM Linux (see pyproject.toml)
        from lora_studio.core.errors import ConfigError

        raise ConfigError(
            "8-bit and 4-bit model weights need the bitsandbytes library, which is not available "
            "on this computer.",
            hint="Choose fp8 model weights instead: they save about as much memory as 8-bit.",
        ) from exc

    replaced = 0
    for parent_name, parent in list(module.named_modules()):
        for child_name, child in list(parent.named_children()):
            full = f"{parent_name}.{child_name}" if parent_name else child_name
            if type(child) is not torch.nn.Linear or _skip(full):
                continue
            device = child.weight.device
            weight = child.weight.data.to("cpu", torch.float32 if kind == BaseWeights.INT8 else compute_dtype)
            if kind == BaseWeights.NF4:
                new: torch.nn.Module = bnb.nn.Linear4bit(
                    child.in_features,
                    child.out_features,
                    bias=child.bias is not None,
                    compute_dtype=compute_dtype,
                    quant_type="nf4",
                    device="meta",
                )
                new.weight = bnb.nn.Params4bit(weight, requires_grad=False, quant_type="nf4")
            else:
                new = bnb.nn.Linear8bitLt(
                    child.in_features,
                    child.out_features,
                    bias=child.bias is not None,
                    has_fp16_weights=False,
                    device="meta",
                )
                new.weight = bnb.nn.Int8Params(weight, requires_grad=False, has_fp16_weights=False)
            if child.bias is not None:
                new.bias = torch.nn.Parameter(child.bias.data.to(compute_dtype), requires_grad=False)
            new.requires_grad_(False)
            setattr(parent, child_name, new.to(device))  # bitsandbytes quantises on this move
            replaced += 1
    return replaced


def base_weight_dtypes(module: torch.nn.Module) -> dict[torch.dtype, int]:
    """How many frozen parameter elements are stored in each dtype (for reports and tests)."""
    out: dict[torch.dtype, int] = {}
    for p in module.parameters():
        if not p.requires_grad:
            out[p.dtype] = out.get(p.dtype, 0) + p.numel()
    return out


def tensor_bytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def held_bytes(module: torch.nn.Module, *, device_type: str | None = None) -> int:
    """Bytes held by the parameters and buffers of ``module`` (each storage counted once), on
    ``device_type`` if given. Quantised weights count their packed storage and their scales."""
    return storage_bytes(module_tensors(module), device_type=device_type)


def storage_bytes(tensors: Iterable[torch.Tensor | None], *, device_type: str | None = None) -> int:
    """Bytes of the distinct storages behind ``tensors`` (views and shared weights counted once)."""
    seen: set[tuple[str, int]] = set()
    total = 0
    for t in tensors:
        if t is None or t.device.type == "meta" or not t.numel():
            continue
        if device_type is not None and t.device.type != device_type:
            continue
        storage = t.untyped_storage()
        key = (str(t.device), storage.data_ptr())
        if key not in seen:
            seen.add(key)
            total += storage.nbytes()
    return total


def module_tensors(module: torch.nn.Module) -> Iterable[torch.Tensor]:
    """Every tensor a module holds: parameters (with quantisation scales) and buffers."""
    for p in module.parameters():
        yield p.data
        state = getattr(p, "quant_state", None)  # bitsandbytes 4-bit: absmax (+ nested scales)
        if state is not None:
            yield from _quant_state_tensors(state)
        scb = getattr(p, "SCB", None)  # bitsandbytes 8-bit: per-row scales
        if isinstance(scb, torch.Tensor):
            yield scb
    yield from module.buffers()


def _quant_state_tensors(state: Any) -> Iterable[torch.Tensor]:
    for name in ("absmax", "code", "offset"):
        t = getattr(state, name, None)
        if isinstance(t, torch.Tensor):
            yield t
    inner = getattr(state, "state2", None)
    if inner is not None:
        yield from _quant_state_tensors(inner)


# -- block swapping ------------------------------------------------------------------------------
def swappable_blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The blocks of a model that block swapping moves, in the order they run.

    SD/SDXL UNets: every transformer block (``Transformer2DModel``: attention and feed-forward,
    most of an SDXL UNet's weights). FLUX transformers: the double- then the single-stream blocks.
    """
    double = getattr(model, "transformer_blocks", None)
    single = getattr(model, "single_transformer_blocks", None)
    if isinstance(double, torch.nn.ModuleList) and isinstance(single, torch.nn.ModuleList):
        return [*double, *single]
    from diffusers.models.transformers.transformer_2d import Transformer2DModel

    return [m for m in model.modules() if isinstance(m, Transformer2DModel)]


class BlockSwapper:
    """Keep the frozen weights of ``blocks`` in system memory; each block's weights go to
    ``device`` only while the block runs.

    Each swapped block runs under activation checkpointing: the forward pass keeps none of the
    block's device weights for the backward pass; the backward pass runs the block again, which
    moves its weights in once more and out when that recomputation ends. So at most one swapped
    block (plus the backward's recomputed tensors of that block) is on the device at a time, and
    the results are the same as without swapping (same operations; RNG replayed by the checkpoint).
    Trainable (LoRA) parameters stay on the device: the optimizer owns them.

    On CUDA the resting copies are pinned, so the copies to the card are asynchronous and overlap
    with the computation queued before them.
    """

    def __init__(self, blocks: list[torch.nn.Module], device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.blocks = blocks
        self.onloads = 0  # how many times a block's weights were moved to the device
        self._home: list[list[tuple[torch.nn.Parameter | None, str, torch.nn.Module, torch.Tensor]]] = []
        self._forwards: list[Any] = []
        pin = self.device.type == "cuda"
        for block in blocks:
            entries: list[tuple[torch.nn.Parameter | None, str, torch.nn.Module, torch.Tensor]] = []
            for mod in block.modules():
                for name, p in list(mod.named_parameters(recurse=False)):
                    if p.requires_grad:
                        continue
                    home = p.data.to("cpu", copy=True)
                    if pin:
                        home = home.pin_memory()
                    p.data = home
                    entries.append((p, name, mod, home))
                for name, b in list(mod.named_buffers(recurse=False)):
                    if b is None:
                        continue
                    home = b.to("cpu", copy=True)
                    mod._buffers[name] = home
                    entries.append((None, name, mod, home))
            self._home.append(entries)
            self._forwards.append(block.forward)
            block.forward = self._wrapped(len(self._home) - 1)

    def _wrapped(self, index: int) -> Any:
        from torch.utils.checkpoint import checkpoint

        inner = self._forwards[index]

        def run(*args: Any, **kwargs: Any) -> Any:
            self.onload(index)
            try:
                return inner(*args, **kwargs)
            finally:
                self.offload(index)

        def forward(*args: Any, **kwargs: Any) -> Any:
            if torch.is_grad_enabled():
                return checkpoint(run, *args, use_reentrant=False, **kwargs)
            return run(*args, **kwargs)

        return forward

    def onload(self, index: int) -> None:
        nb = self.device.type == "cuda"
        for p, name, mod, home in self._home[index]:
            moved = home.to(self.device, non_blocking=nb, copy=True)
            if p is not None:
                p.data = moved
            else:
                mod._buffers[name] = moved
        self.onloads += 1

    def offload(self, index: int) -> None:
        # The weights are frozen, so nothing is copied back: the resting copy is still exact.
        for p, name, mod, home in self._home[index]:
            if p is not None:
                p.data = home
            else:
                mod._buffers[name] = home

    def is_offloaded(self, index: int) -> bool:
        """Whether block ``index`` is in system memory now (every tensor at its home copy)."""
        return all(
            _current(p, name, mod).data_ptr() == home.data_ptr()
            for p, name, mod, home in self._home[index]
        )

    def remove(self) -> None:
        """Put every block on the device for good and restore its own forward."""
        for i, block in enumerate(self.blocks):
            self.onload(i)
            block.forward = self._forwards[i]
        self._home = []


def swap_blocks(model: torch.nn.Module, count: int, device: torch.device | str) -> BlockSwapper | None:
    """Swap the first ``count`` blocks of ``model`` (see :func:`swappable_blocks`); None when 0."""
    if count <= 0:
        return None
    blocks = swappable_blocks(model)
    return BlockSwapper(blocks[: min(count, len(blocks))], device)


def _current(param: torch.nn.Parameter | None, name: str, module: torch.nn.Module) -> torch.Tensor:
    """The tensor a swapped entry holds now: a parameter's data, or the module's buffer."""
    if param is not None:
        return param.data
    buffer = module._buffers[name]
    assert buffer is not None  # None buffers are never swapped
    return buffer
