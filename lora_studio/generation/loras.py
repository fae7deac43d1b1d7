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
- LyCORIS LoHa/LoKr files (which diffusers cannot load) become PEFT LoHa/LoKr layers holding the
  file's own factors (``_load_lycoris``); they re-weight and fuse like LoRAs.
- Every file is checked before loading: other LyCORIS-only layouts, LoRAs for another base family,
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
from lora_studio.core.families import ModelFamily
from lora_studio.generation.lora_fusing import PeftLayerFuser
from lora_studio.generation.request import LoraSpec

log = logging.getLogger(__name__)

_RAM_CACHE_SIZE = 8  # state dicts kept in memory for fast switching back
COMPONENTS = ("unet", "text_encoder", "text_encoder_2")


@dataclass(frozen=True)
class _FluxState:
    state: dict[str, Any]  # diffusers/PEFT layout for FluxPipeline.load_lora_weights
    modules: int  # model modules it has weights for


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


def check_lora_path(path: str | Path) -> Path:
    """The LoRA file exists and is a file (a folder gets its own message); raise GenerationError."""
    path = Path(path)
    if path.is_dir():
        raise GenerationError(
            f"“{path}” is a folder, not a LoRA file.",
            hint="Give the .safetensors file inside it, or pass the folder with --lora-dir to use <lora:name> tags.",
        )
    if not path.is_file():
        raise GenerationError(f"The LoRA file “{path}” does not exist.")
    return path


def refuse_nonfinite(path: Path) -> None:
    """A LoRA holding NaN/inf weights makes every picture black: refuse it with a message."""
    from lora_studio.formats.safetensors_meta import nonfinite_tensors

    bad = nonfinite_tensors(path)
    if bad:
        raise GenerationError(
            f"“{path.name}” has NaN or infinite weights in {len(bad)} tensor(s) (e.g. {bad[0]}); it would "
            "make black pictures.",
            hint="The training that made it went wrong: use an earlier save of the run.",
        )


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
    if kind.format.is_lycoris_only and kind.format not in (LoraFormat.LOHA, LoraFormat.LOKR):
        raise GenerationError(
            f"“{path.name}” is a LyCORIS {kind.format.value} file, which is not supported yet.",
            hint="Use a LoRA, LoCon, LoHa, LoKr or DoRA file.",
        )
    if kind.format == LoraFormat.CHECKPOINT:
        raise GenerationError(
            f"“{path.name}” is a whole model, not a LoRA.", hint="Choose it as the model instead."
        )
    if not kind.format.is_lora:
        raise GenerationError(f"“{path.name}” does not contain LoRA weights that LoRA Studio recognises.")
    if model_family is not None and kind.family is not None and kind.family != model_family:
        lora_label, model_label = kind.family.label, ModelFamily(model_family).label
        raise GenerationError(
            f"“{path.name}” is {_article(lora_label)} {lora_label} LoRA, but the model is {model_label}.",
            hint=f"Choose {_article(lora_label)} {lora_label} model, or a LoRA trained for {model_label}.",
        )
    return kind


def _article(label: str) -> str:
    """ "an" before names read letter by letter from a vowel sound ("an SDXL LoRA"), else "a"."""
    return "an" if label[:1] in "AEIOU" or label.startswith("SD") else "a"


