"""Frozen dataclass trees <-> plain dicts <-> TOML, with ``schema_version`` and migrations.

Rules: enums are written by value; tuples/lists as arrays; ``None`` is left out (TOML has no null)
and comes back as the field's default; unknown keys are collected and reported, never silently
dropped.
"""

from __future__ import annotations

import dataclasses
import enum
import tomllib
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

from lora_studio.core.errors import ConfigError
from lora_studio.core.fileio import atomic_write_text

T = TypeVar("T")


def to_dict(obj: Any) -> Any:
    """Dataclass tree -> TOML-ready plain data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if value is None:
                continue
            out[f.name] = to_dict(value)
        return out
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return obj.as_posix()
    return obj


def _convert(tp: Any, value: Any, where: str, unknown: list[str]) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        non_none = [a for a in args if a is not type(None)]
        errors = []
        for a in non_none:
            try:
                return _convert(a, value, where, unknown)
            except (ConfigError, TypeError, ValueError) as exc:
                errors.append(str(exc))
        raise ConfigError(f"'{where}' has a value of the wrong kind: {value!r}.")
    if tp is Any:
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"'{where}' should be a table of settings, not {value!r}.")
        return _from_dict(tp, value, where, unknown)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            choices = ", ".join(str(m.value) for m in tp)
            raise ConfigError(f"'{where}' is {value!r}; it must be one of: {choices}.") from None
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{where}' should be a list, not {value!r}.")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{where}[{i}]", unknown) for i, v in enumerate(value))
        if origin is tuple and args:
            return tuple(_convert(a, v, f"{where}[{i}]", unknown) for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        seq = [_convert(item, v, f"{where}[{i}]", unknown) for i, v in enumerate(value)]
        return tuple(seq) if origin is tuple else seq
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"'{where}' should be a table, not {value!r}.")
        vt = args[1] if len(args) == 2 else Any
        return {k: _convert(vt, v, f"{where}.{k}", unknown) for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"'{where}' should be a number, not {value!r}.")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"'{where}' should be a whole number, not {value!r}.")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"'{where}' should be true or false, not {value!r}.")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"'{where}' should be text, not {value!r}.")
        return value
    return value


def _from_dict(cls: type[T], data: dict[str, Any], where: str, unknown: list[str]) -> T:
    hints = typing.get_type_hints(cls)
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in names:
            unknown.append(path)
            continue
        kwargs[key] = _convert(hints[key], value, path, unknown)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"Settings '{where or cls.__name__}' are incomplete: {exc}.") from exc


def from_dict(cls: type[T], data: dict[str, Any]) -> tuple[T, list[str]]:
    """Plain data -> dataclass tree. Returns the object and the list of unknown keys (dotted)."""
    unknown: list[str] = []
    return _from_dict(cls, data, "", unknown), unknown


Migration = Callable[[dict[str, Any]], dict[str, Any]]


def load_toml(
    cls: type[T],
    path: str | Path,
    *,
    current_version: int,
    migrations: dict[int, Migration] | None = None,
) -> tuple[T, list[str]]:
    """Read a TOML settings file. ``migrations[v]`` turns a version-v dict into version v+1."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"The settings file {path} does not exist.", hint="Check the path.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"The settings file {path.name} is not valid TOML: {exc}.",
            hint="Fix the line it names, or save the settings again from the app.",
        ) from exc
    return from_toml_dict(cls, data, current_version=current_version, migrations=migrations)


def from_toml_dict(
    cls: type[T],
    data: dict[str, Any],
    *,
    current_version: int,
    migrations: dict[int, Migration] | None = None,
) -> tuple[T, list[str]]:
    version = data.get("schema_version", current_version)
    if not isinstance(version, int) or version > current_version:
        raise ConfigError(
            f"These settings were written by a newer LoRA Studio (schema {version}).",
            hint="Update LoRA Studio to open them.",
        )
    while version < current_version:
        step = (migrations or {}).get(version)
        if step is None:
            raise ConfigError(f"Settings schema {version} can no longer be read.")
        data = step(dict(data))
        version += 1
        data["schema_version"] = version
    return from_dict(cls, data)


def dumps_toml(obj: Any) -> str:
    return tomli_w.dumps(to_dict(obj))


def save_toml(obj: Any, path: str | Path) -> None:
    atomic_write_text(path, dumps_toml(obj))
