"""Bake LoRAs into a checkpoint, and merge several LoRAs into one LoRA file.

- :func:`bake_loras` loads the base model fresh (never the engine's cached copy), fuses the LoRAs
  at their weights into it and writes a single-file ``.safetensors`` in the original (LDM) layout —
  the layout of downloaded checkpoints — or a diffusers folder when the target is a folder.
- :func:`merge_lora_files` combines kohya-format LoRAs module by module. ``rank=None``
  concatenates the ranks (exact: the result equals applying all inputs at their weights, and its
  rank is the sum of theirs); ``rank=k`` re-factorises each module's summed ΔW by SVD to rank ``k``
  (smaller file, a small approximation error, reported per file as the retained energy).
  When any input is a LyCORIS LoHa/LoKr file, each module's summed ΔW is written in LoKr form,
  ``kron([[1]], ΔW)`` with scale 1 (``lokr_w1`` = [[1]], ``lokr_w2`` = ΔW flattened to 2-D, or
  ``lokr_w2_a``/``lokr_w2_b`` = its rank-``k`` SVD factors): exact for any layer shape, since
  every reader (ours, A1111, ComfyUI) reshapes a LoKr product to the layer's weight, while a LoHa
  convolution's factors do not record its kernel size. DoRA files are refused: their magnitudes
  do not add.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from lora_studio.core.errors import GenerationError
from lora_studio.core.events import Reporter, StatusChanged, null_reporter
from lora_studio.generation.request import LoraSpec

log = logging.getLogger(__name__)


def bake_loras(
    model: str | Path,
    loras: Sequence[LoraSpec],
    out_path: str | Path,
    *,
    dtype: torch.dtype | None = torch.float16,
    reporter: Reporter = null_reporter,
) -> Path:
    """Fuse ``loras`` into ``model`` and save the result to ``out_path``.

    ``out_path`` ending in ``.safetensors`` → one original-layout checkpoint; otherwise a
    diffusers folder. Runs on the CPU in fp32 (a merge needs no GPU); ``dtype`` is the file's.
    """
    from lora_studio.core.families import ModelFamily
    from lora_studio.generation.engine import load_model
    from lora_studio.generation.loras import LoraStack

    reporter(StatusChanged(f"Loading {Path(model).name}…"))
    pipe, family, _ = load_model(model, "cpu", torch.float32)
    stack = LoraStack(pipe, family)
    reporter(StatusChanged("Merging LoRAs…"))
    stack.apply(list(loras), fuse=True)
    pipe.unload_lora_weights()  # keeps the fused weights, drops the adapters
    out = Path(out_path)
    names = {s.name: s.weight for s in loras if s.enabled}
    reporter(StatusChanged(f"Writing {out.name}…"))
    if family == ModelFamily.FLUX:
        # FLUX overflows in float16; bfloat16 is how its files come. One all-in-one file (ComfyUI's
        # layout: the LoRA may have changed CLIP-L as well as the transformer) or a diffusers folder.
        dtype = torch.bfloat16 if dtype == torch.float16 else dtype
        if out.suffix.lower() == ".safetensors":
            from lora_studio.diffusion.flux_format import save_flux_file

            return save_flux_file(
                pipe,
                out,
                ("transformer", "clip_l", "t5xxl", "ae"),
                all_in_one=True,
                dtype=dtype,
                embed_config=True,
            )
    if out.suffix.lower() == ".safetensors":
        from lora_studio.diffusion.ldm_format import save_single_file

        metadata = {
            "lora_studio.baked_loras": json.dumps(names),
            "lora_studio.base_model": Path(model).name,
        }
        # embed_config: non-standard architectures (e.g. the tiny demo models) reload exactly.
        save_single_file(
            pipe, out, metadata=metadata, dtype=dtype, family=ModelFamily(family), embed_config=True
        )
    else:
        if dtype is not None:
            pipe.to(dtype=dtype)
        pipe.save_pretrained(str(out), safe_serialization=True)
    return out


@dataclass(frozen=True)
class MergeReport:
    """What :func:`merge_lora_files` wrote."""

    path: Path
    modules: int
    rank: int | None  # None: concatenated (ranks differ per module)
    mode: str  # "concat" or "svd"
    min_energy_kept: float  # SVD: the worst module's kept share of ΔW's squared norm (1.0 for concat)


def _read_kohya(path: Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, str]]:
    from safetensors import safe_open

    from lora_studio.formats.lora_classify import LoraFormat
    from lora_studio.generation.loras import check_lora_file

    kind = check_lora_file(path, None)
    if kind.dora:
        raise GenerationError(
            f"“{path.name}” is a DoRA LoRA; DoRA files cannot be merged (their layer strengths do not add up).",
            hint="Bake it into the model instead, or merge plain LoRA/LoHa/LoKr files.",
        )
    if not kind.format.value.startswith("kohya") and kind.format not in (LoraFormat.LOHA, LoraFormat.LOKR):
        raise GenerationError(
            f"“{path.name}” is a {kind.format.value} LoRA; merging needs kohya-format files.",
            hint="LoRAs from kohya/sd-scripts and from LoRA Studio's trainer are kohya format.",
        )
    modules: dict[str, dict[str, torch.Tensor]] = {}
    with safe_open(str(path), framework="pt") as fh:
        metadata = fh.metadata() or {}
        for key in fh.keys():
            name, _, suffix = key.partition(".")
            modules.setdefault(name, {})[suffix] = fh.get_tensor(key).float()
    return modules, metadata


def _same_sdxl_layout(per_file: list) -> list:
    """SDXL files with kohya's original-layout UNet names and files with the diffusers-style names
    of older LoRA Studio versions, merged together: the old names are renamed to kohya's (numbered
    as the real SDXL UNet is), so that the same layer meets itself."""
    from lora_studio.formats.lora_keys import is_sgm_unet_name, rename_sdxl_unet_keys

    def unet_names(mods: dict) -> list[str]:
        return [n for n in mods if n.startswith("lora_unet_")]

    sgm = [any(is_sgm_unet_name(n) for n in unet_names(mods)) for (mods, _), *_ in per_file]
    legacy = [any(not is_sgm_unet_name(n) for n in unet_names(mods)) for (mods, _), *_ in per_file]
    if not any(sgm) or not any(legacy):
        return per_file
    out = []
    for ((mods, meta), *weights), old in zip(per_file, legacy):
        if old:
            try:
                mods = rename_sdxl_unet_keys(mods, to="original")
            except ValueError as exc:
                raise GenerationError(
                    "These SDXL LoRAs cannot be merged: one of them has UNet layers that the SDXL "
                    "layout does not have.",
                    details=str(exc),
                ) from exc
        out.append(((mods, meta), *weights))
    return out


def _scaled_pair(parts: dict[str, torch.Tensor], weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(up × weight × alpha/rank, down) as 2-D matrices."""
    down, up = parts["lora_down.weight"], parts["lora_up.weight"]
    rank = down.shape[0]
    alpha = float(parts["alpha"].item()) if "alpha" in parts else float(rank)
    scale = weight * alpha / rank
    return up.reshape(up.shape[0], rank) * scale, down.reshape(rank, -1)


