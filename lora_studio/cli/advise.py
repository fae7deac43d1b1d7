"""``lora-studio lora advise CONFIG.toml``: which saved epoch file of a run to keep, and why."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register_advise(sub: Any) -> None:
    advise = sub.add_parser(
        "advise",
        help="rank a run's saved epoch files (validation loss, leakage without the trigger word, "
        "stability across weights) and say which to keep",
    )
    advise.add_argument("config", type=Path, help="the run's training config (.toml)")
    advise.add_argument(
        "--files", nargs="+", metavar="FILE", help="judge these files (default: the run's saved files)"
    )
    advise.add_argument(
        "--steps",
        type=int,
        default=0,
        help="sampling steps of the small test pictures (0: sample prompt's, ≤ 12)",
    )
    advise.add_argument("--json", action="store_true", help="print the advice as JSON")
    advise.set_defaults(handler=run_advise)


def run_files_of(config: Any) -> list[str]:
    """Every saved epoch file of the run, then its final file."""
    from lora_studio.training.run_files import intermediate_loras, lora_filename

    out, name = Path(config.run.output_dir), config.run.output_name
    files = [str(p) for p in intermediate_loras(out, name)]
    final = out / lora_filename(name)
    return files + ([str(final)] if final.is_file() else [])


def _printer(event: Any) -> None:
    from lora_studio.core.events import Progress, StatusChanged

    if isinstance(event, Progress):
        print(f"\r{event.text} ({event.done}/{event.total})", end="", file=sys.stderr, flush=True)
    elif isinstance(event, StatusChanged):
        print(event.text, file=sys.stderr)


def run_advise(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from lora_studio.training.advisor import advice_request, recorded_validation, run_advisor
    from lora_studio.training.config_files import read_config_file

    config = read_config_file(args.config).config
    files = args.files or run_files_of(config)
    request = replace(advice_request(config, files, recorded_validation(config)), steps=args.steps)
    advice = run_advisor(request, _printer)
    print(file=sys.stderr)
    if args.json:
        print(advice.to_json())
        return 0
    print(f"{'':2}{'file':40} {'val. loss':>9} {'leakage':>8} {'jumps':>7}")
    for score in advice.ranking:
        mark = "* " if score.path == advice.recommended else "  "
        val = f"{score.validation:.4f}" if score.validation is not None else "-"
        flag = " leaks" if score.leaks else (" unsteady" if score.unsteady else "")
        print(
            f"{mark}{Path(score.path).name:40} {val:>9} {score.leakage:8.4f} {score.instability:7.4f}{flag}"
        )
    print(f"\nKeep: {advice.recommended}\nWhy: {advice.reason}")
    for note in advice.notes:
        print(f"Note: {note}")
    return 0
