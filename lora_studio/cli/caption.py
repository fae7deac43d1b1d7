"""``lora-studio dataset caption PROJECT --model DIR``: auto-caption a project or kohya folder.

Exposed two ways: :func:`add_caption_parser` adds ``caption`` under ``lora-studio dataset``;
:func:`register` adds a top-level ``caption`` command. Engines are imported only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

MODES = ("replace", "append", "prepend", "only_missing")
MASKS = ("crop", "grey", "ignore")


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "project", help="a LoRA Studio project, a kohya folder (img/10_name …) or a folder of pictures"
    )
    p.add_argument(
        "--model",
        metavar="DIR",
        help="captioner model folder (WD14: model.onnx + selected_tags.csv; BLIP: a transformers folder); "
        "a name is looked up in the app's models/captioners folder; default: the only one there",
    )
    p.add_argument("--list-models", action="store_true", help="list the captioner folders found and exit")
    p.add_argument(
        "--mode", choices=MODES, default="replace", help="what to do with existing captions (default replace)"
    )
    p.add_argument("--concept", action="append", metavar="NAME", help="only this concept (repeatable)")
    p.add_argument(
        "--include-regularization", action="store_true", help="also caption regularization concepts"
    )
    p.add_argument("--trigger", help="trigger word to keep first (default: each concept's own trigger)")
    p.add_argument("--no-trigger", action="store_true", help="do not add any trigger word")
    p.add_argument(
        "--mask",
        choices=MASKS,
        default="crop",
        help="pictures with a mask: crop to it (default), grey out, or ignore",
    )
    p.add_argument("--caption-extension", default=".txt", help="caption file extension for kohya folders")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 … (default auto)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--dry-run", action="store_true", help="print the captions without saving them")
    tagger = p.add_argument_group("WD14 tagger")
    tagger.add_argument("--general-threshold", type=float, default=0.35)
    tagger.add_argument("--character-threshold", type=float, default=0.85)
    tagger.add_argument("--rating", action="store_true", help="add the rating tag (general, sensitive …)")
    tagger.add_argument("--exclude", default="", metavar="TAGS", help="comma-separated tags never to write")
    tagger.add_argument(
        "--keep-underscores", action="store_true", help="write long_hair instead of long hair"
    )
    tagger.add_argument("--max-tags", type=int, default=0, help="keep only the N best tags (0 = all)")
    vlm = p.add_argument_group("Florence-2, Qwen-VL and JoyCaption")
    vlm.add_argument(
        "--task",
        default="<DETAILED_CAPTION>",
        choices=["<CAPTION>", "<DETAILED_CAPTION>", "<MORE_DETAILED_CAPTION>"],
        help="Florence-2 caption task (default <DETAILED_CAPTION>)",
    )
    vlm.add_argument(
        "--instruction", default="", help="what to ask Qwen-VL / JoyCaption; {trigger} = trigger word"
    )
    vlm.add_argument(
        "--quantize",
        default="none",
        choices=["none", "8bit", "4bit"],
        help="load Qwen-VL / JoyCaption in 8 or 4 bit (CUDA)",
    )
    blip = p.add_argument_group("BLIP")
    blip.add_argument(
        "--prompt", default="", help='conditional captioning: start every caption with this ("a photo of")'
    )
    blip.add_argument("--drop-prompt", action="store_true", help="remove the prompt text from the caption")
    blip.add_argument("--max-length", type=int, default=40, help="maximum new tokens (default 40)")
    blip.add_argument("--beams", type=int, default=3, help="beam count (default 3)")
    p.set_defaults(handler=run_caption)


def add_caption_parser(dataset_subparsers: Any) -> argparse.ArgumentParser:
    """Add ``caption`` to the ``lora-studio dataset`` sub-commands; returns the new parser."""
    p = dataset_subparsers.add_parser("caption", help="auto-caption pictures with a local captioning model")
    _configure(p)
    return p


def register(subparsers: Any) -> None:
    """Add a top-level ``caption`` command (same options as ``dataset caption``)."""
    p = subparsers.add_parser("caption", help="auto-caption pictures with a local captioning model")
    _configure(p)


def _resolve_model(arg: str | None) -> Any:
    from pathlib import Path

    from lora_studio.captioning.base import find_model_folders, inspect_model_folder, missing_model_message
    from lora_studio.core.errors import ModelLoadError
    from lora_studio.core.settings import load_settings

    roots = load_settings().captioner_folders()
    if arg:
        direct = Path(arg)
        if direct.is_dir():
            return inspect_model_folder(direct)
        for root in roots:
            if (root / arg).is_dir():
                return inspect_model_folder(root / arg)
        raise ModelLoadError(
            f"The captioner folder {arg} does not exist.", hint=missing_model_message("wd14")
        )
    usable = [f for f in find_model_folders(roots) if f.usable]
    if len(usable) == 1:
        return usable[0]
    if not usable:
        raise ModelLoadError(
            f"No captioning model was found in {', '.join(str(r) for r in roots)}.",
            hint=missing_model_message("wd14") + " — or give --model DIR.",
        )
    names = ", ".join(f.name for f in usable)
    raise ModelLoadError(
        "Several captioning models were found; pick one with --model.", hint=f"Found: {names}."
    )


def _options(args: argparse.Namespace, kind: str) -> Any:
    from lora_studio.captioning.base import (
        DEFAULT_INSTRUCTION,
        FlorenceOptions,
        FlorenceTask,
        InstructOptions,
        Quantization,
        SentenceOptions,
        TaggerOptions,
        get_spec,
    )

    options_type = get_spec(kind).options_type
    if options_type is FlorenceOptions:
        return FlorenceOptions(
            device=args.device, batch_size=args.batch_size, task=FlorenceTask(args.task), num_beams=args.beams
        )
    if options_type is InstructOptions:
        return InstructOptions(
            device=args.device,
            batch_size=args.batch_size,
            instruction=args.instruction or DEFAULT_INSTRUCTION,
            quantization=Quantization(args.quantize),
        )
    if kind == "wd14":
        return TaggerOptions(
            device=args.device,
            batch_size=args.batch_size,
            general_threshold=args.general_threshold,
            character_threshold=args.character_threshold,
            include_rating=args.rating,
            exclude_tags=tuple(t.strip() for t in args.exclude.split(",") if t.strip()),
            replace_underscores=not args.keep_underscores,
            max_tags=args.max_tags,
        )
    return SentenceOptions(
        device=args.device,
        batch_size=args.batch_size,
        prompt=args.prompt,
        keep_prompt=not args.drop_prompt,
        max_new_tokens=args.max_length,
        num_beams=args.beams,
    )


def _list_models() -> int:
    from lora_studio.captioning.base import find_model_folders
    from lora_studio.core.settings import load_settings

    roots = load_settings().captioner_folders()
    folders = find_model_folders(roots)
    for f in folders:
        status = "ok" if f.usable else f.problem
        print(f"{f.path}\t{f.kind or '?'}\t{status}")
    if not folders:
        print(f"No captioning models in {', '.join(str(r) for r in roots)}.")
    return 0


def run_caption(args: argparse.Namespace) -> int:
    """The command's handler: load the dataset and the model, caption, save as one edit."""
    if args.list_models:
        return _list_models()
    from lora_studio.captioning.base import load_captioner
    from lora_studio.captioning.runner import CaptionMode, MaskHandling, caption_items
    from lora_studio.core.control import RunControl
    from lora_studio.core.errors import DatasetError, ModelLoadError
    from lora_studio.core.events import CaptionReady, Event, Progress
    from lora_studio.dataset.edits import EditStack
    from lora_studio.dataset.io import load_dataset

    dataset = load_dataset(args.project, args.caption_extension)
    concepts = [c for c in dataset.concepts if args.include_regularization or not c.is_regularization]
    if args.concept:
        wanted = set(args.concept)
        unknown = wanted - {c.name for c in dataset.concepts}
        if unknown:
            raise DatasetError(
                f"No concept called {', '.join(sorted(unknown))}.",
                hint="Concepts: " + ", ".join(c.name for c in dataset.concepts),
            )
        concepts = [c for c in dataset.concepts if c.name in wanted]
    folder = _resolve_model(args.model)
    if not folder.usable:
        raise ModelLoadError(f"The captioner folder {folder.path} cannot be used.", hint=folder.problem)
    options = _options(args, folder.kind)
    captioner = load_captioner(folder.path, args.device, folder.kind, options=options)
    control = RunControl()
    stack = EditStack()

    def report(event: Event) -> None:
        if isinstance(event, CaptionReady) and args.dry_run:
            print(f"{event.image}\t{event.caption}")
        elif isinstance(event, Progress) and event.total and sys.stderr.isatty():
            print(f"\r{event.done}/{event.total}", end="", file=sys.stderr, flush=True)

    changed = 0
    try:
        for concept in concepts:
            trigger = (
                "" if args.no_trigger else (args.trigger if args.trigger is not None else concept.trigger)
            )
            result = caption_items(
                concept.items,
                captioner,
                options,
                CaptionMode(args.mode),
                trigger,
                report,
                control,
                mask_handling=MaskHandling(args.mask),
                caption_extension=args.caption_extension,
                stack=stack,
                apply=not args.dry_run,
            )
            if sys.stderr.isatty():
                print(file=sys.stderr)
            for path, why in result.failed:
                print(f"could not read {path}: {why}", file=sys.stderr)
            print(f"{concept.name}: {result.summary()}")
            changed += len(result.changed_files) if result.applied else 0
    finally:
        captioner.unload()
    if not args.dry_run:
        print(f"{changed} caption file(s) changed.")
    return 0
