"""The LoRA stack of one cached pipeline: load once, re-weight without reloading, fuse for speed.

- Each file becomes one PEFT adapter named from a hash of its path, size and mtime, so an edited
  file (a new epoch saved over an old one) is loaded again while an unchanged one never is.
- Weights change by setting each PEFT layer's scale (what ``set_adapters`` does, on a cached list of
  the LoRA layers instead of a walk over every module). Adapters that the current request does not use are
  deleted, so switching sets costs the same after 2 or 200 LoRAs were tried (diffusers slows down
  with every inactive adapter it keeps). Recently used state dicts stay in RAM for quick switching.
- When the set and weights are fixed for a whole batch, the adapters are fused into the base
  weights (each step then costs what the base model costs): each LoRA module is written as
  ``W + ΔW`` with ``ΔW = Σ scale_i·B_i A_i`` (one matmul). Unfusing subtracts the same ΔW again
  (recomputed from the LoRA weights, bit for bit the same) and then puts back the few elements that
  rounding changed, which the fuse recorded: the base weights never drift, and the bookkeeping is
  those elements (a few percent of the touched weights) instead of a second copy of the model.
- Every file is checked before loading: LyCORIS-only layouts, LoRAs for another base family,
  corrupt files and LoRAs whose modules do not match the model give a clear error; a partial match
  is reported, never ignored.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lora_studio.core.errors import GenerationError, ModelLoadError
from lora_studio.diffusion.families import ModelFamily
from lora_studio.generation.request import LoraSpec

log = logging.getLogger(__name__)

_RAM_CACHE_SIZE = 8  # state dicts kept in memory for fast switching back


@dataclass(frozen=True)
class LoadedLora:
    """A LoRA file loaded as an adapter into the pipeline."""

    adapter: str
    path: Path
    components: tuple[str, ...]
    modules_in_file: int
    modules_matched: int

    @property
    def partial(self) -> bool:
        return self.modules_matched < self.modules_in_file


def adapter_name_for(path: str | Path) -> str:
    """A stable adapter name for a file version (path + size + mtime)."""
    p = Path(path).resolve()
    st = p.stat()
    digest = hashlib.sha1(f"{p}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
    return f"lora_{digest}"


def check_lora_file(path: str | Path, model_family: ModelFamily | None) -> Any:
    """Check a LoRA file from its header alone; return its ``LoraKind`` or raise GenerationError."""
    from lora_studio.formats.lora_classify import LoraFormat, classify_lora_keys
    from lora_studio.formats.safetensors_meta import read_header

    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise GenerationError(
            f"“{path.name}” is not a .safetensors file.",
            hint="Only .safetensors LoRAs are loaded (pickled .pt/.ckpt files can run code).",
        )
    try:
        header = read_header(path)
    except ModelLoadError as exc:
        raise GenerationError(
            f"The LoRA file “{path.name}” is damaged or not a LoRA: {exc.message}",
            hint="Download or export the file again.",
            details=exc.details,
        ) from exc
    kind = classify_lora_keys(header.shapes)
    if kind.format in (LoraFormat.LOHA, LoraFormat.LOKR):
        label = "LoHa" if kind.format == LoraFormat.LOHA else "LoKr"
        raise GenerationError(
            f"“{path.name}” is a LyCORIS {label} file; {label} is not supported yet.",
            hint="Use a plain LoRA/LoCon file, or convert it to LoRA with LyCORIS' tools.",
        )
    if kind.format.is_lycoris_only:
        raise GenerationError(
            f"“{path.name}” is a LyCORIS {kind.format.value} file, which is not supported yet.",
            hint="Use a plain LoRA/LoCon file.",
        )
    if kind.format == LoraFormat.CHECKPOINT:
        raise GenerationError(
            f"“{path.name}” is a whole model, not a LoRA.", hint="Choose it as the model instead."
        )
    if not kind.format.is_lora:
        raise GenerationError(f"“{path.name}” does not contain LoRA weights that LoRA Studio recognises.")
    if model_family is not None and kind.family is not None and kind.family != model_family:
        raise GenerationError(
            f"“{path.name}” is a {kind.family.label} LoRA, but the model is {ModelFamily(model_family).label}.",
            hint=f"Choose a {kind.family.label} model, or a LoRA trained for {ModelFamily(model_family).label}.",
        )
    return kind


def _is_kohya(state: dict[str, Any]) -> bool:
    return bool(state) and all(
        k.startswith(("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")) for k in state
    )


def _plain_lora(layer: Any, base: Any, adapters: list[str]) -> bool:
    """Whether ``layer``'s ΔW for ``adapters`` is exactly ``scale · B @ A`` (reshaped to the weight)."""
    import torch

    if getattr(layer, "fan_in_fan_out", False):
        return False
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


