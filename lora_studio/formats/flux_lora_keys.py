"""FLUX.1 LoRA tensors: kohya's FLUX form <-> diffusers/PEFT, and reading every form people share.

**kohya's FLUX form** (sd-scripts ``networks/lora_flux.py``; what ComfyUI, Forge and diffusers read)
names modules after the original Black Forest Labs model: ``lora_unet_double_blocks_N_img_attn_qkv``,
``…_img_attn_proj``, ``…_img_mlp_0``/``_2``, ``…_img_mod_lin`` and the ``txt_`` twins,
``lora_unet_single_blocks_N_linear1``/``linear2``/``modulation_lin``, and CLIP-L as
``lora_te1_text_model_encoder_layers_N_…``; tensors ``.lora_down.weight``, ``.lora_up.weight`` and a
scalar ``.alpha`` (strength ``alpha / rank``, rank = ``lora_down.shape[0]``).

**Fused modules.** The BFL model computes q, k and v with one ``qkv`` linear, and a single block's
attention q/k/v *and* MLP input with one ``linear1``; diffusers (and so PEFT training) splits these
into ``to_q``/``to_k``/``to_v`` (``add_q_proj``… for the text stream) and ``proj_mlp``. Exporting
joins the parts into one LoRA module without changing the result. For parts ``i`` with down
``A_i`` (``r_i × in``), up ``B_i`` (``out_i × r_i``) and strength ``s_i = α_i / r_i``, the fused
module's weight change must be the parts' changes stacked by rows::

    ΔW = [s_1 B_1 A_1; s_2 B_2 A_2; …]          (Σ out_i × in)

With ``R = Σ r_i``, ``down = [A_1; A_2; …]`` (``R × in``), ``up = blockdiag(c_1 B_1, c_2 B_2, …)``
(``Σ out_i × R``) and ``alpha = s · R``, kohya's rule gives ``(alpha / R) · up @ down =
s · [c_1 B_1 A_1; …]``, equal to ΔW when ``c_i = s_i / s``. We take ``s`` from the first part, so
with one alpha and rank for the whole LoRA (the usual case) every ``c_i`` is 1 and the tensors are
copied bit for bit. A part that was not trained adds no rank and leaves its rows zero. This is not
sd-scripts' ``split_qkv`` export, which keeps the per-part ``alpha`` while the rank triples, so other
tools apply it at 1/3 (1/4 for ``linear1``) of the trained strength.

**Reading** (``read_flux_lora``) accepts kohya's form (also files sd-scripts wrote with
``split_qkv``, whose trained strength is restored, and CLIP names without ``text_model_``), the
diffusers/PEFT form (``transformer.<module>.lora_A.weight``, optional ``.alpha``), ai-toolkit's
BFL-named form (``diffusion_model.double_blocks.…lora_A/lora_B``) and OneTrainer's
(``lora_transformer_<module with _>.lora_down.weight``). Each becomes one :class:`FluxLora`: every
module in diffusers naming with its down, up and alpha. Splitting a fused module back is exact too:
a block-diagonal up gives each part its own rank block; any other up gives each part the whole down
and its rows of up.

Torch-free at import; functions operate on the tensors passed in.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lora_studio.core.errors import ModelLoadError
from lora_studio.core.families import ModelFamily
from lora_studio.formats.lora_classify import is_flux_lora_keys, strip_flux_prefix
from lora_studio.formats.lora_keys import PeftLora, kohya_name, parse_kohya_name

Tensor = Any  # a torch.Tensor (torch is imported inside the functions)
DType = Any

__all__ = [
    "FLUX_MLP_RATIO",
    "FluxAlphaFor",
    "FluxLora",
    "LoraPair",
    "bfl_to_diffusers",
    "diffusers_to_bfl",
    "flux_peft_to_kohya",
    "is_flux_lora_keys",
    "load_flux_lora",
    "read_flux_lora",
    "save_flux_kohya_lora",
]

FLUX_MLP_RATIO = 4  # a FLUX block's MLP is 4 × the hidden size (sizes proj_mlp when it has no LoRA)

FluxAlphaFor = Callable[[str, str, int], float]
"""``alpha_for(component, module_path, rank) -> alpha``; component is "transformer" or "text_encoder"."""


def _layout_templates() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]], dict[str, str], str]:
    """The Linear modules of ``flux_layout``'s BFL <-> diffusers table (the one table the loader also
    uses), as names inside a double block, inside a single block and outside the blocks, plus the
    one module whose rows BFL orders differently (the final modulation: shift/scale swapped)."""
    from lora_studio.formats.flux_layout import FluxDims, bfl_modules

    double: dict[str, tuple[str, ...]] = {}
    single: dict[str, tuple[str, ...]] = {}
    top: dict[str, str] = {}
    swapped = ""
    for bfl, segments in bfl_modules(FluxDims(1, 1, 2, 8, True)).items():
        if bfl.endswith(("query_norm", "key_norm")):
            continue  # RMSNorm scales, not Linear layers: no LoRA
        names = tuple(dict.fromkeys(name for name, _start, _stop in segments))
        if any(start is not None for _name, start, _stop in segments):
            swapped = names[0]
        if bfl.startswith("double_blocks.0."):
            double[bfl.removeprefix("double_blocks.0.")] = tuple(
                n.removeprefix("transformer_blocks.0.") for n in names
            )
        elif bfl.startswith("single_blocks.0."):
            single[bfl.removeprefix("single_blocks.0.")] = tuple(
                n.removeprefix("single_transformer_blocks.0.") for n in names
            )
        else:
            top[bfl] = names[0]
    return double, single, top, swapped


# BFL name inside a double block -> diffusers path(s) inside ``transformer_blocks.N`` (several for
# a fused module, in row order); the same for single blocks; top-level BFL -> diffusers names.
_DOUBLE, _SINGLE, _TOP, _SWAPPED = _layout_templates()
_DOUBLE_INV = {d: (b, i, len(ds)) for b, ds in _DOUBLE.items() for i, d in enumerate(ds)}
_SINGLE_INV = {d: (b, i, len(ds)) for b, ds in _SINGLE.items() for i, d in enumerate(ds)}
_TOP_INV = {d: b for b, d in _TOP.items()}
_BLOCK = re.compile(
    r"^(double_blocks|single_blocks|transformer_blocks|single_transformer_blocks)[._](\d+)[._](.+)$"
)
# kohya/OneTrainer names have "_" for "."; the module tails are a fixed set, so they map back exactly.
_UNDERSCORED_BFL = {k.replace(".", "_"): k for k in (*_DOUBLE, *_SINGLE, *_TOP)}
_DIFFUSERS_DOUBLE = {d for ds in _DOUBLE.values() for d in ds}
_DIFFUSERS_SINGLE = {d for ds in _SINGLE.values() for d in ds}
_UNDERSCORED_DIFFUSERS = {
    d.replace(".", "_"): d for d in (*_DIFFUSERS_DOUBLE, *_DIFFUSERS_SINGLE, *_TOP.values())
}
_DIFFUSERS_TOP = set(_TOP.values())
_TRANSFORMER_STARTS = ("transformer_blocks.", "single_transformer_blocks.", *(t for t in _DIFFUSERS_TOP))
_BFL_STARTS = (
    "double_blocks.",
    "single_blocks.",
    *(t.split(".")[0] + "." for t in _TOP),
    "img_in.",
    "txt_in.",
)
_KOHYA_TE_PREFIXES = ("lora_te1_", "lora_te_")
_T5_PREFIXES = (
    "lora_te2_",
    "lora_te3_",
)  # sd-scripts' T5-XXL LoRA (not applied: FluxPipeline has no T5 LoRA)


def bfl_to_diffusers(path: str) -> tuple[str, ...]:
    """The diffusers module path(s) a BFL-layout module becomes (several for a fused one).

    >>> bfl_to_diffusers("double_blocks.3.img_attn.qkv")
    ('transformer_blocks.3.attn.to_q', 'transformer_blocks.3.attn.to_k', 'transformer_blocks.3.attn.to_v')
    >>> bfl_to_diffusers("single_blocks.0.linear2")
    ('single_transformer_blocks.0.proj_out',)
    """
    m = _BLOCK.match(path)
    if m and m.group(1) in ("double_blocks", "single_blocks"):
        table, block = (
            (_DOUBLE, "transformer_blocks")
            if m.group(1) == "double_blocks"
            else (_SINGLE, "single_transformer_blocks")
        )
        tail = _UNDERSCORED_BFL.get(m.group(3), m.group(3))
        if tail in table:
            return tuple(f"{block}.{m.group(2)}.{d}" for d in table[tail])
    tail = _UNDERSCORED_BFL.get(path, path)
    if tail in _TOP:
        return (_TOP[tail],)
    raise ValueError(f"{path!r} is not a FLUX module with LoRA weights")


def diffusers_to_bfl(path: str) -> tuple[str, int, int]:
    """``(BFL path, index of this part, number of parts)`` for a diffusers FLUX module path.

    >>> diffusers_to_bfl("single_transformer_blocks.2.proj_mlp")
    ('single_blocks.2.linear1', 3, 4)
    """
    m = _BLOCK.match(path)
    if m and m.group(1) in ("transformer_blocks", "single_transformer_blocks"):
        table, block = (
            (_DOUBLE_INV, "double_blocks")
            if m.group(1) == "transformer_blocks"
            else (_SINGLE_INV, "single_blocks")
        )
        if m.group(3) in table:
            bfl, index, count = table[m.group(3)]
            return f"{block}.{m.group(2)}.{bfl}", index, count
    if path in _TOP_INV:
        return _TOP_INV[path], 0, 1
    raise ValueError(f"{path!r} is not a FLUX transformer module that kohya's FLUX form can name")


def _diffusers_from_underscored(body: str) -> str:
    """``single_transformer_blocks_0_attn_to_q`` -> ``single_transformer_blocks.0.attn.to_q``."""
    m = _BLOCK.match(body)
    if m and m.group(1) in ("transformer_blocks", "single_transformer_blocks"):
        tail = _UNDERSCORED_DIFFUSERS.get(m.group(3))
        if tail is not None:
            return f"{m.group(1)}.{m.group(2)}.{tail}"
    if body in _UNDERSCORED_DIFFUSERS:
        return _UNDERSCORED_DIFFUSERS[body]
    raise ValueError(f"{body!r} is not a FLUX transformer module")


@dataclass(frozen=True)
class LoraPair:
    """One module's LoRA: ``ΔW = (alpha / rank) · up @ down``."""

    down: Tensor
    up: Tensor
    alpha: float

    @property
    def rank(self) -> int:
        return int(self.down.shape[0])

    @property
    def scale(self) -> float:
        return self.alpha / self.rank if self.rank else 0.0

    def delta(self) -> Tensor:
        """``ΔW`` in float32 (for tests and merging)."""
        return (self.up.float() @ self.down.float()) * self.scale


@dataclass
class FluxLora:
    """A FLUX LoRA in diffusers naming, whatever form the file had.

    ``transformer`` maps ``FluxTransformer2DModel`` module paths, ``text_encoder`` CLIP-L module
    paths without the ``text_model.`` wrapper (``encoder.layers.0.self_attn.q_proj``), each to a
    :class:`LoraPair`. ``skipped`` lists modules of the file that FLUX generation cannot apply
    (T5-XXL LoRA modules); ``source_format`` says which form was read.
    """

    transformer: dict[str, LoraPair] = field(default_factory=dict)
    text_encoder: dict[str, LoraPair] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    source_format: str = ""

    @property
    def module_count(self) -> int:
        return len(self.transformer) + len(self.text_encoder)

    def components(self) -> dict[str, dict[str, LoraPair]]:
        return {
            c: m for c, m in (("transformer", self.transformer), ("text_encoder", self.text_encoder)) if m
        }

    def to_diffusers_state_dict(self, *, text_model_wrapper: bool = False) -> dict[str, Tensor]:
        """``transformer.<module>.lora_A.weight`` / ``lora_B.weight`` (and ``text_encoder.…``) with each
        module's ``alpha / rank`` folded into ``lora_B``: what ``FluxPipeline.load_lora_weights`` takes
        (it treats a file without alphas as strength 1). ``text_model_wrapper`` puts ``text_model.``
        before CLIP paths, for transformers versions whose ``CLIPTextModel`` still has it."""
        out: dict[str, Tensor] = {}
        for comp, modules in self.components().items():
            for path, pair in sorted(modules.items()):
                if comp == "text_encoder" and text_model_wrapper:
                    path = "text_model." + path
                up = pair.up if pair.scale == 1 else (pair.up.float() * pair.scale).to(pair.up.dtype)
                out[f"{comp}.{path}.lora_A.weight"] = pair.down
                out[f"{comp}.{path}.lora_B.weight"] = up
        return out

    def to_peft(self) -> PeftLora:
        """The same LoRA as :class:`~lora_studio.formats.lora_keys.PeftLora` (components
        "transformer"/"text_encoder"), e.g. to resume training from a file."""
        result = PeftLora()
        for comp, modules in self.components().items():
            sd, alphas, ranks = {}, {}, {}
            for path, pair in modules.items():
                sd[f"{path}.lora_A.weight"] = pair.down
                sd[f"{path}.lora_B.weight"] = pair.up
                alphas[path], ranks[path] = float(pair.alpha), pair.rank
            result.state_dicts[comp], result.alphas[comp], result.ranks[comp] = sd, alphas, ranks
        return result


