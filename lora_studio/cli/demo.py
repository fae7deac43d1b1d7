"""``lora-studio demo create DIR``: write the demo project."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="the built-in demo project (tiny model, dataset, config)")
    sub = parser.add_subparsers(dest="demo_command", metavar="ACTION", required=True)
    p = sub.add_parser("create", help="write the demo project into a new folder")
    p.add_argument("dir", help="a new (or empty) folder")
    p.add_argument("--seed", type=int, default=0, help="seed for the pictures and the tiny model")
    p.add_argument(
        "--family",
        choices=("sd1", "sd2", "sdxl", "flux"),
        default="sd1",
        help="the tiny base model: SD 1.5-like (default), SD 2.x-like, SDXL-like or FLUX.1-dev-like "
        "(FLUX: transformer in models/checkpoints, clip_l + t5xxl in models/text_encoders, ae in models/vae)",
    )
    p.set_defaults(handler=_create)


def _create(args: argparse.Namespace) -> int:
    from lora_studio.core.events import StatusChanged
    from lora_studio.demo import TRAIN_CONFIG, create_demo_project

    def report(event: object) -> None:
        if isinstance(event, StatusChanged):
            print(event.text)

    root = create_demo_project(args.dir, reporter=report, seed=args.seed, family=args.family)
    print(f"Train it with:  lora-studio train {root / TRAIN_CONFIG}")
    return 0
