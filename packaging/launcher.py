"""Entry script of the frozen build (both executables): the same start-up as ``python -m lora_studio``.

Kept in packaging/ so the spec has one script it owns. ``LORA_STUDIO_PACKAGING_CHECK=1`` runs the
packaging self-check (``lora_studio_packaging_check``) instead of the app; CI uses it to prove the
frozen bundle is complete, independent of the app's own ``--selftest``.
"""

from __future__ import annotations

import multiprocessing
import os
import sys


def main() -> int:
    if os.environ.get("LORA_STUDIO_PACKAGING_CHECK") == "1":
        import lora_studio_packaging_check

        return lora_studio_packaging_check.main(sys.argv[1:])
    from lora_studio.__main__ import gui_main

    return gui_main()


if __name__ == "__main__":
    multiprocessing.freeze_support()  # child processes of a frozen app must not re-run the app
    sys.exit(main())
