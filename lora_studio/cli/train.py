"""``lora-studio train CONFIG [--max-steps N] [--resume STATE]``: train a LoRA from a settings file.

CONFIG is a LoRA Studio TOML; a kohya_ss GUI ``.json`` or an sd-scripts ``--config_file`` TOML is
imported (unsupported keys are listed). Ctrl+C stops after the current step and saves a state
(press it again to stop at once).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

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
    p.add_argument(
        "--fit",
        action="store_true",
        help="first measure a few steps and switch on the cheapest memory savers that fit the card (CUDA)",
    )
    p.add_argument("--quiet", action="store_true", help="print only errors and the result")
    p.set_defaults(handler=run)


def _load(path: Path, out: TextIO) -> Any:
    from lora_studio.training.config import load_config, resolve_paths

    if path.suffix.lower() == ".json":
        from lora_studio.training.kohya_import import import_kohya_gui_json

        result = import_kohya_gui_json(path)
        config, unknown = result.config, result.unsupported
    else:
        try:
            config, unknown = load_config(path)
            if unknown and "schema_version" not in path.read_text(encoding="utf-8-sig"):
                raise ConfigError("not a LoRA Studio config")
        except ConfigError:
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
    if args.fit:
        from lora_studio.training.fit import measure_fit

        choice = measure_fit(config, report=lambda text: print(text, file=sys.stderr))
        print(choice.summary(), file=sys.stderr)
        if not choice.fits:
            return 1
        config = choice.config
    control = RunControl()
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(_sig: int, _frame: Any) -> None:
        if control.cancelled:
            raise KeyboardInterrupt
        print("\nstopping after this step (Ctrl+C again to stop now)…", file=sys.stderr)
        control.cancel()

    signal.signal(signal.SIGINT, on_sigint)
    try:
        result = run_training(config, _Printer(sys.stderr, args.quiet), control, resume_from=resume)
    except Cancelled:
        state = latest_state(config.run.output_dir, config.run.output_name)
        print(f"stopped; resume with: lora-studio train {args.config} --resume {state}", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
    print(f"done: {result.final_lora} ({result.steps} steps)")
    return 0
