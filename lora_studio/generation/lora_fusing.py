"""Fusing LoRAs into the base weights, and re-weighting them, on PEFT's LoRA layers directly
(and on PEFT's LoHa/LoKr layers, which are merged by PEFT itself and get their factors from the file).

This is the one place that touches PEFT internals (diffusers' own ``fuse_lora``/``set_adapters``
walk every module and unfuse by subtraction, which drifts). It is exact and measured (see
tests/generation/test_lora_fusing.py), but it depends on how the pinned ``peft`` lays out a LoRA
layer. :data:`PEFT_INTERNALS` lists everything it uses; tests/generation/test_lora_fusing.py
checks each of them on a real PEFT layer and fails loudly (naming this module) when a new peft
changes them. Update both together with the pin in pyproject.toml.
"""

from __future__ import annotations

from typing import Any

DENOISERS = ("unet", "transformer")
PINNED_PEFT = "0.21.2"  # the version in pyproject.toml whose internals this module was written for

# What this module reads or calls on a PEFT LoRA layer (``peft.tuners.lora.LoraLayer``).
PEFT_INTERNALS: tuple[str, ...] = (
    "lora_A",  # ModuleDict adapter -> down projection (``.weight`` [rank, in, ...])
    "lora_B",  # ModuleDict adapter -> up projection (``.weight`` [out, rank, ...])
    "r",  # dict adapter -> rank
    "scaling",  # dict adapter -> alpha / rank × the weight set with set_scale
    "merged_adapters",  # list of adapter names PEFT's forward treats as merged (skips their branch)
    "disable_adapters",  # property: adapters switched off
    "enable_adapters",  # method(bool)
    "active_adapters",  # property: names in use
    "set_adapter",  # method(list of names)
    "set_scale",  # method(adapter, scale)
    "get_base_layer",  # method: the wrapped nn.Linear / nn.Conv2d
    "merge",  # method(adapter_names=...): PEFT's own merge, for layers that are not plain LoRA
    "lora_variant",  # dict adapter -> DoRA/other variant object (read with a default)
    "lora_bias",  # dict adapter -> bool
    "use_dora",  # dict adapter -> bool
    "fan_in_fan_out",  # bool on Linear layers: weight stored transposed (read with a default)
)

# What this module reads or sets on PEFT's LyCORIS layers (``peft.tuners.lycoris_utils.LycorisLayer``:
# LoHa, LoKr), besides the shared ones above (scaling, merged_adapters, set_adapter, set_scale, merge …).
PEFT_LYCORIS_INTERNALS: tuple[str, ...] = (
    "_available_adapters",  # property: adapter names the layer holds
    "adapter_layer_names",  # names of the ParameterDicts holding each adapter's factors
    "r",  # dict adapter -> rank
    "alpha",  # dict adapter -> alpha (scaling = weight · alpha / r)
    "scaling",  # dict adapter -> current scale
)


def layer_adapters(layer: Any) -> Any:
    """The adapter names a PEFT LoRA or LyCORIS layer holds."""
    lora_a = getattr(layer, "lora_A", None)
    if lora_a is not None:
        return lora_a
    return layer._available_adapters


def put_lycoris_weights(model: Any, adapter: str, modules: list[Any]) -> int:
    """Replace the factors PEFT created for ``adapter`` (LoHa/LoKr layers of ``model``) by the
    file's own (``LycorisModule`` from ``formats.lycoris_keys``), whatever factorisation the file
    uses (full or split Kronecker parts, CP/Tucker), and set each layer's rank and alpha so PEFT's
    ``alpha / r`` is the scale the file asks for. Returns how many layers took weights."""
    import torch

    done = 0
    for module in modules:
        layer = model.get_submodule(module.path)
        names = getattr(layer, "adapter_layer_names", ())
        if adapter not in getattr(layer, "_available_adapters", ()):
            continue
        base = layer.get_base_layer().weight
        for name in names:
            if adapter in getattr(layer, name):
                del getattr(layer, name)[adapter]
        for name, tensor in module.tensors.items():
            if name not in names:
                raise ValueError(f"{module.path}: PEFT's layer has no {name}")
            value = tensor.to(base.device, base.dtype if base.is_floating_point() else torch.float32)
            getattr(layer, name)[adapter] = torch.nn.Parameter(value, requires_grad=False)
        layer.r[adapter] = module.rank
        layer.alpha[adapter] = module.alpha
        layer.scaling[adapter] = module.alpha / module.rank
        done += 1
    return done


