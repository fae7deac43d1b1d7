"""``lora-studio train CONFIG [--max-steps N] [--resume STATE]``: train a LoRA from a settings file.

CONFIG is a LoRA Studio TOML; a kohya_ss GUI ``.json`` or an sd-scripts ``--config_file`` TOML is
imported (unsupported keys are listed). Ctrl+C, SIGTERM (a closed terminal, a logout, a polite
"End task") and on Windows closing the console stop after the current step and save a state
(Ctrl+C again stops at once).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from lora_studio.cli.signals import stop_signals
from lora_studio.core.errors import Cancelled, ConfigError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a LoRA from a settings file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "config", help="training settings (.toml; kohya_ss .json or sd-scripts .toml are imported)"
    )
    p.add_argument("--max-steps", type=int, default=None, help="stop after N optimizer steps")
    p.add_argument(
        "--resume",
        metavar="STATE",
        default=None,
        help="continue from a training state file (or 'latest' for the run's newest state)",
    )
    p.add_argument("--quiet", action="store_true", help="print only errors and the result")
    p.set_defaults(handler=run)


def _is_ours(path: Path) -> bool:
    """Our TOML has ``schema_version`` or only our section names; anything else is sd-scripts'."""
    import tomllib
    from dataclasses import fields

    from lora_studio.training.config import TrainConfig

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return True  # load_config says what is wrong with it, in our words
    ours = {f.name for f in fields(TrainConfig)}
    return "schema_version" in data or (bool(data) and set(data) <= ours)


def _load(path: Path, out: TextIO) -> Any:
    from lora_studio.training.config import load_config, resolve_paths

    if path.suffix.lower() == ".json":
        from lora_studio.training.kohya_import import import_kohya_gui_json

        result = import_kohya_gui_json(path)
        config, unknown = result.config, result.unsupported
    elif _is_ours(path):
        config, unknown = load_config(path)  # its errors are the real ones: never re-read as kohya
    else:
        from lora_studio.training.kohya_import import import_sd_scripts_toml

        result = import_sd_scripts_toml(path)
        config, unknown = result.config, result.unsupported
    for key in unknown:
        print(f"warning: setting not used: {key}", file=out)
    return resolve_paths(config, path.parent)


class _Printer:
    """Turns events into a one-line progress bar (TTY) or plain lines (logs, pipes)."""

    def __init__(self, stream: TextIO, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self.last_line = 0.0

    def __call__(self, event: Any) -> None:
        from lora_studio.core import events as E

        if self.quiet:
            if isinstance(event, E.LogLine) and event.level == "WARNING":
                print(f"warning: {event.text}", file=self.stream)  # (skipped pictures: never hidden)
            return
        if isinstance(event, E.StepFinished):
            now = time.monotonic()
            done = event.step / max(1, event.total_steps)
            bar = "#" * int(done * 30)
            text = (
                f"[{bar:<30}] {event.step}/{event.total_steps} epoch {event.epoch} loss {event.loss:.4f} "
                f"avg {event.avg_loss:.4f} lr {event.lr:.2e} {event.it_per_s:.2f} it/s eta {event.eta_s:.0f}s"
            )
            if self.tty:
                self.stream.write("\r" + text)
                self.stream.flush()
            elif now - self.last_line > 5 or event.step == event.total_steps:
                print(text, file=self.stream)
                self.last_line = now
            return
        if self.tty:
            self.stream.write("\n")
        if isinstance(event, E.EpochFinished):
            print(f"epoch {event.epoch} done, average loss {event.avg_loss:.4f}", file=self.stream)
        elif isinstance(event, E.ValidationLoss):
            print(f"validation loss {event.loss:.4f} (step {event.step})", file=self.stream)
        elif isinstance(event, E.SampleReady):
            print(f"sample: {event.path}", file=self.stream)
        elif isinstance(event, E.CheckpointSaved):
            print(f"saved {event.kind}: {event.path}", file=self.stream)
        elif isinstance(event, E.StatusChanged):
            print(event.text, file=self.stream)
        elif isinstance(event, E.Progress) and (event.done == event.total or not self.tty):
            print(f"{event.text} {event.done}/{event.total}", file=self.stream)


def run(args: argparse.Namespace) -> int:
    from lora_studio.core.control import RunControl
    from lora_studio.training.checkpoints import latest_state
    from lora_studio.training.config import update

    config = _load(Path(args.config), sys.stderr)
    if args.max_steps is not None:
        config = update(config, **{"run.max_steps": args.max_steps})
    resume = args.resume
    if resume == "latest":
        resume = latest_state(config.run.output_dir, config.run.output_name)
        if resume is None:
            raise ConfigError("There is no saved state to resume from in the output folder.")
    from lora_studio.training.trainer import run_training
    from lora_studio.training.validation import validate

    for issue in validate(config):
        if not issue.is_error:
            print(f"warning: [{issue.field}] {issue.message}", file=sys.stderr)
    control = RunControl()

    def on_stop(sig: int, _frame: Any) -> None:
        if control.cancelled and sig == signal.SIGINT:
            raise KeyboardInterrupt
        if not control.cancelled:
            what = "Ctrl+C again to stop now" if sig == signal.SIGINT else "saving a state"
            print(f"\nstopping after this step ({what})…", file=sys.stderr)
        control.cancel()

    try:
        with stop_signals(on_stop, control):
            result = run_training(config, _Printer(sys.stderr, args.quiet), control, resume_from=resume)
    except Cancelled:
        state = latest_state(config.run.output_dir, config.run.output_name)
        print(f"stopped; resume with: lora-studio train {args.config} --resume {state}", file=sys.stderr)
        return 130
    print(f"done: {result.final_lora} ({result.steps} steps)")
    return 0