# --- export ---------------------------------------------------------------------------------------


def _strip_peft_prefix(key: str, component: str) -> str:
    for prefix in ("base_model.model.", f"{component}."):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key


def _peft_pairs(state_dict: Mapping[str, Tensor], component: str) -> dict[str, dict[str, Tensor]]:
    pairs: dict[str, dict[str, Tensor]] = {}
    for key, tensor in state_dict.items():
        key = _strip_peft_prefix(key, component)
        parts = key.split(".")
        for i, part in enumerate(parts):
            if part in ("lora_A", "lora_B") and parts[-1] == "weight" and len(parts) - i <= 3:
                pairs.setdefault(".".join(parts[:i]), {})[part[-1]] = tensor
                break
        else:
            raise ValueError(
                f"Cannot export tensor {key!r}: only plain LoRA weights (lora_A/lora_B) can be written in "
                "kohya's FLUX form (no DoRA magnitudes, LoRA biases or other adapter types)."
            )
    for module, ab in pairs.items():
        if set(ab) != {"A", "B"}:
            raise ValueError(f"{component}: module {module!r} is missing lora_A or lora_B")
    return pairs


def _alpha_getter(alpha_for: FluxAlphaFor | float | None) -> FluxAlphaFor:
    if alpha_for is None:
        return lambda _c, _m, rank: float(rank)
    if isinstance(alpha_for, (int, float)):
        value = float(alpha_for)
        return lambda _c, _m, _r: value
    return alpha_for