def _plain_lora(layer: Any, base: Any, adapters: list[str]) -> bool:
    """Whether ``layer``'s ΔW for ``adapters`` is exactly ``scale · B @ A`` (reshaped to the weight)."""
    import torch

    if getattr(layer, "fan_in_fan_out", False) or getattr(layer, "lora_A", None) is None:
        return False  # LyCORIS layers (LoHa, LoKr) merge through PEFT
    if isinstance(base, torch.nn.modules.conv._ConvNd):
        if base.groups != 1:
            return False
    elif not isinstance(base, torch.nn.Linear):
        return False
    weight = base.weight
    if not weight.is_floating_point():
        return False
    variants = getattr(layer, "lora_variant", {})
    for a in adapters:
        if a in variants or getattr(layer, "lora_bias", {}).get(a) or getattr(layer, "use_dora", {}).get(a):
            return False
        down, up, rank = layer.lora_A[a].weight, layer.lora_B[a].weight, layer.r[a]
        if up.dim() > 2 and any(s != 1 for s in up.shape[2:]):
            return False
        if down.shape[0] != rank or up.shape[1] != rank or up.shape[0] != weight.shape[0]:
            return False
        if down[0].numel() != weight[0].numel() or down.dtype != up.dtype:
            return False
    return True


class _Undo:
    """Undoes ``W += ΔW`` exactly. ``ΔW = Σ scale_i · B_i A_i`` is recomputed from the adapters'
    own LoRA weights (references, not copies: an adapter is never changed or deleted while fused)
    and subtracted, then the elements where rounding made ``(W + ΔW) - ΔW != W`` get their
    recorded original values back. ΔW is computed the same way (same device, dtype, shapes and
    order) both times, so the result is the original bit for bit."""

    def __init__(self, factors: list[tuple[Any, Any, float]], index: Any, values: Any) -> None:
        self.factors, self.index, self.values = factors, index, values

    @property
    def nbytes(self) -> int:
        """What the undo holds beyond the adapters: the rounding fix-ups."""
        return sum(t.numel() * t.element_size() for t in (self.index, self.values))

    @staticmethod
    def _delta(weight: Any, factors: list[tuple[Any, Any, float]]) -> Any:
        import torch

        # float32 for half-precision weights (CPU has no fast half matmul; rounding once is exact
        # enough), the weight's own dtype otherwise.
        dtype = weight.dtype if weight.dtype in (torch.float32, torch.float64) else torch.float32
        out = weight.shape[0]
        downs = [down.reshape(down.shape[0], -1).to(weight.device, dtype) for down, _, _ in factors]
        ups = [up.reshape(out, -1).to(weight.device, dtype) * scale for _, up, scale in factors]
        down = downs[0] if len(downs) == 1 else torch.cat(downs, 0)
        up = ups[0] if len(ups) == 1 else torch.cat(ups, 1)
        return (up @ down).view(weight.shape)

    @classmethod
    def fuse(cls, weight: Any, factors: list[tuple[Any, Any, float]]) -> _Undo:
        """Add ``Σ scale · up @ down`` to ``weight`` in place; return how to undo it."""
        import torch

        delta = cls._delta(weight, factors)
        original = weight.detach().clone()  # one layer at a time, dropped on return
        weight.copy_((weight.to(delta.dtype) + delta).to(weight.dtype))
        back = (weight.to(delta.dtype) - delta).to(weight.dtype)
        wrong = (back != original).view(-1)
        bad = wrong.nonzero().view(-1)
        if bad.numel() * 4 > wrong.numel() // 8:  # dense: a bit per element beats 4-byte indices
            index = _pack_bits(wrong)
        else:
            index = bad.to(torch.int32) if original.numel() < 2**31 else bad
        return cls(factors, index, original.view(-1)[bad].clone())

    def apply(self, weight: Any) -> None:
        import torch

        delta = self._delta(weight, self.factors)
        weight.copy_((weight.to(delta.dtype) - delta).to(weight.dtype))
        if not self.values.numel():
            return
        index = self.index
        if index.dtype == torch.uint8:
            index = _unpack_bits(index, weight.numel()).nonzero().view(-1)
        weight.view(-1)[index.long()] = self.values.to(weight.device)


