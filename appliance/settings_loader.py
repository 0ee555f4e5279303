"""Turning TOML tables and environment variables into frozen settings dataclasses.

Generic over the dataclasses of ``appliance.settings``: a field whose type is a dataclass is
a section (a nested table); every other field is converted from its annotation (``Literal``
choices, bool, int, float, str, Path) and checked by its ``metadata["check"]``. Annotations
are resolved with ``typing.get_type_hints``, so a new section or type needs no registry.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Collection, Mapping
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from appliance.errors import ConfigError


def section_names(cls: type) -> set[str]:
    """The fields of ``cls`` that are sections (dataclass-typed)."""
    hints = typing.get_type_hints(cls)
    return {f.name for f in fields(cls) if is_dataclass(hints[f.name])}


def environment_overrides(
    env: Mapping[str, str], prefix: str, *, ignore: Collection[str], top: type
) -> dict[str, Any]:
    """``PREFIX<SECTION>__<KEY>`` and ``PREFIX<KEY>`` variables as a nested dict of strings."""
    overrides: dict[str, Any] = {}
    sections = section_names(top)
    for name, value in env.items():
        if not name.startswith(prefix) or name in ignore:
            continue
        key = name[len(prefix) :].lower()
        if "__" in key:
            section, _, leaf = key.partition("__")
            if section not in sections:
                raise ConfigError(
                    f"environment variable {name}: unknown section {section!r}",
                    remedy=f"use one of {', '.join(sorted(sections))}",
                )
            overrides.setdefault(section, {})[leaf] = value
        else:
            overrides[key] = value
    return overrides


def build(cls: type, raw: Mapping[str, Any], source: str, prefix: str = "") -> Any:
    """An instance of the dataclass ``cls`` from ``raw``; a ``ConfigError`` names the key,
    ``source`` and the reason."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'top level'}: must be a table")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(
            f"{source}: unknown setting {prefix}{unknown[0]}",
            remedy=f"known keys here: {', '.join(sorted(known))}",
        )
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, spec in known.items():
        key = f"{prefix}{name}"
        annotation = hints[name]
        if name not in raw:
            if is_dataclass(annotation):
                values[name] = annotation()
            continue
        value = raw[name]
        if is_dataclass(annotation):
            values[name] = build(annotation, value, source, prefix=f"{key}.")
            continue
        converted = _convert(value, annotation, source, key)
        check = spec.metadata.get("check")
        problem = check(converted) if check else None
        if problem:
            raise ConfigError(f"{source}: {key}: {problem} (got {value!r})")
        values[name] = converted
    missing = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
    for name in missing:
        if name not in values:
            raise ConfigError(f"{source}: {prefix}{name} is required")
    return cls(**values)


def _convert(value: Any, annotation: Any, source: str, key: str) -> Any:
    origin = get_origin(annotation)
    if origin is Literal:
        choices = get_args(annotation)
        text = str(value).lower() if isinstance(value, str) else value
        if text not in choices:
            raise ConfigError(
                f"{source}: {key}: must be one of {', '.join(map(str, choices))} (got {value!r})"
            )
        return text
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"{source}: {key}: unsupported setting type")
    try:
        if annotation is bool:
            if isinstance(value, bool):
                return value
            lowered = str(value).strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if annotation is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if annotation is float:
            return float(value)
        if annotation is Path:
            if not isinstance(value, str | Path) or not str(value):
                raise ValueError(value)
            return Path(value).expanduser()
        if annotation is str:
            if not isinstance(value, str):
                raise ValueError(value)
            return value
    except (TypeError, ValueError) as exc:
        kind = getattr(annotation, "__name__", str(annotation))
        raise ConfigError(f"{source}: {key}: expected {kind} (got {value!r})") from exc
    raise ConfigError(f"{source}: {key}: unsupported setting type {annotation!r}")


def as_dict(settings: Any) -> dict[str, Any]:
    """A settings dataclass as nested plain dicts."""
    out: dict[str, Any] = {}
    for spec in fields(settings):
        value = getattr(settings, spec.name)
        out[spec.name] = as_dict(value) if is_dataclass(value) else value
    return out


def merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` applied, table by table."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged
