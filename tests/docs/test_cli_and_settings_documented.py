"""Every CLI command and option is in docs/cli.md, every setting in docs/configuration.md,
and neither page names a command or setting that does not exist."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from pathlib import Path

import click

from appliance import settings as settings_module
from appliance.cli.main import cli
from appliance.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
HEADING = re.compile(r"^### `appliance ([a-z0-9 -]+)`$", re.MULTILINE)


def commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    """Every leaf command as ("tokens create", command)."""
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


def sections(text: str) -> dict[str, str]:
    """The text of each `### appliance X` section of docs/cli.md, by command path."""
    found = list(HEADING.finditer(text))
    return {
        m.group(1): text[m.end() : found[i + 1].start() if i + 1 < len(found) else len(text)]
        for i, m in enumerate(found)
    }


def setting_keys(cls: type = Settings, prefix: str = "") -> Iterator[str]:
    """Every settings key as written in TOML: data_dir, index.dtype, ..."""
    hints = typing.get_type_hints(cls, vars(settings_module))
    for spec in fields(cls):
        kind = hints[spec.name]
        if is_dataclass(kind):
            yield from setting_keys(kind, f"{prefix}{spec.name}.")
        else:
            yield f"{prefix}{spec.name}"


def test_every_command_and_option_is_in_cli_md() -> None:
    """docs/cli.md has a section per command naming each of its options."""
    documented = sections((DOCS / "cli.md").read_text(encoding="utf-8"))
    missing = []
    for path, command in commands(cli):
        if path not in documented:
            missing.append(f"appliance {path}")
            continue
        for param in command.params:
            if isinstance(param, click.Option):
                name = max(param.opts, key=len)
                if f"`{name}`" not in documented[path]:
                    missing.append(f"appliance {path} {name}")
    assert not missing, (
        "docs/cli.md lacks (add a `### `appliance CMD`` section or an option row): "
        + ", ".join(missing)
    )


def test_cli_md_names_only_existing_commands() -> None:
    """No section of docs/cli.md describes a command that is gone."""
    existing = {path for path, _ in commands(cli)}
    stale = sorted(set(sections((DOCS / "cli.md").read_text(encoding="utf-8"))) - existing)
    assert not stale, f"docs/cli.md describes commands that do not exist: {stale}"


def test_every_setting_is_in_configuration_md() -> None:
    """docs/configuration.md names every settings key (`section.key`)."""
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [key for key in setting_keys() if f"`{key}`" not in text]
    assert not missing, f"docs/configuration.md lacks these settings: {', '.join(missing)}"


def test_configuration_md_names_only_existing_settings() -> None:
    """Every key in the first column of the settings table exists."""
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([a-z_]+(?:\.[a-z_]+)?)`", text, re.MULTILINE))
    listed |= set(re.findall(r"^\| `[a-z_.]+` / `([a-z_]+\.[a-z_]+)`", text, re.MULTILINE))
    stale = sorted(listed - set(setting_keys()))
    assert not stale, f"docs/configuration.md documents settings that do not exist: {stale}"