def count_injected(pipe: Any, adapter: str, components: tuple[str, ...]) -> int:
    """How many modules of the pipeline carry ``adapter`` (i.e. matched a module of the file)."""
    n = 0
    for comp in components:
        model = getattr(pipe, comp, None)
        if model is None:
            continue
        for module in model.modules():
            lora_a = getattr(module, "lora_A", None)
            if lora_a is not None and adapter in lora_a:
                n += 1
    return n


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


class LoraStack:
    """Owns the adapters of one pipeline (see module docstring)."""

    def __init__(self, pipe: Any, family: ModelFamily | None) -> None:
        self.pipe = pipe
        self.family = family
        self.components: tuple[str, ...] = tuple(
            c for c in ("unet", "text_encoder", "text_encoder_2") if getattr(pipe, c, None) is not None
        )
        self.loaded: dict[str, LoadedLora] = {}
        self._ram: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._fused_state: tuple[tuple[str, float, float], ...] | None = None
        self._active: tuple[tuple[str, float, float], ...] = ()
        # How to undo each fused module exactly: the ΔW inputs and the rounding fix-ups (see
        # _Undo). Only modules PEFT merges itself (DoRA, biases …) keep a full copy (_backups).
        self._undo: dict[tuple[str, str], _Undo] = {}
        self._backups: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._dirty: set[tuple[str, str]] = set()  # modules whose weights differ from the base
        self._fused_layers: dict[tuple[str, str], Any] = {}
        self._layers: list[tuple[tuple[str, str], Any]] | None = None

    # -- loading ---------------------------------------------------------------------------------
    def _read_state_dict(self, adapter: str, path: Path) -> dict[str, Any]:
        cached = self._ram.get(adapter)
        if cached is not None:
            self._ram.move_to_end(adapter)
            return cached
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types for corrupt data
            raise GenerationError(
                f"The LoRA file “{path.name}” cannot be read: {exc}", hint="Download or export it again."
            ) from exc
        self._ram[adapter] = state
        while len(self._ram) > _RAM_CACHE_SIZE:
            self._ram.popitem(last=False)
        return state

    def ensure_loaded(self, path: str | Path) -> LoadedLora:
        """Load ``path`` as an adapter unless this version of it is already loaded."""
        path = Path(path)
        if not path.is_file():
            raise GenerationError(f"The LoRA file “{path}” does not exist.")
        adapter = adapter_name_for(path)
        if adapter in self.loaded:
            return self.loaded[adapter]
        kind = check_lora_file(path, self.family)
        state = self._read_state_dict(adapter, path)
        self._layers = None
        try:
            self._load_adapter(adapter, state)
        except GenerationError as exc:
            self._forget(adapter)
            raise GenerationError(
                f"The LoRA “{path.name}” could not be loaded: {exc.message}",
                hint=exc.hint,
                details=exc.details,
            ) from exc
        except Exception as exc:  # diffusers/peft raise many types; never let a raw one through
            self._forget(adapter)
            text = f"{type(exc).__name__}: {exc}"
            if "size mismatch" in text or "shape" in text.lower():
                raise GenerationError(
                    f"“{path.name}” does not fit this model: its layer sizes differ "
                    f"(it was probably trained for another base model than {self._family_label()}).",
                    hint="Choose the base model the LoRA was trained for.",
                    details=text[:2000],
                ) from exc
            if "not found in the base model" in text or "Target modules" in text:
                raise GenerationError(
                    f"None of the {kind.module_count} modules of “{path.name}” match this model.",
                    hint="The LoRA was made for a different base model or architecture.",
                    details=text[:2000],
                ) from exc
            raise GenerationError(
                f"The LoRA “{path.name}” could not be loaded: diffusers does not understand its layout.",
                hint="The file layout is not supported. Re-export it as a kohya or diffusers LoRA.",
                details=text[:2000],
            ) from exc
        comps = tuple(
            c
            for c, names in self.pipe.get_list_adapters().items()
            if adapter in names and c in self.components
        )
        matched = count_injected(self.pipe, adapter, comps)
        if matched == 0:
            self._forget(adapter)
            raise GenerationError(
                f"None of the {kind.module_count} modules of “{path.name}” match this model.",
                hint="The LoRA was made for a different base model or architecture.",
            )
        loaded = LoadedLora(adapter, path, comps, kind.module_count, matched)
        if loaded.partial:
            log.warning(
                "LoRA %s: only %d of %d modules match the model", path.name, matched, kind.module_count
            )
        self.loaded[adapter] = loaded
        return loaded

    def _load_adapter(self, adapter: str, state: dict[str, Any]) -> None:
        """``load_lora_weights``, with our own conversion for the kohya files diffusers rejects.

        diffusers 0.42 guesses the text-encoder layout from the keys it produced and fails with
        "Could not automatically infer state dict type" when a kohya LoRA trains only some text
        encoder modules (e.g. q_proj/v_proj without out_proj or the MLP). Such a file is converted
        here to the PEFT layout (alpha/rank folded into B) and loaded again.
        """
        try:
            # A shallow copy: the converters pop keys from the dict they are given.
            self.pipe.load_lora_weights(dict(state), adapter_name=adapter)
        except ValueError as exc:
            if "infer state dict type" not in str(exc) or not _is_kohya(state):
                raise
            self._forget(adapter)  # the UNet part may already be in
            log.info("LoRA %s: loading its text-encoder part through LoRA Studio's converter", adapter)
            self.pipe.load_lora_weights(self._kohya_as_peft(state), adapter_name=adapter)

    def _kohya_as_peft(self, state: dict[str, Any]) -> dict[str, Any]:
        """A kohya state dict as diffusers' PEFT layout (``<component>.<module>.lora_A.weight`` …)."""
        from lora_studio.formats.lora_keys import kohya_to_peft

        module_paths = {c: [n for n, _ in getattr(self.pipe, c).named_modules()] for c in self.components}
        try:
            peft = kohya_to_peft(state, module_paths=module_paths, family=self.family)
        except ModelLoadError as exc:
            raise GenerationError(exc.message, hint=exc.hint, details=exc.details) from exc
        out: dict[str, Any] = {}
        for comp, tensors in peft.state_dicts.items():
            for key, tensor in tensors.items():
                if key.endswith(".lora_B.weight"):
                    module = key[: -len(".lora_B.weight")]
                    tensor = tensor.float() * (peft.alphas[comp][module] / peft.ranks[comp][module])
                out[f"{comp}.{key}"] = tensor
        return out

    def _forget(self, adapter: str) -> None:
        self._layers = None
        try:
            self.pipe.delete_adapters([adapter])
        except (ValueError, KeyError, AttributeError):
            pass
        self.loaded.pop(adapter, None)

    def _family_label(self) -> str:
        return ModelFamily(self.family).label if self.family else "this model"

    # -- applying --------------------------------------------------------------------------------
    def apply(self, specs: tuple[LoraSpec, ...] | list[LoraSpec], *, fuse: bool = False) -> list[str]:
        """Make exactly ``specs`` (enabled ones) active at their weights; return warnings.

        With ``fuse`` the active adapters are merged into the base weights until the next change.
        A weight change while fused costs one fuse: each fused module is rewritten as
        ``original + ΔW`` from its CPU copy, never unmerged by subtraction.
        """
        specs = [s for s in specs if s.enabled]
        for spec in specs:
            if not Path(spec.path).is_file():
                raise GenerationError(f"The LoRA file “{spec.path}” does not exist.")
        names = [adapter_name_for(spec.path) for spec in specs]
        state = tuple(
            (name, float(spec.effective_unet), float(spec.effective_te))
            for spec, name in zip(specs, names)
            if spec.effective_unet != 0 or spec.effective_te != 0
        )
        wanted = set(names)
        stale = [name for name in self.loaded if name not in wanted]
        changes_adapters = bool(stale) or any(name not in self.loaded for name in names)
        if self._fused_state is not None:
            if fuse and self._fused_state == state:
                return self._partial_warnings(names)
            if not fuse or not state or changes_adapters:
                self.unfuse()  # before any load or delete: PEFT would unmerge by subtraction otherwise
        # Drop what this request does not use before loading anything new (memory, and diffusers
        # gets slower with every inactive adapter).
        if stale:
            self._layers = None
            if len(stale) == len(self.loaded):
                self.pipe.unload_lora_weights()  # drop the PEFT wrappers too: back to base speed
                self.loaded.clear()
            else:
                self.pipe.delete_adapters(stale)
                for name in stale:
                    self.loaded.pop(name, None)
        for spec in specs:
            self.ensure_loaded(spec.path)
        if self.loaded:
            self._set_weights(state)
        self._active = state
        if fuse and state:
            self._fuse(state)
        return self._partial_warnings(names)

    def _partial_warnings(self, names: list[str]) -> list[str]:
        return [
            f"LoRA “{lora.path.name}”: only {lora.modules_matched} of {lora.modules_in_file} modules match "
            "this model; the rest are ignored."
            for lora in (self.loaded[n] for n in names if n in self.loaded)
            if lora.partial
        ]

    def _lora_layers(self) -> list[tuple[tuple[str, str], Any]]:
        """Every PEFT layer of the pipeline as ((component, module name), layer); cached until the
        adapters change, so a weight change never walks the whole model."""
        if self._layers is None:
            from peft.tuners.tuners_utils import BaseTunerLayer

            self._layers = [
                ((comp, name), module)
                for comp in self.components
                for name, module in getattr(self.pipe, comp).named_modules()
                if isinstance(module, BaseTunerLayer) and hasattr(module, "lora_A")
            ]
        return self._layers

    def _set_weights(self, state: tuple[tuple[str, float, float], ...]) -> None:
        """What ``set_adapters``/``enable_lora``/``disable_lora`` do, on the cached layer list only
        (diffusers walks every module of every component each time)."""
        layers = self._lora_layers()
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
                layer.set_scale(adapter, unet_w if comp == "unet" else te_w)

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
        full = sum(t.numel() * t.element_size() for pair in self._backups.values() for t in pair if t is not None)
        return full + sum(u.nbytes for u in self._undo.values())

    def _fuse(self, state: tuple[tuple[str, float, float], ...]) -> None:
        """Write ``original + Σ scale_i · B_i A_i`` into every layer that carries an active adapter
        (one matmul per module over the concatenated ranks), and mark those layers merged so PEFT's
        forward skips the LoRA branch. Layers fused before but not now get their original back."""
        import torch

        active = [a for a, _, _ in state]
        fused: dict[tuple[str, str], Any] = {}
        with torch.no_grad():
            for key, layer in self._lora_layers():
                present = [a for a in active if a in layer.lora_A]
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
        self._fused_state = state

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
        factors = [(layer.lora_A[a].weight, layer.lora_B[a].weight, float(layer.scaling[a])) for a in adapters]
        self._undo[key] = _Undo.fuse(weight, factors)
        self._dirty.add(key)

    def unfuse(self) -> None:
        """Undo ``fuse`` (no-op when nothing is fused), restoring the exact original weights."""
        if self._fused_state is None:
            return
        import torch

        with torch.no_grad():
            for key, layer in self._fused_layers.items():
                self._restore(key, layer)
                layer.merged_adapters = []
        self._fused_layers = {}
        self._fused_state = None

    @property
    def fused(self) -> bool:
        return self._fused_state is not None

    def clear(self) -> None:
        """Remove every adapter (base model again)."""
        self.unfuse()
        if self.loaded:
            self.pipe.unload_lora_weights()
        self.loaded.clear()
        self._layers = None
        self._active = ()
