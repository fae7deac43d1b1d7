"""``lora-studio models list`` and ``lora-studio models download NAME``: the Models dialog's list and
download, for a terminal (the same catalogue and the same downloader, run in this process)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    models = subparsers.add_parser("models", help="list and download captioning and masking models")
    sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="the downloadable models and which are installed")
    listing.add_argument("--to", metavar="DIR", help="captioners folder (default: the app's first one)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(handler=run_list)
    download = sub.add_parser(
        "download",
        help="download a model into the captioners folder (the only command that goes online); "
        "Ctrl+C pauses, running it again continues",
    )
    download.add_argument("name", help="a name from `lora-studio models list`")
    download.add_argument("--to", metavar="DIR", help="captioners folder (default: the app's first one)")
    download.set_defaults(handler=run_download)


def _root(args: argparse.Namespace) -> Path:
    if args.to:
        return Path(args.to)
    from lora_studio.core.settings import load_settings

    return load_settings().captioner_folders()[0]


def _state(model: Any, root: Path) -> str:
    from lora_studio.captioning.download import partial_progress

    if model.installed_in(root / model.name):
        return "installed"
    partial = partial_progress(model, root)
    if partial is not None and partial[1]:
        return f"paused at {partial[0] / partial[1]:.0%}"
    return "not installed"


def run_list(args: argparse.Namespace) -> int:
    from lora_studio.captioning.catalog import catalog, format_size

    root = _root(args)
    rows: list[dict[str, Any]] = [
        {
            "name": m.name,
            "task": m.task.value,
            "kind": m.kind,
            "repo": m.repo,
            "size": m.approx_size,
            "licence": m.licence,
            "state": _state(m, root),
            "folder": str(root / m.name),
        }
        for m in catalog()
    ]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        size = f"~{format_size(r['size'])}"
        print(f"{r['name']:<{width}}  {r['task']:<7}  {size:>9}  {r['state']:<15}  {r['licence']}")
    print(f"\nFolder: {root}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    from lora_studio.captioning.catalog import format_size, get_model
    from lora_studio.captioning.download import download_model, hub_endpoint
    from lora_studio.core.control import RunControl
    from lora_studio.core.events import DownloadProgress, Event, StatusChanged

    model = get_model(args.name)
    root = _root(args)
    last: dict[str, Any] = {"time": 0.0, "file": ""}

    def report(event: Event) -> None:
        if isinstance(event, StatusChanged):
            print(event.text, file=sys.stderr, flush=True)
        elif isinstance(event, DownloadProgress):
            now = time.monotonic()
            if event.file and event.file == last["file"] and now - last["time"] < 2.0:
                return  # a line every 2 s per file is plenty
            last.update(time=now, file=event.file)
            share = event.bytes_done / event.bytes_total if event.bytes_total else 1.0
            where = f" — {event.file}" if event.file else ""
            print(
                f"{share:4.0%}  {format_size(event.bytes_done)} of {format_size(event.bytes_total)}{where}",
                file=sys.stderr,
                flush=True,
            )

    try:
        result = download_model(model, root, report, RunControl(), endpoint=hub_endpoint())
    except KeyboardInterrupt:
        print(
            f"paused: what was downloaded is kept; run `lora-studio models download {model.name}` again "
            "to continue.",
            file=sys.stderr,
        )
        return 130
    print(result.folder)
    return 0
