"""``lora-studio generate`` and ``lora-studio grid``: the same engine the app's generation panel uses."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lora_studio.core.errors import GenerationError


def _lora_arg(text: str) -> tuple[str, float]:
    path, sep, weight = text.rpartition(":")
    if not sep or not path or len(path) == 1:  # "C:\\x.safetensors" without a weight
        return text, 1.0
    try:
        return path, float(weight)
    except ValueError:
        return text, 1.0


def _size_arg(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    if not sep:
        raise argparse.ArgumentTypeError("size must look like 512x768")
    return int(w), int(h)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="checkpoint (.safetensors) or diffusers folder")
    p.add_argument(
        "--lora", action="append", default=[], metavar="FILE[:W]", help="LoRA file and weight (repeatable)"
    )
    p.add_argument(
        "--lora-dir", action="append", default=[], metavar="DIR", help="folders for <lora:name:w> tags"
    )
    p.add_argument("--prompt", required=True)
    p.add_argument("--negative", default="")
    p.add_argument("--sampler", help='A1111 name, e.g. "DPM++ 2M Karras" (default: Euler a; FLUX.1: Euler)')
    p.add_argument("--schedule", help="schedule type (default: Automatic; FLUX.1: Simple)")
    p.add_argument("--steps", type=int, help="default: 20 (FLUX.1 schnell: 4)")
    p.add_argument("--cfg", type=float, help="CFG scale (default: 7; FLUX.1: 1, i.e. no real CFG)")
    p.add_argument(
        "--distilled-cfg",
        type=float,
        help="FLUX.1-dev's guidance, Forge's 'Distilled CFG Scale' (default 3.5; schnell has none)",
    )
    p.add_argument(
        "--base-weights",
        choices=("full", "fp8", "nf4"),
        default="full",
        help="hold the model in full precision, fp8 (half the memory) or 4-bit NF4 (bitsandbytes)",
    )
    p.add_argument("--seed", type=int, default=-1)
    p.add_argument("--clip-skip", type=int, default=1)
    p.add_argument("--size", type=_size_arg, metavar="WxH", help="default: the model's native size")
    p.add_argument("--no-fuse", action="store_true", help="keep LoRAs unfused (slower steps)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument(
        "--embedding-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="folders of textual-inversion embeddings named in prompts (default: models/embeddings)",
    )
    hires = p.add_argument_group("hires fix (A1111): a second denoising pass at a larger size")
    hires.add_argument("--hires-upscale", type=float, metavar="F", help="upscale factor, e.g. 2 (turns hires fix on)")
    hires.add_argument("--hires-resize", type=_size_arg, metavar="WxH", help="or resize to this size (turns it on)")
    hires.add_argument("--hires-steps", type=int, default=0, help="second-pass steps (0: as the first pass)")
    hires.add_argument("--hires-denoise", type=float, default=0.7, help="second-pass denoising strength")
    hires.add_argument("--hires-upscaler", default="Latent", help='"Latent", "Latent (nearest-exact)", "Lanczos" …')


def register(subparsers: Any) -> None:
    gen = subparsers.add_parser("generate", help="generate images (txt2img / img2img / inpaint)")
    _add_common(gen)
    gen.add_argument("--init", metavar="IMG", help="init image (img2img)")
    gen.add_argument("--mask", metavar="IMG", help="inpainting mask (white = repaint)")
    gen.add_argument("--strength", type=float, default=0.75)
    gen.add_argument("--batch-count", type=int, default=1)
    gen.add_argument("--batch-size", type=int, default=1)
    gen.set_defaults(handler=run_generate)

    grid = subparsers.add_parser("grid", help="X/Y/Z comparison grid (LoRA files, weights, seeds …)")
    _add_common(grid)
    for axis in ("x", "y", "z"):
        grid.add_argument(
            f"--{axis}",
            nargs="+",
            metavar=("KIND", "VALUE"),
            required=axis == "x",
            help="axis kind (lora, weight, prompt, seed, cfg, guidance, steps, sampler) and its values",
        )
    grid.set_defaults(handler=run_grid_cmd)


def _hires(args: argparse.Namespace) -> Any:
    from lora_studio.generation.hires import HiresFix

    if args.hires_upscale is None and args.hires_resize is None:
        return None
    rw, rh = args.hires_resize or (0, 0)
    return HiresFix(
        scale=args.hires_upscale or 2.0,
        resize_width=rw,
        resize_height=rh,
        steps=args.hires_steps,
        denoise=args.hires_denoise,
        upscaler=args.hires_upscaler,
    )


def _engine(args: argparse.Namespace) -> Any:
    from lora_studio.generation.engine import GenerationEngine

    return GenerationEngine(lora_dirs=args.lora_dir, embedding_dirs=args.embedding_dir or None)


def _with_family_defaults(args: argparse.Namespace, engine: Any) -> argparse.Namespace:
    """Fill the options left out with the model family's defaults (Forge's for FLUX.1). The model is
    loaded here when one is missing; the engine keeps it for the generation that follows."""
    from lora_studio.generation.request import family_defaults

    wanted = ("sampler", "schedule", "steps", "cfg")

    def filled(defaults: Any) -> argparse.Namespace:
        out = argparse.Namespace(**vars(args))
        for name in wanted:
            if getattr(out, name) is None:
                setattr(out, name, getattr(defaults, name))
        return out

    if all(getattr(args, name) is not None for name in wanted):
        return args
    # The LoRAs and the other options are checked before the model loads (that takes a while).
    engine.prepare(_request(filled(family_defaults("sd1")), init_image=getattr(args, "init", None)))
    entry = engine.model(args.model, _printer, args.base_weights)
    return filled(
        family_defaults(entry.family.value, schnell=entry.is_flux and not entry.has_distilled_guidance)
    )


def _request(args: argparse.Namespace, **extra: Any) -> Any:
    from lora_studio.generation.request import GenerationRequest, LoraSpec

    width, height = args.size or (None, None)
    return GenerationRequest(
        model=args.model,
        prompt=args.prompt,
        negative=args.negative,
        loras=tuple(LoraSpec(p, w) for p, w in map(_lora_arg, args.lora)),
        sampler=args.sampler,
        schedule=args.schedule,
        steps=args.steps,
        cfg=args.cfg,
        seed=args.seed,
        clip_skip=args.clip_skip,
        width=width,
        height=height,
        output_dir=args.out,
        fuse_loras=not args.no_fuse,
        hires=_hires(args),
        distilled_cfg=args.distilled_cfg,
        base_weights=args.base_weights,
        **extra,
    )


def _printer(event: Any) -> None:
    from lora_studio.core.events import ImageReady, Progress, StatusChanged

    if isinstance(event, Progress):
        print(f"\r{event.text} ({event.done}/{event.total})", end="", file=sys.stderr, flush=True)
    elif isinstance(event, StatusChanged):
        print(event.text, file=sys.stderr)
    elif isinstance(event, ImageReady):
        print(f"\n{event.path}  (seed {event.seed})")


def run_generate(args: argparse.Namespace) -> int:
    engine = _engine(args)
    args = _with_family_defaults(args, engine)
    req = _request(
        args,
        init_image=args.init,
        mask=args.mask,
        strength=args.strength,
        batch_count=args.batch_count,
        batch_size=args.batch_size,
    )
    engine.generate(req, _printer)
    return 0


def _axis(values: list[str] | None) -> Any:
    from lora_studio.generation.grid import AXIS_KINDS, GridAxis

    if not values:
        return None
    kind, *items = values
    if kind not in AXIS_KINDS or not items:
        raise GenerationError(f"Bad grid axis “{' '.join(values)}”.", hint="Write e.g. --x weight 0 0.5 1")
    return GridAxis(kind, tuple(items))


def run_grid_cmd(args: argparse.Namespace) -> int:
    from lora_studio.generation.grid import run_grid

    engine = _engine(args)
    result = run_grid(
        engine,
        _request(_with_family_defaults(args, engine)),
        _axis(args.x),
        _axis(args.y),
        _axis(args.z),
        reporter=_printer,
    )
    for path in result.grid_paths:
        print(path)
    return 0
