from __future__ import annotations

import dataclasses
import enum
import threading
import time

import pytest

from lora_studio.core.control import Command, RunControl
from lora_studio.core.errors import Cancelled, ConfigError, LoraStudioError, ModelLoadError
from lora_studio.core.fileio import atomic_write_text, atomic_write_with
from lora_studio.core.serialization import dumps_toml, from_toml_dict, load_toml, save_toml
from lora_studio.core.settings import AppSettings, Theme, load_settings, save_settings


class Color(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Inner:
    rate: float = 1e-4
    names: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Outer:
    schema_version: int = 2
    color: Color = Color.RED
    inner: Inner = Inner()
    maybe: int | None = None
    steps: int = 10


def test_toml_round_trip_keeps_every_value(tmp_path):
    obj = Outer(color=Color.BLUE, inner=Inner(rate=3e-5, names=("a", "ü")), maybe=7, steps=3)
    save_toml(obj, tmp_path / "c.toml")
    back, unknown = load_toml(Outer, tmp_path / "c.toml", current_version=2)
    assert back == obj and unknown == []


def test_unknown_keys_are_reported_not_dropped_silently():
    back, unknown = from_toml_dict(Outer, {"schema_version": 2, "stepz": 5, "inner": {"ratee": 1}}, current_version=2)
    assert back == Outer()
    assert sorted(unknown) == ["inner.ratee", "stepz"]


def test_migration_runs_and_bad_values_get_clear_errors():
    migrated, _ = from_toml_dict(
        Outer, {"schema_version": 1, "n_steps": 4}, current_version=2, migrations={1: lambda d: {"steps": d.pop("n_steps")}}
    )
    assert migrated.steps == 4
    with pytest.raises(ConfigError, match="one of: red, blue"):
        from_toml_dict(Outer, {"color": "green"}, current_version=2)
    with pytest.raises(ConfigError, match="whole number"):
        from_toml_dict(Outer, {"steps": "ten"}, current_version=2)
    with pytest.raises(ConfigError, match="newer"):
        from_toml_dict(Outer, {"schema_version": 9}, current_version=2)
    assert "schema_version = 2" in dumps_toml(Outer())


def test_broken_toml_file_is_a_config_error(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("steps = [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_toml(Outer, p, current_version=2)


def test_atomic_write_keeps_old_file_when_writer_fails(tmp_path):
    target = tmp_path / "caption.txt"
    atomic_write_text(target, "old")

    def boom(tmp):
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write_with(target, boom)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["caption.txt"]


def test_run_control_cancel_pause_and_commands():
    control = RunControl()
    control.send(Command.SAVE_NOW)
    assert control.checkpoint() == [Command.SAVE_NOW]
    assert control.checkpoint() == []
    control.pause()
    resumed_at = []

    def resume_later():
        time.sleep(0.2)
        resumed_at.append(time.monotonic())
        control.resume()

    threading.Thread(target=resume_later).start()
    control.checkpoint()  # blocks until resumed
    assert resumed_at
    control.cancel()
    with pytest.raises(Cancelled):
        control.checkpoint()


def test_cancel_wakes_a_paused_job():
    control = RunControl()
    control.pause()
    threading.Timer(0.1, control.cancel).start()
    with pytest.raises(Cancelled):
        control.checkpoint()


def test_errors_carry_hint():
    err = ModelLoadError("The file is empty.", hint="Download it again.")
    assert isinstance(err, LoraStudioError)
    assert str(err) == "The file is empty. Download it again."


def test_settings_persist_and_broken_file_falls_back(tmp_path):
    p = tmp_path / "settings.toml"
    s = AppSettings(theme=Theme.DARK, lora_dirs=("/x/loras",)).with_recent("/p/one").with_recent("/p/two")
    save_settings(s, p)
    back = load_settings(p)
    assert back == s and back.recent_projects == ("/p/two", "/p/one")
    p.write_text("theme = 'purple'", encoding="utf-8")
    assert load_settings(p) == AppSettings()
    assert (tmp_path / "settings.broken.toml").exists()
