"""The LoRA stack of one cached pipeline: load once, re-weight without reloading, fuse for speed.

- Each file becomes one PEFT adapter named from a hash of its path, size and mtime, so an edited
  file (a new epoch saved over an old one) is loaded again while an unchanged one never is.
- Weights change with ``set_adapters`` only. Adapters that the current request does not use are
  deleted, so switching sets costs the same after 2 or 200 LoRAs were tried (diffusers slows down
  with every inactive adapter it keeps). Recently used state dicts stay in RAM for quick switching.
- When the set and weights are fixed for a whole batch, the adapters are fused into the base
  weights (each step then costs what the base model costs) and unfused before the next change.
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
        # Original weights of every module ever fused, kept in CPU RAM (as A1111 does): unfusing
        # restores them bit-exactly instead of subtracting ΔW, so base outputs never drift.
        self._backups: dict[tuple[str, str], Any] = {}

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
        try:
            # A shallow copy: the converters pop keys from the dict they are given.
            self.pipe.load_lora_weights(dict(state), adapter_name=adapter)
        except (ValueError, RuntimeError, KeyError) as exc:
            self._forget(adapter)
            text = str(exc)
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
                f"“{path.name}” could not be loaded as a LoRA.",
                hint="The file layout is not supported.",
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

    def _forget(self, adapter: str) -> None:
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
        if self._fused_state is not None:
            if fuse and self._fused_state == state:
                return self._partial_warnings(names)  # set_adapters would silently unmerge
            self.unfuse()  # before any load or delete: PEFT would unmerge by subtraction otherwise
        # Drop what this request does not use before loading anything new (memory, and diffusers
        # gets slower with every inactive adapter).
        stale = [name for name in self.loaded if name not in set(names)]
        if stale:
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
            if state:
                self.pipe.enable_lora()
                weights: list[Any] = []
                for adapter, unet_w, te_w in state:
                    comps = self.loaded[adapter].components
                    if unet_w == te_w:
                        weights.append(unet_w)
                    else:
                        weights.append({c: (unet_w if c == "unet" else te_w) for c in comps})
                self.pipe.set_adapters([a for a, _, _ in state], weights)
            else:
                self.pipe.disable_lora()
        self._active = state
        if fuse and state and self._fused_state is None:
            self._backup_weights({a for a, _, _ in state})
            self.pipe.fuse_lora(
                components=list(self.components), lora_scale=1.0, adapter_names=[a for a, _, _ in state]
            )
            self._fused_state = state
        return self._partial_warnings(names)

    def _partial_warnings(self, names: list[str]) -> list[str]:
        return [
            f"LoRA “{lora.path.name}”: only {lora.modules_matched} of {lora.modules_in_file} modules match "
            "this model; the rest are ignored."
            for lora in (self.loaded[n] for n in names if n in self.loaded)
            if lora.partial
        ]

    def _lora_layers(self, adapters: set[str] | None = None) -> list[tuple[tuple[str, str], Any]]:
        out = []
        for comp in self.components:
            for name, module in getattr(self.pipe, comp).named_modules():
                lora_a = getattr(module, "lora_A", None)
                if lora_a is None or not hasattr(module, "get_base_layer"):
                    continue
                if adapters is None or any(a in lora_a for a in adapters):
                    out.append(((comp, name), module.get_base_layer()))
        return out

    def _backup_weights(self, adapters: set[str]) -> None:
        for key, base in self._lora_layers(adapters):
            if key not in self._backups:
                self._backups[key] = base.weight.detach().to("cpu", copy=True)

    def unfuse(self) -> None:
        """Undo ``fuse`` (no-op when nothing is fused), restoring the exact original weights."""
        if self._fused_state is not None:
            self.pipe.unfuse_lora(components=list(self.components))
            import torch

            with torch.no_grad():
                for key, base in self._lora_layers():
                    backup = self._backups.get(key)
                    if backup is not None:
                        base.weight.copy_(backup.to(base.weight.device, base.weight.dtype))
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
        self._active = ()
