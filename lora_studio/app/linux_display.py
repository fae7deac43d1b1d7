"""Finds the X11 libraries Qt's xcb plugin needs before Qt tries to open a window on Linux.

When one is missing, Qt aborts the process with "xcb-cursor0 or libxcb-cursor0 is needed", whatever
the missing library really is (on a fresh desktop install it is usually ``libxcb-icccm4`` and
``libxcb-keysyms1``). We look first, so the person is told which packages to install, in one line.
No Qt import here: this runs before Qt is loaded.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

# The shared libraries Qt 6's xcb platform plugin links to or opens at run time, with the Debian /
# Ubuntu package that holds each. libxcb-cursor is opened with dlopen, so linkers never list it.
XCB_LIBRARIES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
}

# Every package above: the README's install line for Linux desktops names the same set.
APT_PACKAGES = tuple(dict.fromkeys(XCB_LIBRARIES.values()))

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def will_use_xcb(
    environ: dict[str, str] | os._Environ[str] | None = None, platform: str = sys.platform
) -> bool:
    """True when Qt is about to open an X11 window (Linux, a DISPLAY, no other platform chosen)."""
    env = os.environ if environ is None else environ
    if not platform.startswith("linux"):
        return False
    chosen = env.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(":")[0].split(";")[0] == "xcb"
    # Without a choice Qt 6 prefers Wayland where a Wayland session runs; the xcb check is for X11.
    return bool(env.get("DISPLAY")) and not env.get("WAYLAND_DISPLAY")


def xcb_plugin_files() -> list[Path]:
    """Qt's xcb plugin and the library it links against, from the installed PySide6 (no import)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return []
    qt = Path(next(iter(spec.submodule_search_locations))) / "Qt"
    candidates = [qt / "plugins" / "platforms" / "libqxcb.so", *sorted((qt / "lib").glob("libQt6XcbQpa.so*"))]
    return [path for path in candidates if path.is_file()]


def _ldd_missing(files: Iterable[Path]) -> list[str] | None:
    """Names ``ldd`` reports as "not found" for the files, or None when ldd can't be used."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    missing: list[str] = []
    for path in files:
        try:
            out = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        missing.extend(_NOT_FOUND.findall(out))
    return list(dict.fromkeys(missing))


def _can_load(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_libraries(
    files: Iterable[Path] | None = None,
    can_load: Callable[[str], bool] = _can_load,
    ldd_missing: Callable[[Iterable[Path]], list[str] | None] = _ldd_missing,
) -> list[str]:
    """Shared libraries the xcb plugin needs that this system can't load, most telling first."""
    plugin_files = xcb_plugin_files() if files is None else list(files)
    linked = ldd_missing(plugin_files) if plugin_files else None
    if linked is None:  # no ldd (or no plugin found): try each library Qt is known to need
        linked = [name for name in XCB_LIBRARIES if name != "libxcb-cursor.so.0" and not can_load(name)]
    opened_later = [] if can_load("libxcb-cursor.so.0") else ["libxcb-cursor.so.0"]
    return list(dict.fromkeys([*linked, *opened_later]))


def missing_libraries_message(missing: list[str]) -> str:
    packages = [XCB_LIBRARIES.get(name, name) for name in missing]
    return (
        "LoRA Studio can't open its window: this Linux system lacks libraries that Qt needs to draw "
        f"on the X11 screen ({', '.join(missing)}).\n"
        "Install them, then start LoRA Studio again:\n\n"
        f"    sudo apt-get install {' '.join(packages)}\n\n"
        "(On Fedora or Arch the packages have similar names: look for xcb-util-wm, xcb-util-keysyms, "
        "xcb-util-cursor.) To try the app without a screen, set QT_QPA_PLATFORM=offscreen."
    )


def check_display_libraries() -> str | None:
    """The message to show instead of starting Qt, or None when the window can open."""
    if not will_use_xcb():
        return None
    missing = missing_libraries()
    return missing_libraries_message(missing) if missing else None
