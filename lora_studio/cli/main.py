"""The ``lora-studio`` command line. Light at import: subcommands import engines only when run.

Each subcommand lives in its own module of this package and exposes ``register(subparsers)``,
which adds its parser and sets ``handler=<function(args) -> int>``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from lora_studio import __version__
from lora_studio.core.errors import LoraStudioError

SUBCOMMAND_MODULES = ("demo", "dataset", "train", "generate", "lora", "models")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lora-studio",
        description="LoRA Studio: from a folder of pictures to a tested Stable Diffusion LoRA. "
        "Run without a subcommand to open the app.",
    )
    parser.add_argument("--version", action="version", version=f"LoRA Studio {__version__}")
    parser.add_argument("--demo", action="store_true", help="open the app on the built-in demo project")
    parser.add_argument("--project", metavar="DIR", help="open the app on this project folder")
    parser.add_argument(
        "--selftest",
        action="store_true",
        help="open the main window (offscreen without a display), load the demo model, report the "
        "device, and exit 0 (or non-zero with the reason)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"lora_studio.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"lora_studio.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from lora_studio.core.log import setup_logging
    from lora_studio.core.paths import set_offline_environment

    set_offline_environment()
    if args.command is None:
        from lora_studio.app.launch import launch_app  # imports Qt, not torch

        return launch_app(demo=args.demo, project=args.project, selftest=args.selftest)
    setup_logging(logging.DEBUG if args.verbose else logging.WARNING, to_file=True)
    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at exit where it can't be caught
        return code
    except BrokenPipeError:
        return _reader_went_away()
    except LoraStudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130


def _reader_went_away() -> int:
    """``lora-studio … | head``: the reader closed the pipe. Not an error; leave quietly.

    Python would report the failed flush of stdout at exit as another error, so stdout is pointed
    at the null device first (as the Python docs advise for SIGPIPE).
    """
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests capture it)
        pass
    return 141  # what a shell reports for a process ended by SIGPIPE (128 + 13)


if __name__ == "__main__":
    sys.exit(main())
