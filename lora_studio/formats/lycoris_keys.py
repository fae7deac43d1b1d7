"""LyCORIS files (LoHa, LoKr, DoRA) <-> PEFT's LoHa/LoKr/DoRA layers.

The file layout is the one LyCORIS' kohya network writes and A1111, ComfyUI and Forge read: kohya
module names (``lora_unet_…``, ``lora_te_…``, see :mod:`lora_keys`) with, per module,

* LoHa (compared against LyCORIS ``lycoris/modules/loha.py``, ``LohaModule.custom_state_dict``):
  ``hada_w1_a`` [out, r], ``hada_w1_b`` [r, in·k·k], ``hada_w2_a``, ``hada_w2_b``, and for
  convolutions in CP/Tucker form ``hada_t1``/``hada_t2`` [r, r, k, k] with ``hada_w?_a`` [r, out]
  and ``hada_w?_b`` [r, in]; ``alpha``. ΔW = (w1_a·w1_b) ⊙ (w2_a·w2_b) · alpha / r, with r the
  first dimension of ``hada_w1_b``.
* LoKr (LyCORIS ``lycoris/modules/lokr.py``, ``LokrModule``): ``lokr_w1`` or ``lokr_w1_a``/
  ``lokr_w1_b``, ``lokr_w2`` or ``lokr_w2_a``/``lokr_w2_b`` (+ ``lokr_t2``), ``alpha``.
  ΔW = w1 ⊗ w2 · scale, with scale = alpha / r where r is the rank of a factorised part, and
  scale = 1 when both parts are full matrices (LyCORIS then stores ``alpha = lora_dim`` and every
  reader ignores it).
* DoRA (LyCORIS ``weight_decompose`` with ``wd_on_output``, as in ``lycoris/modules/locon.py``):
  a LoRA module plus ``dora_scale``, the magnitude of each output row, shaped [out, 1] for Linear
  and [out, 1, 1, 1] for convolutions. PEFT keeps it as ``lora_magnitude_vector`` [out] (Linear)
  or [1, out, 1, 1] (conv); ComfyUI tells the two DoRA axes apart by this shape.

PEFT's LoHa and LoKr tensors have the same orientation as LyCORIS' (PEFT's code is a port of it),
and both scale by alpha / r; the differences handled here are LoKr's full-matrix case and DoRA's
magnitude shape. Torch is imported inside the functions only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lora_studio.core.errors import ModelLoadError
from lora_studio.core.families import ModelFamily

Tensor = Any  # a torch.Tensor

LYCORIS_NETWORK_MODULE = "lycoris.kohya"
LOHA_KEYS = ("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2")
LOKR_KEYS = ("lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2")
_MAGNITUDE = "lora_magnitude_vector"

RankAlphaFor = Callable[[str, str], tuple[int, float]]
"""``rank_alpha_for(component, module_path) -> (rank, alpha)`` as the adapter was configured."""


def algo_of(suffixes: set[str] | list[str]) -> str:
    """``loha``, ``lokr`` or ``lora`` for the tensor names of one module (without the module name)."""
    names = {s.split(".")[0] for s in suffixes}
    if names & set(LOHA_KEYS):
        return "loha"
    if names & set(LOKR_KEYS):
        return "lokr"
    return "lora"


def _group(
    state: Mapping[str, Tensor], sep_after: Callable[[str], tuple[str, str]]
) -> dict[str, dict[str, Tensor]]:
    out: dict[str, dict[str, Tensor]] = {}
    for key, tensor in state.items():
        module, suffix = sep_after(key)
        out.setdefault(module, {})[suffix] = tensor
    return out


def _split_peft(key: str) -> tuple[str, str]:
    """``a.b.hada_w1_a`` -> (``a.b``, ``hada_w1_a``); ``a.b.lora_A.weight`` -> (``a.b``, ``lora_A.weight``)."""
    parts = key.split(".")
    for i, part in enumerate(parts):
        if part in LOHA_KEYS or part in LOKR_KEYS or part in ("lora_A", "lora_B", _MAGNITUDE):
            return ".".join(parts[:i]), ".".join(parts[i:])
    raise ValueError(f"Cannot export tensor {key!r}: it is not a LoRA, LoHa, LoKr or DoRA weight.")


def lokr_scale_is_one(parts: Mapping[str, Any]) -> bool:
    """LoKr modules with both parts as full matrices apply ΔW = w1 ⊗ w2 unscaled."""
    return "lokr_w1" in parts and "lokr_w2" in parts


def peft_to_lycoris(
    component_state_dicts: Mapping[str, Mapping[str, Tensor]],
    *,
    family: ModelFamily | str,
    rank_alpha_for: RankAlphaFor,
    dtype: Any = None,
    unet_config: Mapping[str, Any] | None = None,
) -> dict[str, Tensor]:
    """PEFT LoHa / LoKr / DoRA state dicts (per component, keys as ``get_peft_model_state_dict``
    gives them) as one LyCORIS/kohya state dict (see the module docstring)."""
    import torch

    from lora_studio.formats.lora_keys import kohya_name, peft_to_kohya

    out: dict[str, Tensor] = {}
    for component, sd in component_state_dicts.items():
        if not sd:
            continue
        modules = _group(sd, _split_peft)
        plain: dict[str, Tensor] = {}
        magnitudes: dict[str, Tensor] = {}
        for path, parts in sorted(modules.items()):
            algo = algo_of(list(parts))
            if algo == "lora":
                for suffix, tensor in parts.items():
                    if suffix == _MAGNITUDE:
                        magnitudes[path] = tensor
                    else:
                        plain[f"{path}.{suffix}"] = tensor
                continue
            name = kohya_name(component, path, family, unet_config)
            rank, alpha = rank_alpha_for(component, path)
            target = dtype or next(iter(parts.values())).dtype
            tensors = {k: v.detach().float() for k, v in parts.items()}
            if algo == "lokr" and lokr_scale_is_one(tensors):
                # LyCORIS: both Kronecker parts full -> scale 1 and alpha = lora_dim (ignored by readers).
                tensors["lokr_w1"] = tensors["lokr_w1"] * (alpha / rank)
                alpha = float(rank)
            for suffix, tensor in tensors.items():
                out[f"{name}.{suffix}"] = tensor.to("cpu", target).contiguous()
            out[f"{name}.alpha"] = torch.tensor(float(alpha), dtype=target)
        if plain:
            lora = peft_to_kohya(
                {component: plain},
                family=family,
                alpha_for=lambda comp, path, rank: rank_alpha_for(comp, path)[1],
                dtype=dtype,
                unet_config=unet_config,
            )
            out.update(lora)
        for path, magnitude in magnitudes.items():
            name = kohya_name(component, path, family, unet_config)
            target = dtype or magnitude.dtype
            out[f"{name}.dora_scale"] = dora_scale_from_peft(magnitude).to("cpu", target).contiguous()
    return out


def dora_scale_from_peft(magnitude: Tensor) -> Tensor:
    """PEFT's magnitude ([out] or [1, out, 1, 1]) as LyCORIS' output-axis ``dora_scale``
    ([out, 1] or [out, 1, 1, 1])."""
    m = magnitude.detach()
    if m.dim() == 1:
        return m.reshape(-1, 1)
    return m.reshape(m.numel(), *([1] * (m.dim() - 1)))


def dora_scale_to_peft(scale: Tensor, weight_dim: int) -> Tensor:
    """LyCORIS' output-axis ``dora_scale`` as PEFT's magnitude for a weight of ``weight_dim`` dims."""
    flat = scale.reshape(-1)
    if weight_dim == 2:
        return flat
    return flat.reshape(1, -1, *([1] * (weight_dim - 2)))


@dataclass
class LycorisModule:
    """One LoHa/LoKr module of a file, in PEFT's terms: ``tensors`` are named as PEFT's layer
    attributes (``hada_w1_a`` …); PEFT applies ``alpha / rank`` on top of them."""

    component: str
    path: str
    algo: str
    tensors: dict[str, Tensor] = field(default_factory=dict)
    rank: int = 1
    alpha: float = 1.0


def module_rank_alpha(parts: Mapping[str, Tensor]) -> tuple[int, float]:
    """(rank, alpha) that make PEFT's ``alpha / rank`` the scale A1111/ComfyUI apply to a module."""
    algo = algo_of(list(parts))
    alpha_t = parts.get("alpha")
    if algo == "loha":
        rank = int(parts["hada_w1_b"].shape[0])
    elif lokr_scale_is_one(parts):
        return 1, 1.0
    else:
        found = parts.get("lokr_w1_b", parts.get("lokr_w2_b"))
        rank = int(found.shape[0])
    alpha = float(alpha_t.float().item()) if alpha_t is not None else float(rank)
    return rank, (alpha if alpha != 0 else float(rank))