def _fuse_parts(
    parts: list[LoraPair | None], dims: list[int], dtype: DType | None
) -> tuple[Tensor, Tensor, float]:
    """One LoRA module equal to the row-stacked parts (see the module docstring for the math)."""
    import torch

    present = [p for p in parts if p is not None]
    first = present[0]
    scale = first.scale
    target = dtype or first.down.dtype
    down = torch.cat([p.down.detach().to("cpu", target) for p in present], 0)
    total_rank = int(down.shape[0])
    up = torch.zeros(sum(dims), total_rank, dtype=target)
    row = col = 0
    for part, rows in zip(parts, dims):
        if part is not None:
            block = part.up.detach().to("cpu")
            if part.scale != scale:
                block = block.float() * (part.scale / scale)
            up[row : row + rows, col : col + part.rank] = block.to(target)
            col += part.rank
        row += rows
    return down, up, scale * total_rank


def flux_peft_to_kohya(
    state_dict: Mapping[str, Tensor],
    *,
    text_encoder_state_dict: Mapping[str, Tensor] | None = None,
    alpha_for: FluxAlphaFor | float | None = None,
    dtype: DType | None = None,
    mlp_ratio: int = FLUX_MLP_RATIO,
) -> dict[str, Tensor]:
    """A FLUX transformer's PEFT LoRA (keys as ``get_peft_model_state_dict`` gives them, with or
    without a ``transformer.`` prefix) and optionally CLIP-L's, in kohya's FLUX form.

    ``alpha_for(component, module_path, rank)`` gives each module's trained alpha ("transformer" or
    "text_encoder"); a number is one alpha for all; ``None`` means alpha = rank. ``to_q``/``to_k``/
    ``to_v`` (``add_*_proj``) become one ``…_attn_qkv`` module and a single block's q/k/v/``proj_mlp``
    one ``…_linear1`` module, exactly (module docstring); their ``alpha`` is ``strength × fused rank``.
    ``mlp_ratio`` sizes the ``proj_mlp`` rows of ``linear1`` when that part has no LoRA. All tensors
    are cast to ``dtype`` when given.
    """
    import torch

    alpha = _alpha_getter(alpha_for)
    out: dict[str, Tensor] = {}

    def put(name: str, down: Tensor, up: Tensor, value: float, like: Tensor) -> None:
        if f"{name}.lora_down.weight" in out:
            raise ValueError(f"two modules map to the same kohya name {name!r}")
        target = dtype or like.dtype
        out[f"{name}.lora_down.weight"] = down.detach().to("cpu", target).contiguous()
        out[f"{name}.lora_up.weight"] = up.detach().to("cpu", target).contiguous()
        out[f"{name}.alpha"] = torch.tensor(float(value), dtype=target)

    fused: dict[str, list[tuple[int, int, str, LoraPair]]] = {}
    for module, ab in sorted(_peft_pairs(state_dict, "transformer").items()):
        down, up = ab["A"], ab["B"]
        rank = int(down.shape[0])
        if up.shape[1] != rank:
            raise ValueError(f"transformer: {module!r} has mismatched LoRA ranks")
        pair = LoraPair(down, up, float(alpha("transformer", module, rank)))
        bfl, index, count = diffusers_to_bfl(module)
        name = "lora_unet_" + bfl.replace(".", "_")
        if count == 1:
            if module == _SWAPPED:
                up = _swap_halves(up)
            put(name, down, up, pair.alpha, down)
        else:
            fused.setdefault(name, []).append((index, count, module, pair))
    for name, found in fused.items():
        count = found[0][1]
        parts: list[LoraPair | None] = [None] * count
        for index, _, _, pair in found:
            parts[index] = pair
        hidden = int(found[0][3].down.shape[1])  # q/k/v (and linear1) take the hidden state
        dims = [int(p.up.shape[0]) if p is not None else hidden for p in parts]
        if count == 4 and parts[3] is None:
            dims[3] = hidden * mlp_ratio
        down, up, value = _fuse_parts(parts, dims, dtype)
        put(name, down, up, value, found[0][3].down)
    for module, ab in sorted(_peft_pairs(text_encoder_state_dict or {}, "text_encoder").items()):
        down, up = ab["A"], ab["B"]
        rank = int(down.shape[0])
        if up.shape[1] != rank:
            raise ValueError(f"text_encoder: {module!r} has mismatched LoRA ranks")
        name = kohya_name("text_encoder", module, ModelFamily.FLUX)
        put(name, down, up, float(alpha("text_encoder", module, rank)), down)
    return out