def merge_lora_files(
    loras: Sequence[LoraSpec],
    out_path: str | Path,
    *,
    rank: int | None = None,
    dtype: torch.dtype = torch.float16,
) -> MergeReport:
    """Merge kohya LoRAs at their weights into one kohya LoRA (see module docstring)."""
    from lora_studio.formats.hashes import precompute_sshs_hashes
    from lora_studio.formats.safetensors_meta import write_safetensors

    specs = [s for s in loras if s.enabled]
    if not specs:
        raise GenerationError("Choose at least one LoRA to merge.")
    per_file = [(_read_kohya(Path(s.path)), s.unet_weight, s.te_weight, s.weight) for s in specs]
    per_file = _same_sdxl_layout(per_file)
    if any(_is_lycoris(mods) for (mods, _), *_ in per_file):
        return _merge_as_lokr(specs, per_file, out_path, rank=rank, dtype=dtype)
    names = sorted({n for (mods, _), *_ in per_file for n in mods})
    out: dict[str, torch.Tensor] = {}
    min_kept = 1.0
    for name in names:
        ups, downs, shape_down, shape_up = [], [], None, None
        for (mods, _), unet_w, te_w, w in per_file:
            parts = mods.get(name)
            if parts is None or "lora_down.weight" not in parts:
                continue
            weight = unet_w if name.startswith("lora_unet") else te_w
            weight = w if weight is None else weight
            if shape_down is not None and parts["lora_down.weight"].shape[1:] != shape_down[1:]:
                raise GenerationError(
                    f"The LoRAs disagree on the shape of module {name}; are they for the same model?"
                )
            shape_down, shape_up = parts["lora_down.weight"].shape, parts["lora_up.weight"].shape
            up, down = _scaled_pair(parts, weight)
            ups.append(up)
            downs.append(down)
        if not ups:
            continue
        up_cat, down_cat = torch.cat(ups, dim=1), torch.cat(downs, dim=0)
        if rank is not None and rank < up_cat.shape[1]:
            delta = up_cat @ down_cat
            u, s, vh = torch.linalg.svd(delta, full_matrices=False)
            total = float((s**2).sum()) or 1.0
            min_kept = min(min_kept, float((s[:rank] ** 2).sum()) / total)
            root = s[:rank].sqrt()
            up_cat, down_cat = u[:, :rank] * root, root[:, None] * vh[:rank]
        r = up_cat.shape[1]
        assert shape_down is not None and shape_up is not None
        out[f"{name}.lora_down.weight"] = down_cat.reshape(r, *shape_down[1:]).to(dtype).contiguous()
        out[f"{name}.lora_up.weight"] = up_cat.reshape(shape_up[0], r, *shape_up[2:]).to(dtype).contiguous()
        out[f"{name}.alpha"] = torch.tensor(float(r), dtype=dtype)  # alpha = rank: scale 1
    first_meta = per_file[0][0][1]
    meta = {
        k: v
        for k, v in first_meta.items()
        if k in ("ss_base_model_version", "ss_v2", "modelspec.architecture")
    }
    meta.update(
        {
            "ss_network_module": "networks.lora",
            "ss_network_dim": str(rank) if rank else "",
            "ss_network_alpha": str(rank) if rank else "",
            "lora_studio.merged_from": json.dumps({s.name: s.weight for s in specs}),
            "lora_studio.merge_mode": "svd" if rank else "concat",
        }
    )
    model_hash, legacy = precompute_sshs_hashes(out, meta)
    meta.update(sshs_model_hash=model_hash, sshs_legacy_hash=legacy)
    path = write_safetensors(out_path, out, meta)
    log.info("merged %d LoRAs into %s (%d modules)", len(specs), path, len(names))
    return MergeReport(path, len(names), rank, "svd" if rank else "concat", min_kept)