def _pack_bits(mask: Any) -> Any:
    """A bool vector as uint8 bytes, 8 elements a byte."""
    import torch

    pad = (-mask.numel()) % 8
    bits = torch.cat([mask, mask.new_zeros(pad)]).view(-1, 8).to(torch.uint8)
    return (bits << torch.arange(8, dtype=torch.uint8, device=mask.device)).sum(1, dtype=torch.uint8)


def _unpack_bits(packed: Any, n: int) -> Any:
    import torch

    shifts = torch.arange(8, dtype=torch.uint8, device=packed.device)
    return ((packed[:, None] >> shifts) & 1).view(-1)[:n].bool()


class PeftLayerFuser:
    """The LoRA layers of one pipeline's components, re-weighted and fused in place.

    Unfusing is exact without a copy of each fused weight: ΔW is recomputed from the adapters' own
    weights and subtracted, and the few elements rounding changed get their recorded values back
    (:class:`_Undo`), so the bookkeeping is a small fraction of the model and base outputs never
    drift. Only modules PEFT merges itself (DoRA, LoRA bias, grouped convs …) keep a full copy.
    """

    def __init__(self, pipe: Any, components: tuple[str, ...]) -> None:
        self.pipe = pipe
        self.components = components
        self.fused_state: tuple[tuple[str, float, float], ...] | None = None
        self._undo: dict[tuple[str, str], _Undo] = {}
        self._backups: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._dirty: set[tuple[str, str]] = set()  # modules whose weights differ from the base
        self._fused_layers: dict[tuple[str, str], Any] = {}
        self._layers: list[tuple[tuple[str, str], Any]] | None = None

    def adapters_changed(self) -> None:
        """Call after loading or deleting adapters: the cached layer list is stale."""
        self._layers = None

    def lora_layers(self) -> list[tuple[tuple[str, str], Any]]:
        """Every PEFT layer of the pipeline as ((component, module name), layer); cached until the
        adapters change, so a weight change never walks the whole model."""
        if self._layers is None:
            from peft.tuners.tuners_utils import BaseTunerLayer

            self._layers = [
                ((comp, name), module)
                for comp in self.components
                for name, module in getattr(self.pipe, comp).named_modules()
                if isinstance(module, BaseTunerLayer)
                and (hasattr(module, "lora_A") or hasattr(module, "_available_adapters"))
            ]
        return self._layers

    def keep_adapter_precision(self, adapter: str, dtype: Any) -> int:
        """Put ``adapter``'s LoRA weights back in ``dtype`` where PEFT stored them in a low-precision
        base weight's dtype (it gives a new adapter its base layer's dtype, so on fp8 base weights the
        LoRA became fp8 too, and its forward cannot compute in fp8). Returns the layers changed."""
        import torch

        full = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
        changed = 0
        for _, layer in self.lora_layers():
            if adapter in getattr(layer, "lora_A", {}) and layer.lora_A[adapter].weight.dtype not in full:
                layer.lora_A[adapter].to(dtype)
                layer.lora_B[adapter].to(dtype)
                changed += 1
        return changed

    def _has_nested_layers(self) -> bool:
        from peft.tuners.tuners_utils import BaseTunerLayer

        return any(
            isinstance(getattr(layer, "base_layer", None), BaseTunerLayer) for _, layer in self.lora_layers()
        )

    def count_layers_with(self, adapter: str, components: tuple[str, ...]) -> int:
        """How many layers of ``components`` carry ``adapter`` (matched a module of its file)."""
        return sum(
            1
            for (comp, _), layer in self.lora_layers()
            if comp in components and adapter in layer_adapters(layer)
        )

    def set_weights(self, state: tuple[tuple[str, float, float], ...]) -> None:
        """What ``set_adapters``/``enable_lora``/``disable_lora`` do, on the cached layer list only
        (diffusers walks every module of every component each time)."""
        layers = self.lora_layers()
        if not state:
            for _, layer in layers:
                if not layer.disable_adapters:
                    layer.enable_adapters(False)
            return
        active = [a for a, _, _ in state]
        for (comp, _), layer in layers:
            if layer.disable_adapters:
                layer.enable_adapters(True)
            if list(layer.active_adapters) != active:
                layer.set_adapter(active)
            for adapter, unet_w, te_w in state:
                # The denoiser (SD's UNet, FLUX's transformer) takes the "unet" weight.
                layer.set_scale(adapter, unet_w if comp in DENOISERS else te_w)

    def _backup(self, key: tuple[str, str], base: Any, with_bias: bool = False) -> tuple[Any, Any]:
        import torch

        saved = self._backups.get(key)
        if saved is None or (with_bias and saved[1] is None):
            pin = base.weight.device.type == "cuda"

            def copy(t: Any) -> Any:
                c = t.detach().to("cpu", copy=True)
                return c.pin_memory() if pin and torch.cuda.is_available() else c

            weight = saved[0] if saved is not None else copy(base.weight)
            bias = copy(base.bias) if with_bias and getattr(base, "bias", None) is not None else None
            saved = self._backups[key] = (weight, bias)
        return saved

    def _restore(self, key: tuple[str, str], layer: Any) -> None:
        base = layer.get_base_layer()
        undo = self._undo.pop(key, None)
        if undo is not None:
            undo.apply(base.weight)
        saved = self._backups.get(key)
        if saved is not None and key in self._dirty and undo is None:
            base.weight.copy_(saved[0], non_blocking=True)
            if saved[1] is not None:
                base.bias.copy_(saved[1], non_blocking=True)
        self._dirty.discard(key)

    def bookkeeping_bytes(self) -> int:
        """Bytes held to undo the current fuse (for memory reports and tests)."""
        full = sum(
            t.numel() * t.element_size() for pair in self._backups.values() for t in pair if t is not None
        )
        return full + sum(u.nbytes for u in self._undo.values())

    def fuse(self, state: tuple[tuple[str, float, float], ...]) -> None:
        """Write ``original + Σ scale_i · B_i A_i`` into every layer that carries an active adapter
        (one matmul per module over the concatenated ranks), and mark those layers merged so PEFT's
        forward skips the LoRA branch. Layers fused before but not now get their original back."""
        import torch

        active = [a for a, _, _ in state]
        fused: dict[tuple[str, str], Any] = {}
        if self._fused_layers and self._has_nested_layers():
            # Layers wrapping other adapter layers (a LoRA and a LoHa on one module) share one base
            # weight: undo every fuse in reverse order before writing the new one.
            state_before = self.fused_state
            self.unfuse()
            self.fused_state = state_before
        with torch.no_grad():
            for key, layer in self.lora_layers():
                held = layer_adapters(layer)
                present = [a for a in active if a in held]
                if not present:
                    continue
                contributing = [a for a in present if layer.scaling.get(a, 0) != 0]
                if contributing:
                    self._write_fused(key, layer, contributing)
                elif key in self._dirty:
                    self._restore(key, layer)
                layer.merged_adapters = list(present)
                fused[key] = layer
            for key, layer in self._fused_layers.items():
                if key not in fused:
                    self._restore(key, layer)
                    layer.merged_adapters = []
        self._fused_layers = fused
        self.fused_state = state

    def _write_fused(self, key: tuple[str, str], layer: Any, adapters: list[str]) -> None:
        base = layer.get_base_layer()
        weight = base.weight
        if not _plain_lora(layer, base, adapters):
            # DoRA, LoRA bias, grouped convs, quantized weights …: PEFT's own merge, on top of the
            # restored original (weight and bias are both kept for these).
            self._restore(key, layer)  # first: the copy must be of the unfused weight
            self._backup(key, base, with_bias=True)
            layer.merged_adapters = []
            layer.merge(adapter_names=adapters)
            self._dirty.add(key)
            return
        self._restore(key, layer)  # back to the exact base weight before the new ΔW
        factors = [
            (layer.lora_A[a].weight, layer.lora_B[a].weight, float(layer.scaling[a])) for a in adapters
        ]
        self._undo[key] = _Undo.fuse(weight, factors)
        self._dirty.add(key)

    def unfuse(self) -> None:
        """Undo ``fuse`` (no-op when nothing is fused), restoring the exact original weights."""
        if self.fused_state is None:
            return
        import torch

        with torch.no_grad():
            # innermost last in, first out: a LoRA layer wrapping a LoHa/LoKr layer shares its weight
            for key, layer in reversed(self._fused_layers.items()):
                self._restore(key, layer)
                layer.merged_adapters = []
        self._fused_layers = {}
        self.fused_state = None