def lycoris_modules(
    state: Mapping[str, Tensor], resolve: Callable[[str], tuple[str, str]]
) -> list[LycorisModule]:
    """The LoHa/LoKr modules of a LyCORIS state dict; ``resolve`` maps a kohya module name to
    (component, module path). Raises ModelLoadError for a file that mixes LoHa/LoKr with other
    module types or has tensors this reader does not know."""
    grouped = _group(state, lambda key: (key.partition(".")[0], key.partition(".")[2]))
    out: list[LycorisModule] = []
    algos: set[str] = set()
    for name, parts in sorted(grouped.items()):
        algo = algo_of(list(parts))
        algos.add(algo)
        unknown = set(parts) - set(LOHA_KEYS) - set(LOKR_KEYS) - {"alpha"}
        if algo == "lora" or unknown:
            what = sorted(unknown) if unknown else sorted(parts)
            raise ModelLoadError(
                f"This LyCORIS file mixes module types or has tensors LoRA Studio does not read "
                f"(module {name}: {what}).",
                hint="LoHa and LoKr files whose modules are all LoHa or all LoKr are supported.",
            )
        try:
            component, path = resolve(name)
        except ValueError as exc:
            raise ModelLoadError(
                f"Unknown LoRA module name “{name}”.",
                hint="The LoRA was made for a different base model or architecture.",
            ) from exc
        rank, alpha = module_rank_alpha(parts)
        tensors = {k: v for k, v in parts.items() if k != "alpha"}
        out.append(LycorisModule(component, path, algo, tensors, rank, alpha))
    if len(algos) > 1:
        raise ModelLoadError(
            "This LyCORIS file mixes LoHa and LoKr modules, which LoRA Studio cannot load together.",
            hint="Use a file with one module type.",
        )
    return out