def _swap_halves(up: Tensor) -> Tensor:
    """Rows (a; b) -> (b; a): diffusers' norm_out and BFL's final modulation order them oppositely."""
    import torch

    first, second = up.chunk(2, dim=0)
    return torch.cat([second, first], 0)


def save_flux_kohya_lora(
    path: str | os.PathLike[str],
    state_dict: Mapping[str, Tensor],
    *,
    text_encoder_state_dict: Mapping[str, Tensor] | None = None,
    alpha_for: FluxAlphaFor | float | None = None,
    dtype: DType | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write :func:`flux_peft_to_kohya`'s result atomically (with kohya's ``sshs_*`` hashes added to
    ``metadata``) and return the path."""
    from lora_studio.formats.lora_keys import write_kohya_file

    tensors = flux_peft_to_kohya(
        state_dict, text_encoder_state_dict=text_encoder_state_dict, alpha_for=alpha_for, dtype=dtype
    )
    return write_kohya_file(path, tensors, metadata)


# --- import ---------------------------------------------------------------------------------------


_SUFFIXES = (
    (".lora_down.weight", "down"),
    (".lora_up.weight", "up"),
    (".lora_A.weight", "down"),
    (".lora_B.weight", "up"),
    (".alpha", "alpha"),
)


def _group(state_dict: Mapping[str, Tensor]) -> dict[str, dict[str, Tensor]]:
    grouped: dict[str, dict[str, Tensor]] = {}
    for key, tensor in state_dict.items():
        for suffix, role in _SUFFIXES:
            if key.endswith(suffix):
                grouped.setdefault(key[: -len(suffix)], {})[role] = tensor
                break
        else:
            raise ModelLoadError(
                f"This FLUX LoRA has a tensor LoRA Studio cannot apply: “{key}”.",
                hint="Only plain LoRA files (lora_down/lora_up or lora_A/lora_B) are supported; "
                "LyCORIS LoHa/LoKr and DoRA files are not.",
            )
    for name, roles in grouped.items():
        if "down" not in roles or "up" not in roles:
            raise ModelLoadError(
                f"The LoRA module “{name}” lacks its down or up weight.", hint="The file is incomplete."
            )
    return grouped


def _split_qkv_flag(metadata: Mapping[str, str] | None) -> bool | None:
    raw = (metadata or {}).get("ss_network_args")
    if not raw:
        return None
    try:
        args = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(args, dict):
        return None
    return str(args.get("split_qkv", "false")).lower() == "true"


def _split_fused(
    pair: LoraPair, names: tuple[str, ...], dims: list[int], split_qkv: bool
) -> dict[str, LoraPair]:
    """The exact per-part LoRAs of a fused module (see the module docstring)."""
    n = len(names)
    down, up, rank = pair.down, pair.up, pair.rank
    offsets = [sum(dims[:i]) for i in range(n + 1)]
    if rank % n == 0:
        r = rank // n
        diagonal = all(
            not bool(up[offsets[i] : offsets[i + 1], j * r : (j + 1) * r].any())
            for i in range(n)
            for j in range(n)
            if i != j
        )
        if diagonal:
            # Part i keeps rank block i; alpha/n keeps the strength alpha/rank, except for files that
            # sd-scripts wrote from split_qkv modules, whose parts were trained at alpha/(rank/n).
            alpha = pair.alpha if split_qkv else pair.alpha / n
            return {
                name: LoraPair(
                    down[i * r : (i + 1) * r].contiguous(),
                    up[offsets[i] : offsets[i + 1], i * r : (i + 1) * r].contiguous(),
                    alpha,
                )
                for i, name in enumerate(names)
            }
    out: dict[str, LoraPair] = {}
    for i, name in enumerate(names):
        rows = up[offsets[i] : offsets[i + 1]]
        cols = rows.abs().sum(0).nonzero().flatten()
        if cols.numel() == 0 and up.any():
            continue  # this part had no LoRA: its rows are zero
        out[name] = LoraPair(down, rows.contiguous(), pair.alpha)
    return out


def _fused_dims(names: tuple[str, ...], pair: LoraPair) -> list[int]:
    out_total = int(pair.up.shape[0])
    if len(names) == 4:  # linear1: q, k, v take the hidden size each, the MLP the rest
        hidden = int(pair.down.shape[1])
        return [hidden, hidden, hidden, out_total - 3 * hidden]
    return [out_total // len(names)] * len(names)


def _fused_count(body: str) -> int:
    return 3 if body.endswith("qkv") else 4 if body.endswith("linear1") else 1


def _looks_split_qkv(pairs: Mapping[str, LoraPair]) -> bool:
    """sd-scripts' split_qkv files without metadata: every plain module has one rank r and alpha a,
    and every fused module rank n·r with the same alpha a (our export gives those alpha n·a)."""
    plain = {(p.rank, round(p.alpha, 6)) for body, p in pairs.items() if _fused_count(body) == 1}
    fused = [(body, p) for body, p in pairs.items() if _fused_count(body) > 1]
    if len(plain) != 1 or not fused:
        return False
    (rank, alpha) = next(iter(plain))
    return all(p.rank == _fused_count(b) * rank and round(p.alpha, 6) == alpha for b, p in fused)


def _te_path(name: str) -> str:
    _, path = parse_kohya_name(name, flat_clip_text_model=True)
    return path.removeprefix("text_model.")


def read_flux_lora(
    state_dict: Mapping[str, Tensor],
    metadata: Mapping[str, str] | None = None,
    *,
    split_qkv: bool | None = None,
) -> FluxLora:
    """Read a FLUX LoRA in any supported form (module docstring) into a :class:`FluxLora`.

    ``split_qkv`` says whether sd-scripts wrote the fused modules from ``split_qkv`` training; by
    default it is read from ``ss_network_args`` in ``metadata``, else guessed: every plain module has
    one rank r and alpha a and every fused one rank n·r with that same alpha a. Raises ``ModelLoadError`` for names
    that are not FLUX modules.
    """
    grouped = _group(state_dict)
    if split_qkv is None:
        split_qkv = _split_qkv_flag(metadata)
    result = FluxLora()
    bfl_pairs: dict[str, LoraPair] = {}
    forms: set[str] = set()
    for name, roles in grouped.items():
        down, up = roles["down"], roles["up"]
        alpha_t = roles.get("alpha")
        rank = int(down.shape[0])
        kohya_style = name.startswith("lora_")
        if alpha_t is not None and float(alpha_t.item()) != 0:
            alpha = float(alpha_t.item())
        else:
            # kohya's rule: no alpha = rank; the diffusers/PEFT forms without alpha are strength 1 too.
            alpha = float(rank)
        pair = LoraPair(down, up, alpha)
        try:
            if name.startswith(_T5_PREFIXES):
                result.skipped.append(name)
                forms.add("kohya")
            elif name.startswith(_KOHYA_TE_PREFIXES):
                result.text_encoder[_te_path(name)] = pair
                forms.add("kohya")
            elif name.startswith("lora_unet_"):
                bfl_pairs[name[len("lora_unet_") :]] = pair
                forms.add("kohya")
            elif name.startswith("lora_transformer_"):
                result.transformer[_diffusers_from_underscored(name[len("lora_transformer_") :])] = pair
                forms.add("onetrainer")
            elif name.startswith(("text_encoder.", "te1.")) or (not kohya_style and "text_model." in name):
                path = name.split(".", 1)[1] if name.startswith(("text_encoder.", "te1.")) else name
                result.text_encoder[path.removeprefix("text_model.")] = pair
                forms.add("diffusers")
            elif name.startswith("text_encoder_2."):
                result.skipped.append(name)
            else:
                body = strip_flux_prefix(name)
                if body.startswith(_TRANSFORMER_STARTS) or body in _DIFFUSERS_TOP:
                    result.transformer[body] = pair
                    forms.add("diffusers")
                elif body.startswith(_BFL_STARTS) or body in _TOP:
                    bfl_pairs[body] = pair
                    forms.add("ai-toolkit")
                else:
                    raise ValueError(name)
        except ValueError as exc:
            raise ModelLoadError(
                f"“{name}” is not a FLUX.1 LoRA module.",
                hint="The LoRA was made for a different base model or architecture.",
            ) from exc
    if split_qkv is None:
        split_qkv = _looks_split_qkv(bfl_pairs)
    for body, pair in bfl_pairs.items():
        try:
            names = bfl_to_diffusers(body)
        except ValueError as exc:
            raise ModelLoadError(
                f"“{body}” is not a FLUX.1 LoRA module.",
                hint="The LoRA was made for a different base model or architecture.",
            ) from exc
        if len(names) == 1:
            if names[0] == _SWAPPED:
                pair = LoraPair(pair.down, _swap_halves(pair.up), pair.alpha)
            result.transformer[names[0]] = pair
        else:
            result.transformer.update(_split_fused(pair, names, _fused_dims(names, pair), split_qkv))
    result.source_format = "+".join(sorted(forms))
    return result


def load_flux_lora(path: str | os.PathLike[str], **kwargs: Any) -> FluxLora:
    """Read a FLUX LoRA file (safetensors) with :func:`read_flux_lora`, its metadata included."""
    from safetensors.torch import load_file

    from lora_studio.formats.safetensors_meta import read_header

    header = read_header(path)  # plain-words error for broken files
    return read_flux_lora(load_file(str(path)), header.metadata, **kwargs)
