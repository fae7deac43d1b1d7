"""``lora-studio train CONFIG [--max-steps N] [--resume STATE]``: train a LoRA from a settings file.

Resuming uses the settings saved in the state (a longer run is allowed: more epochs or max steps),
exactly as the app's Resume does (both call ``lora_studio.training.run.start_run``).

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
from typing import TYPE_CHECKING, Any, TextIO

from lora_studio.cli.signals import stop_signals
from lora_studio.core.errors import Cancelled

if TYPE_CHECKING:
    from lora_studio.training.config import TrainConfig


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
        help="continue from a training state file (or 'latest' for the run's newest state); the settings "
        "saved in the state are used, only more epochs or a higher --max-steps are taken over",
    )
    p.add_argument(
        "--fit",
        action="store_true",
        help="first measure a few steps and switch on the cheapest memory savers that fit the card (CUDA)",
    )
    p.add_argument("--quiet", action="store_true", help="print only errors and the result")
    p.set_defaults(handler=run)


def _load(path: Path, out: TextIO) -> TrainConfig:
    from lora_studio.training.config_files import read_config_file

    loaded = read_config_file(path)
    for key in loaded.not_understood:
        print(f"warning: setting not used: {key}", file=out)
    return loaded.config


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
    from lora_studio.training.config import update
    from lora_studio.training.run import new_run_config, start_run
    from lora_studio.training.run_files import latest_state
    from lora_studio.training.validation import validate

    config = _load(Path(args.config), sys.stderr)
    if args.max_steps is not None:
        config = update(config, **{"run.max_steps": args.max_steps})
    for issue in validate(config):
        if not issue.is_error:
            print(f"warning: [{issue.field}] {issue.message}", file=sys.stderr)
    if args.fit:
        from lora_studio.training.fit import measure_fit

        choice = measure_fit(config, report=lambda text: print(text, file=sys.stderr))
        print(choice.summary(), file=sys.stderr)
        if not choice.fits:
            return 1
        config = choice.config
    control = RunControl()

    def on_stop(sig: int, _frame: Any) -> None:
        if control.cancelled and sig == signal.SIGINT:
            raise KeyboardInterrupt
        if not control.cancelled:
            what = "Ctrl+C again to stop now" if sig == signal.SIGINT else "saving a state"
            print(f"\nstopping after this step ({what})…", file=sys.stderr)
        control.cancel()

    if not args.resume:  # never overwrite an earlier run's LoRA (zorb -> zorb-2); a resume keeps its name
        wanted, config = config.run.output_name, new_run_config(config)
        if config.run.output_name != wanted:
            print(
                f"{wanted}.safetensors is from an earlier run and is kept; this run is saved as "
                f"{config.run.output_name}.",
                file=sys.stderr,
            )
    try:
        with stop_signals(on_stop, control):
            # Resume means what it means in the app: see lora_studio.training.run.
            result = start_run(config, _Printer(sys.stderr, args.quiet), control, resume=args.resume)
    except Cancelled:
        state = latest_state(config.run.output_dir, config.run.output_name)
        print(f"stopped; resume with: lora-studio train {args.config} --resume {state}", file=sys.stderr)
        return 130
    print(f"done: {result.final_lora} ({result.steps} steps)")
    return 0
