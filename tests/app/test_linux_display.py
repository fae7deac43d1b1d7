"""Linux first start: a missing X11 library is named with its package, instead of Qt's misleading abort."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lora_studio.app import linux_display
from lora_studio.app.launch import launch_app


def test_xcb_is_only_checked_when_qt_will_open_an_x11_window():
    assert linux_display.will_use_xcb({"DISPLAY": ":0"}, "linux")
    assert linux_display.will_use_xcb({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not linux_display.will_use_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not linux_display.will_use_xcb({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not linux_display.will_use_xcb({}, "linux")
    assert not linux_display.will_use_xcb({"DISPLAY": ":0"}, "win32")


def test_missing_libraries_come_from_ldd_plus_the_cursor_library_qt_opens_later(tmp_path):
    plugin = tmp_path / "libqxcb.so"
    plugin.write_bytes(b"")

    def ldd(files):
        assert list(files) == [plugin]
        return ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]

    missing = linux_display.missing_libraries([plugin], can_load=lambda name: False, ldd_missing=ldd)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0"]
    # Without ldd every library Qt needs is tried by loading it.
    loadable = {"libxcb-cursor.so.0", *linux_display.XCB_LIBRARIES} - {"libxcb-image.so.0"}
    assert linux_display.missing_libraries(
        [plugin], can_load=loadable.__contains__, ldd_missing=lambda f: None
    ) == ["libxcb-image.so.0"]


def test_ldd_output_is_parsed_on_this_machine():
    # Whatever this machine has installed, every name reported must be a real "not found" line of ldd.
    files = linux_display.xcb_plugin_files()
    assert files, "PySide6's xcb plugin should be installed with PySide6-Essentials"
    missing = linux_display._ldd_missing(files)
    if missing is not None:
        out = "".join(subprocess.run(["ldd", str(f)], capture_output=True, text=True).stdout for f in files)
        assert all(f"{name} => not found" in out for name in missing)
        assert out.count("not found") >= len(missing)


def test_message_names_the_packages_in_one_apt_line():
    message = linux_display.missing_libraries_message(["libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1\n" in message
    assert "xcb-cursor0" not in message


def test_launcher_stops_with_the_package_message_before_qt_loads(monkeypatch, capsys):
    monkeypatch.setattr(linux_display, "will_use_xcb", lambda: True)
    monkeypatch.setattr(linux_display, "missing_libraries", lambda: ["libxcb-keysyms.so.1"])
    assert launch_app() == 1
    assert "sudo apt-get install libxcb-keysyms1" in capsys.readouterr().err


def test_readme_install_line_names_every_package():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    line = next(line for line in readme.splitlines() if line.startswith("sudo apt-get install"))
    assert set(line.split()[3:]) == set(linux_display.APT_PACKAGES)


def test_check_runs_without_importing_qt():
    code = (
        "import sys; from lora_studio.app import linux_display; linux_display.missing_libraries(); "
        "assert not any(m.startswith('PySide6.Qt') for m in sys.modules), 'Qt imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