def _is_kohya(state: dict[str, Any]) -> bool:
    return bool(state) and all(
        k.startswith(("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")) for k in state
    )


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
        # FLUX.1: the transformer and CLIP-L (its T5 never carries a LoRA in FluxPipeline).
        names = ("transformer", "text_encoder") if family == ModelFamily.FLUX else COMPONENTS
        self.components: tuple[str, ...] = tuple(c for c in names if getattr(pipe, c, None) is not None)
        self.loaded: dict[str, LoadedLora] = {}
        self._ram: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._active: tuple[tuple[str, float, float], ...] = ()
        self._fuser = PeftLayerFuser(pipe, self.components)  # the only code that touches PEFT internals

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
        path = check_lora_path(path)
        adapter = adapter_name_for(path)
        if adapter in self.loaded:
            return self.loaded[adapter]
        kind = check_lora_file(path, self.family)
        if adapter not in self._ram:  # (checked once per file version)
            refuse_nonfinite(path)
        state = self._read_state_dict(adapter, path)
        self._fuser.adapters_changed()
        try:
            module_count = self._load_adapter(adapter, state, path) or kind.module_count
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
        vae = getattr(self.pipe, "vae", None)
        if vae is not None:  # the VAE is never stored in low precision: it has the compute dtype
            self._fuser.keep_adapter_precision(adapter, next(vae.parameters()).dtype)
        comps = tuple(
            c
            for c, names in self.pipe.get_list_adapters().items()
            if adapter in names and c in self.components
        )
        matched = self._fuser.count_layers_with(adapter, comps)
        if matched == 0:
            self._forget(adapter)
            raise GenerationError(
                f"None of the {module_count} modules of “{path.name}” match this model.",
                hint="The LoRA was made for a different base model or architecture.",
            )
        loaded = LoadedLora(adapter, path, comps, module_count, matched)
        if loaded.partial:
            log.warning("LoRA %s: only %d of %d modules match the model", path.name, matched, module_count)
        self.loaded[adapter] = loaded
        return loaded

    def _load_adapter(self, adapter: str, state: dict[str, Any], path: Path) -> int | None:
        """``load_lora_weights``, with our own conversion for the kohya files diffusers rejects.
        Returns the number of model modules the file has LoRA weights for when that differs from
        its module names (a FLUX ``qkv`` module is three model modules).

        FLUX.1 LoRAs of every form go through ``flux_lora_keys.read_flux_lora`` first (diffusers'
        own kohya-FLUX conversion assumes the full 3072-wide model and misses files written with
        sd-scripts' ``split_qkv``).

        diffusers 0.42 guesses the text-encoder layout from the keys it produced and fails with
        "Could not automatically infer state dict type" when a kohya LoRA trains only some text
        encoder modules (e.g. q_proj/v_proj without out_proj or the MLP). Such a file is converted
        here to the PEFT layout (alpha/rank folded into B) and loaded again.
        """
        if self.family == ModelFamily.FLUX:
            flux = self._flux_as_diffusers(state, path)
            self.pipe.load_lora_weights(flux.state, adapter_name=adapter)
            return flux.modules
        from lora_studio.formats.lycoris_keys import LOHA_KEYS, LOKR_KEYS

        if any(k.rpartition(".")[2] in LOHA_KEYS + LOKR_KEYS for k in state):
            self._load_lycoris(adapter, state)
            return None
        if _is_kohya(state) and any(k.endswith(".dora_scale") for k in state):
            # diffusers drops kohya/LyCORIS ``dora_scale`` (with a warning) for SD and SDXL:
            # converted here to PEFT's layout with the magnitudes, which diffusers does load.
            self.pipe.load_lora_weights(self._kohya_as_peft(state), adapter_name=adapter)
            return None
        state = self._sgm_as_diffusers_names(state)
        try:
            # A shallow copy: the converters pop keys from the dict they are given.
            self.pipe.load_lora_weights(dict(state), adapter_name=adapter)
        except ValueError as exc:
            if "infer state dict type" not in str(exc) or not _is_kohya(state):
                raise
            self._forget(adapter)  # the UNet part may already be in
            log.info("LoRA %s: loading its text-encoder part through LoRA Studio's converter", adapter)
            self.pipe.load_lora_weights(self._kohya_as_peft(state), adapter_name=adapter)
        return None

    def _flux_as_diffusers(self, state: dict[str, Any], path: Path) -> _FluxState:
        from lora_studio.formats.flux_lora_keys import read_flux_lora
        from lora_studio.formats.safetensors_meta import read_header

        try:
            lora = read_flux_lora(state, read_header(path).metadata)
        except ModelLoadError as exc:
            raise GenerationError(exc.message, hint=exc.hint, details=exc.details) from exc
        if lora.skipped:
            log.warning(
                "LoRA %s: %d T5 text-encoder modules are not applied (FLUX pipelines take LoRAs on the "
                "transformer and CLIP-L only)",
                path.name,
                len(lora.skipped),
            )
        te = getattr(self.pipe, "text_encoder", None)
        wrapper = te is not None and any(n.startswith("text_model.") for n, _ in te.named_modules())
        if te is None:
            lora.text_encoder.clear()
        return _FluxState(lora.to_diffusers_state_dict(text_model_wrapper=wrapper), lora.module_count)

    def _load_lycoris(self, adapter: str, state: dict[str, Any]) -> None:
        """A LoHa/LoKr file (LyCORIS layout) as PEFT LoHa/LoKr layers holding the file's factors
        (diffusers has no loader for these)."""
        from peft import LoHaConfig, LoKrConfig

        from lora_studio.formats.lora_keys import module_resolver
        from lora_studio.formats.lycoris_keys import lycoris_modules
        from lora_studio.generation.lora_fusing import put_lycoris_weights

        names = {c: {n for n, _ in getattr(self.pipe, c).named_modules()} for c in self.components}
        resolve = module_resolver(
            state, module_paths=names, family=self.family, unet_config=dict(self.pipe.unet.config)
        )
        try:
            modules = lycoris_modules(state, resolve)
        except ModelLoadError as exc:
            raise GenerationError(exc.message, hint=exc.hint, details=exc.details) from exc
        for comp in self.components:
            mods = [m for m in modules if m.component == comp and m.path in names[comp]]
            if not mods:
                continue
            make = LoHaConfig if mods[0].algo == "loha" else LoKrConfig
            # rank 1 placeholders: put_lycoris_weights replaces every factor with the file's
            config = make(r=1, alpha=1, target_modules=[m.path for m in mods])
            model = getattr(self.pipe, comp)
            model.add_adapter(config, adapter_name=adapter)
            put_lycoris_weights(model, adapter, mods)

    def _sgm_as_diffusers_names(self, state: dict[str, Any]) -> dict[str, Any]:
        """An SDXL kohya LoRA in the original-layout names (sd-scripts', ours) renamed to the
        diffusers-style kohya names, with this UNet's block numbering: diffusers' own sgm mapping
        guesses the upsampler and resnet-layer slots and misses modules of LoCon files."""
        from lora_studio.formats.lora_keys import is_sgm_unet_name, rename_sdxl_unet_keys

        if not _is_kohya(state) or not any(is_sgm_unet_name(k.partition(".")[0]) for k in state):
            return state
        try:
            return rename_sdxl_unet_keys(state, to="diffusers", unet_config=dict(self.pipe.unet.config))
        except ValueError as exc:
            raise GenerationError(
                "The LoRA's UNet layers do not fit this model's layout.",
                hint="The LoRA was made for a different base model or architecture.",
                details=str(exc),
            ) from exc

    def _kohya_as_peft(self, state: dict[str, Any]) -> dict[str, Any]:
        """A kohya state dict as diffusers' PEFT layout (``<component>.<module>.lora_A.weight`` …,
        and ``….lora_magnitude_vector.weight`` from LyCORIS' output-axis ``dora_scale``)."""
        from lora_studio.formats.lora_keys import kohya_to_peft, module_resolver
        from lora_studio.formats.lycoris_keys import dora_scale_to_peft

        module_paths = {c: [n for n, _ in getattr(self.pipe, c).named_modules()] for c in self.components}
        unet_config = dict(self.pipe.unet.config)
        scales = {k: v for k, v in state.items() if k.endswith(".dora_scale")}
        state = {k: v for k, v in state.items() if k not in scales}
        try:
            peft = kohya_to_peft(
                state, module_paths=module_paths, family=self.family, unet_config=unet_config
            )
        except ModelLoadError as exc:
            raise GenerationError(exc.message, hint=exc.hint, details=exc.details) from exc
        out: dict[str, Any] = {}
        resolve = module_resolver(
            scales, module_paths=module_paths, family=self.family, unet_config=unet_config
        )
        for key, scale in scales.items():
            name = key[: -len(".dora_scale")]
            if scale.dim() >= 2 and scale.shape[0] == 1 and scale.shape[1] != 1:
                raise GenerationError(
                    "This DoRA file keeps its magnitudes per input channel (LyCORIS without "
                    "wd_on_output), which LoRA Studio cannot apply.",
                    hint="Use a DoRA file trained with wd_on_output (LoRA Studio's, or LyCORIS with "
                    "wd_on_output=True).",
                )
            where, path = resolve(name)
            dims = state[f"{name}.lora_down.weight"].dim()
            out[f"{where}.{path}.lora_magnitude_vector.weight"] = dora_scale_to_peft(scale.float(), dims)
        for comp, tensors in peft.state_dicts.items():
            for key, tensor in tensors.items():
                if key.endswith(".lora_B.weight"):
                    module = key[: -len(".lora_B.weight")]
                    tensor = tensor.float() * (peft.alphas[comp][module] / peft.ranks[comp][module])
                out[f"{comp}.{key}"] = tensor
        return out

    def _forget(self, adapter: str) -> None:
        self._fuser.adapters_changed()
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
            check_lora_path(spec.path)
        names = [adapter_name_for(spec.path) for spec in specs]
        state = tuple(
            (name, float(spec.effective_unet), float(spec.effective_te))
            for spec, name in zip(specs, names)
            if spec.effective_unet != 0 or spec.effective_te != 0
        )
        wanted = set(names)
        stale = [name for name in self.loaded if name not in wanted]
        changes_adapters = bool(stale) or any(name not in self.loaded for name in names)
        if self._fuser.fused_state is not None:
            if fuse and self._fuser.fused_state == state:
                return self._partial_warnings(names)
            if not fuse or not state or changes_adapters:
                self.unfuse()  # before any load or delete: PEFT would unmerge by subtraction otherwise
        # Drop what this request does not use before loading anything new (memory, and diffusers
        # gets slower with every inactive adapter).
        if stale:
            self._fuser.adapters_changed()
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
            self._fuser.set_weights(state)
        self._active = state
        if fuse and state:
            self._fuser.fuse(state)
        return self._partial_warnings(names)

    def _partial_warnings(self, names: list[str]) -> list[str]:
        return [
            f"LoRA “{lora.path.name}”: only {lora.modules_matched} of {lora.modules_in_file} modules match "
            "this model; the rest are ignored."
            for lora in (self.loaded[n] for n in names if n in self.loaded)
            if lora.partial
        ]

    def unfuse(self) -> None:
        """Undo a fuse (no-op when nothing is fused), restoring the exact original weights."""
        self._fuser.unfuse()

    @property
    def fused(self) -> bool:
        return self._fuser.fused_state is not None

    def bookkeeping_bytes(self) -> int:
        """Bytes held to undo the current fuse (for memory reports and tests)."""
        return self._fuser.bookkeeping_bytes()

    def clear(self) -> None:
        """Remove every adapter (base model again)."""
        self.unfuse()
        if self.loaded:
            self.pipe.unload_lora_weights()
        self.loaded.clear()
        self._fuser.adapters_changed()
        self._active = ()
