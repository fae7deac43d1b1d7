"""``lora-studio dataset``: check, import, export and bulk-edit captions from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("dataset", help="check, import, export and edit a dataset")
    sub = parser.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)

    p = sub.add_parser("check", help="list every problem of a project or kohya folder")
    p.add_argument("dir", help="a LoRA Studio project or a kohya folder (img/10_name …)")
    p.add_argument(
        "--resolution",
        type=int,
        default=None,
        help="training resolution (default: the project's training.toml, else the default settings' 512)",
    )
    p.add_argument("--token-limit", type=int, default=75, help="caption token limit (default 75)")
    p.add_argument("--caption-extension", default=".txt", help="caption file extension for kohya folders")
    p.add_argument("--json", action="store_true", help="print the issues as JSON")
    p.set_defaults(handler=_check)

    p = sub.add_parser("import", help="copy a kohya folder tree into a (new) project")
    p.add_argument("kohya_dir")
    p.add_argument("project")
    p.add_argument("--caption-extension", default=".txt")
    p.set_defaults(handler=_import)

    p = sub.add_parser("export", help="write a project as a kohya folder tree (pictures + captions)")
    p.add_argument("project")
    p.add_argument("kohya_dir")
    p.add_argument("--caption-extension", default=".txt")
    p.add_argument(
        "--no-crops",
        action="store_true",
        help="write cropped pictures uncropped (by default crops are applied and saved as PNG)",
    )
    p.set_defaults(handler=_export)

    p = sub.add_parser("caption-edit", help="change the captions of one concept")
    p.add_argument("project")
    p.add_argument("--concept", required=True)
    op = p.add_mutually_exclusive_group(required=True)
    op.add_argument("--add-tag", metavar="TAG")
    op.add_argument("--remove-tag", metavar="TAG")
    op.add_argument("--replace", nargs=2, metavar=("OLD", "NEW"))
    op.add_argument("--add-trigger", action="store_true", help="put the concept's trigger word first")
    p.add_argument("--front", action="store_true", help="with --add-tag: add at the front")
    p.add_argument("--regex", action="store_true", help="with --replace: OLD is a regular expression")
    p.set_defaults(handler=_caption_edit)

    from lora_studio.cli.caption import add_caption_parser  # argparse only: stays light

    add_caption_parser(sub)


def _training_resolution(args: argparse.Namespace) -> tuple[int, str]:
    """The resolution to check at and where it came from: --resolution, else the project's own
    training settings (training.toml, as the app uses them), else the default settings."""
    from pathlib import Path

    from lora_studio.training.config_files import PROJECT_CONFIG, default_settings, project_settings

    if args.resolution is not None:
        return args.resolution, "--resolution"
    saved = project_settings(args.dir) if Path(args.dir).is_dir() else None
    if saved is not None:
        return saved.dataset.resolution, f"from the project's {PROJECT_CONFIG}"
    return default_settings().dataset.resolution, f"the default; no {PROJECT_CONFIG} in this folder"


def _check(args: argparse.Namespace) -> int:
    from lora_studio.core.issues import Severity
    from lora_studio.dataset.validate import check_path

    resolution, source = _training_resolution(args)
    issues = check_path(args.dir, resolution, args.token_limit, caption_extension=args.caption_extension)
    if args.json:
        rows = [
            {
                "severity": str(i.severity),
                "code": i.code,
                "path": str(i.path) if i.path else None,
                "concept": i.concept,
                "message": i.message,
                "fix": str(i.fix) if i.fix else None,
            }
            for i in issues
        ]
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        print(f"Training resolution {resolution} ({source}).")
        for i in issues:
            print(f"{i.severity.upper():8} {i.code:24} {i.message}")
        errors = sum(i.severity == Severity.ERROR for i in issues)
        print(f"{len(issues)} issue(s), {errors} error(s).")
    return 1 if any(i.severity == Severity.ERROR for i in issues) else 0


def _import(args: argparse.Namespace) -> int:
    from lora_studio.dataset.kohya import import_kohya

    result = import_kohya(args.kohya_dir, args.project, caption_extension=args.caption_extension)
    for path, reason in result.skipped_folders:
        print(f"skipped folder {path}: {reason}")
    for path, reason in result.skipped_files:
        print(f"skipped {path}: {reason}")
    for note in result.notes:
        print(f"note: {note}")
    for r in result.added:
        for path, reason in r.skipped:
            print(f"skipped {path}: {reason}")
    added = sum(len(r.added) for r in result.added)
    print(
        f"Imported {added} picture(s) into {len(result.project.concepts)} concept(s) in {result.project.root}."
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    from lora_studio.dataset.kohya import export_kohya
    from lora_studio.dataset.project import open_project

    result = export_kohya(
        open_project(args.project),
        args.kohya_dir,
        caption_extension=args.caption_extension,
        apply_crops=not args.no_crops,
    )
    cropped = f" ({result.cropped} cropped, saved as PNG)" if result.cropped else ""
    print(f"Exported {result.images} picture(s){cropped} and {result.masks} mask(s) to {result.root}.")
    return 0


def _caption_edit(args: argparse.Namespace) -> int:
    from lora_studio.dataset import edits
    from lora_studio.dataset.project import open_project

    project = open_project(args.project)
    concept = project.concept(args.concept)
    paths = [project.caption_path(concept.name, k) for k in project.image_keys(concept.name)]
    if args.add_tag is not None:
        edit = edits.add_tag_edit(paths, args.add_tag, front=args.front)
    elif args.remove_tag is not None:
        edit = edits.remove_tag_edit(paths, args.remove_tag)
    elif args.replace is not None:
        edit = edits.replace_edit(paths, args.replace[0], args.replace[1], regex=args.regex)
    else:
        edit = edits.add_trigger_edit(paths, concept.trigger)
    edits.EditStack().push(edit)
    for path, reason in edit.skipped:
        print(f"skipped {path.name}: {reason}")
    print(f"{edit.label}: changed {len(edit.changes)} caption file(s).")
    return 0
