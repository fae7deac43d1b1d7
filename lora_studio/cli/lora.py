"""``lora-studio lora info FILE``, ``lora-studio lora merge …`` and ``lora-studio lora advise CONFIG``."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    lora = subparsers.add_parser("lora", help="inspect and merge LoRA files")
    sub = lora.add_subparsers(dest="lora_command", metavar="ACTION", required=True)
    info = sub.add_parser("info", help="what a LoRA file is: format, base model, rank, tags")
    info.add_argument("file")
    info.set_defaults(handler=run_info)
    merge = sub.add_parser("merge", help="merge LoRAs into one LoRA, or bake them into a checkpoint")
    merge.add_argument("--lora", action="append", required=True, metavar="FILE[:W]")
    merge.add_argument(
        "--out", required=True, help="output .safetensors (or a folder for --into diffusers output)"
    )
    merge.add_argument("--into", metavar="MODEL", help="bake into this base model instead of writing a LoRA")
    merge.add_argument(
        "--rank", type=int, help="SVD re-factorise to this rank (default: concatenate ranks, exact)"
    )
    merge.set_defaults(handler=run_merge)
    from lora_studio.cli.advise import register_advise

    register_advise(sub)


def run_info(args: argparse.Namespace) -> int:
    from lora_studio.formats.lora_info import inspect_lora

    info = inspect_lora(args.file)
    rows = [
        ("File", str(info.path)),
        ("Name", info.name),
        ("Format", info.format.value),
        ("Base model", info.family.label if info.family else "unknown"),
        ("Rank / alpha", f"{info.rank} / {info.alpha}"),
    ]
    if info.conv_rank is not None:
        rows.append(("Conv rank / alpha", f"{info.conv_rank} / {info.conv_alpha}"))
    rows += [
        ("Modules", str(info.module_count)),
        ("Text encoder", "yes" if info.has_text_encoder else "no"),
        ("Hash (A1111)", info.short_hash()),
    ]
    triggers = info.suggested_triggers()
    if triggers:
        rows.append(("Top tags", ", ".join(triggers)))
    from lora_studio.formats.safetensors_meta import nonfinite_tensors

    broken = nonfinite_tensors(info.path)
    rows.append(("Weights", f"BROKEN: {len(broken)} tensor(s) hold NaN/inf values" if broken else "finite"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    if broken:
        print(
            f"error: {info.path.name} has NaN or infinite weights (e.g. {broken[0]}); it would make "
            "black pictures. Use an earlier save of the run.",
            file=sys.stderr,
        )
        return 1
    return 0


def run_merge(args: argparse.Namespace) -> int:
    from lora_studio.cli.generate import _lora_arg
    from lora_studio.generation.request import LoraSpec

    specs = [LoraSpec(p, w) for p, w in map(_lora_arg, args.lora)]
    if args.into:
        from lora_studio.generation.merge import bake_loras

        print(bake_loras(args.into, specs, args.out))
        return 0
    from lora_studio.generation.merge import merge_lora_files

    report = merge_lora_files(specs, args.out, rank=args.rank)
    extra = f", kept {report.min_energy_kept:.1%} of ΔW in the worst module" if report.mode == "svd" else ""
    print(f"{report.path}: {report.modules} modules, {report.mode}{extra}")
    return 0