def lycoris_delta(parts: Mapping[str, Tensor], shape: tuple[int, ...] | None = None) -> Tensor:
    """ΔW of one LoHa/LoKr module as the readers compute it (float32), reshaped to ``shape`` when
    given (else 2-D [out, in·k·k], or 4-D when the factors carry the kernel)."""
    import torch

    p = {k: v.float() for k, v in parts.items()}
    rank, alpha = module_rank_alpha(parts)
    scale = alpha / rank
    if algo_of(list(parts)) == "loha":
        if "hada_t1" in p:
            one = torch.einsum("i j k l, j r, i p -> p r k l", p["hada_t1"], p["hada_w1_b"], p["hada_w1_a"])
            two = torch.einsum("i j k l, j r, i p -> p r k l", p["hada_t2"], p["hada_w2_b"], p["hada_w2_a"])
            delta = one * two
        else:
            delta = (p["hada_w1_a"] @ p["hada_w1_b"]) * (p["hada_w2_a"] @ p["hada_w2_b"])
    else:
        w1 = p["lokr_w1"] if "lokr_w1" in p else p["lokr_w1_a"] @ p["lokr_w1_b"]
        if "lokr_w2" in p:
            w2 = p["lokr_w2"]
        elif "lokr_t2" in p:
            w2 = torch.einsum("i j k l, j r, i p -> p r k l", p["lokr_t2"], p["lokr_w2_b"], p["lokr_w2_a"])
        else:
            w2 = p["lokr_w2_a"] @ p["lokr_w2_b"]
        if w2.dim() == 4:
            w1 = w1[:, :, None, None]
        delta = torch.kron(w1, w2)
    delta = delta * scale
    return delta.reshape(shape) if shape is not None else delta
