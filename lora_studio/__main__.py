"""``python -m lora_studio`` and the frozen executable's entry point."""

from __future__ import annotations

import multiprocessing
import sys


def gui_main() -> int:
    from lora_studio.cli.main import main

    return main(sys.argv[1:])


if __name__ == "__main__":
    multiprocessing.freeze_support()  # frozen builds: child processes must not re-run the app
    sys.exit(gui_main())