def _is_lycoris(modules: dict[str, dict[str, torch.Tensor]]) -> bool:
    from lora_studio.formats.lycoris_keys import algo_of

    return any(algo_of(list(parts)) != "lora" for parts in modules.values())


def _flat_delta(parts: dict[str, torch.Tensor], weight: float) -> torch.Tensor:
    """A module's ΔW at ``weight``, flattened to [out, in·k·k] (the order every reader reshapes in)."""
    from lora_studio.formats.lycoris_keys import algo_of, lycoris_delta

    if algo_of(list(parts)) != "lora":
        delta = lycoris_delta(parts)
        return (delta.reshape(delta.shape[0], -1) * weight).float()
    up, down = _scaled_pair(parts, weight)
    return up @ down


def _merge_as_lokr(
    specs: list[LoraSpec], per_file: list, out_path: str | Path, *, rank: int | None, dtype: torch.dtype
) -> MergeReport:
    """The merge of files that include LoHa/LoKr ones, written in LoKr form (see module docstring)."""
    from lora_studio.formats.lora_keys import write_kohya_file

    names = sorted({n for (mods, _), *_ in per_file for n in mods})
    out: dict[str, torch.Tensor] = {}
    min_kept = 1.0
    for name in names:
        total: torch.Tensor | None = None
        for (mods, _), unet_w, te_w, w in per_file:
            parts = mods.get(name)
            if not parts or set(parts) == {"alpha"}:
                continue
            weight = unet_w if name.startswith("lora_unet") else te_w
            delta = _flat_delta(parts, w if weight is None else weight)
            if total is not None and total.shape != delta.shape:
                raise GenerationError(
                    f"The LoRAs disagree on the shape of module {name}; are they for the same model?"
                )
            total = delta if total is None else total + delta
        if total is None:
            continue
        out[f"{name}.lokr_w1"] = torch.ones(1, 1, dtype=dtype)
        if rank is not None and rank < min(total.shape):
            u, sv, vh = torch.linalg.svd(total, full_matrices=False)
            energy = float((sv**2).sum()) or 1.0
            min_kept = min(min_kept, float((sv[:rank] ** 2).sum()) / energy)
            root = sv[:rank].sqrt()
            out[f"{name}.lokr_w2_a"] = (u[:, :rank] * root).to(dtype).contiguous()
            out[f"{name}.lokr_w2_b"] = (root[:, None] * vh[:rank]).to(dtype).contiguous()
            out[f"{name}.alpha"] = torch.tensor(float(rank), dtype=dtype)  # alpha = dim: scale 1
        else:
            out[f"{name}.lokr_w2"] = total.to(dtype).contiguous()
            out[f"{name}.alpha"] = torch.tensor(1.0, dtype=dtype)  # ignored: both parts full, scale 1
    first_meta = per_file[0][0][1]
    meta = {
        k: v
        for k, v in first_meta.items()
        if k in ("ss_base_model_version", "ss_v2", "modelspec.architecture")
    }
    meta.update(
        {
            "ss_network_module": "lycoris.kohya",
            "ss_network_args": json.dumps({"algo": "lokr", "full_matrix": "False" if rank else "True"}),
            "ss_network_dim": str(rank) if rank else "",
            "ss_network_alpha": str(rank) if rank else "",
            "lora_studio.merged_from": json.dumps({s.name: s.weight for s in specs}),
            "lora_studio.merge_mode": "svd" if rank else "concat",
        }
    )
    path = write_kohya_file(out_path, out, meta)
    log.info("merged %d LoRAs (LyCORIS among them) into %s (%d modules)", len(specs), path, len(names))
    return MergeReport(path, len(names), rank, "svd" if rank else "concat", min_kept)
