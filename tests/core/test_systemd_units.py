"""The systemd units: `systemd-analyze verify` clean, exposure of the main service at most
1.5 (with and without the intranet drop-in), every ExecStart a real CLI command, every
Documentation= file shipped."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from appliance.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
DROP_IN_EXAMPLE = UNITS / "appliance.service.d" / "10-intranet.conf.example"
INSTALL_PREFIX = "/opt/appliance/"
MAX_MAIN_EXPOSURE = 1.5
MAX_TIMER_EXPOSURE = 0.5
SYSTEM_UNITS = next(
    (p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir()),
    None,
)
REQUIRED_IN_MAIN = (
    "ProtectProc=invisible",
    "ProcSubset=pid",
    "PrivateUsers=yes",
    "RemoveIPC=yes",
    "DevicePolicy=closed",
    "DeviceAllow=char-nvidia-frontend rw",
    "DeviceAllow=char-nvidia-uvm rw",
    "SystemCallFilter=@system-service",
    "SystemCallFilter=~@privileged @resources",
    "LimitCORE=0",
    "IPAddressDeny=any",
)


def _units(suffix: str) -> list[Path]:
    return sorted(UNITS.glob(f"*.{suffix}"))


def _values(unit: Path, key: str) -> list[str]:
    return [
        line.split("=", 1)[1].strip()
        for line in unit.read_text().splitlines()
        if line.startswith(f"{key}=")
    ]


def _analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None or SYSTEM_UNITS is None:
        pytest.skip("systemd-analyze or the system unit directory is absent on this host")
    return tool


def _root(tmp_path: Path, *, drop_in: bool) -> Path:
    """A throwaway root as the installer leaves it: system units, our units, the binary."""
    assert SYSTEM_UNITS is not None
    root = tmp_path / ("root-drop-in" if drop_in else "root")
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    target = root / "etc/systemd/system"
    target.mkdir(parents=True)
    for unit in _units("service") + _units("timer"):
        shutil.copy(unit, target / unit.name)
        for command in _values(unit, "ExecStart"):
            binary = root / shlex.split(command)[0].lstrip("/")
            binary.parent.mkdir(parents=True, exist_ok=True)
            binary.write_text("#!/bin/sh\n")
            binary.chmod(0o755)
    if drop_in:
        (target / "appliance.service.d").mkdir()
        shutil.copy(DROP_IN_EXAMPLE, target / "appliance.service.d" / "10-intranet.conf")
    return root


def _exposure(tool: str, root: Path, unit: str) -> float:
    result = subprocess.run(
        [tool, "security", "--offline=yes", f"--root={root}", "--no-pager", unit],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(rf"Overall exposure level for {re.escape(unit)}: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    return float(match.group(1))


def test_units_are_shipped_in_pairs() -> None:
    """Every timer triggers a service of the same name, and the four jobs exist."""
    services = {p.stem for p in _units("service")}
    timers = {p.stem for p in _units("timer")}
    assert timers <= services
    assert {
        "appliance-retention",
        "appliance-audit-verify",
        "appliance-keys-shred",
        "appliance-backup",
    } <= timers


@pytest.mark.parametrize("drop_in", [False, True], ids=["plain", "intranet-drop-in"])
def test_systemd_analyze_verify_is_clean(tmp_path: Path, drop_in: bool) -> None:
    """`systemd-analyze verify` prints nothing and exits 0 for every unit."""
    tool = _analyze()
    root = _root(tmp_path, drop_in=drop_in)
    units = sorted(str(p) for p in (root / "etc/systemd/system").glob("*.*") if p.is_file())
    result = subprocess.run(
        [tool, "verify", f"--root={root}", *units], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), (
        result.stdout + result.stderr
    )


@pytest.mark.parametrize("drop_in", [False, True], ids=["plain", "intranet-drop-in"])
def test_exposure_levels(tmp_path: Path, drop_in: bool) -> None:
    """appliance.service scores at most 1.5 (1.1 measured, 1.2 with the intranet drop-in);
    the timer jobs, which need neither GPU nor network, at most 0.5 (0.2 measured)."""
    tool = _analyze()
    root = _root(tmp_path, drop_in=drop_in)
    assert _exposure(tool, root, "appliance.service") <= MAX_MAIN_EXPOSURE
    for timer in _units("timer"):
        assert _exposure(tool, root, f"{timer.stem}.service") <= MAX_TIMER_EXPOSURE


def test_main_unit_keeps_the_required_hardening() -> None:
    """The settings issue 14 requires are there; the intranet range is only in the drop-in."""
    lines = set(UNITS.joinpath("appliance.service").read_text().splitlines())
    missing = [setting for setting in REQUIRED_IN_MAIN if setting not in lines]
    assert not missing
    assert _values(UNITS / "appliance.service", "IPAddressAllow") == ["localhost"]
    assert _values(DROP_IN_EXAMPLE, "IPAddressAllow")


def _resolve(argv: list[str]) -> tuple[click.Command, list[str]]:
    """The click command an ExecStart names (after the global options), and its arguments."""
    global_options = {opt for param in cli.params for opt in param.opts}
    while argv and argv[0].startswith("-"):
        option = argv.pop(0).split("=", 1)[0]
        assert option in global_options, f"unknown global option {option}"
        if "=" not in option:
            argv.pop(0)
    command: click.Command = cli
    while isinstance(command, click.Group):
        assert argv, "ExecStart names a command group, not a command"
        name = argv.pop(0)
        assert name in command.commands, f"no CLI command {name!r}"
        command = command.commands[name]
    return command, argv


@pytest.mark.parametrize("unit", _units("service"), ids=lambda p: p.name)
def test_exec_start_names_an_existing_cli_command(unit: Path) -> None:
    """Each ExecStart runs `appliance ... COMMAND` with options the command accepts."""
    commands = _values(unit, "ExecStart")
    assert len(commands) == 1
    argv = shlex.split(commands[0])
    assert argv[0] == "/opt/appliance/.venv/bin/appliance"
    command, rest = _resolve(argv[1:])
    context = command.make_context(command.name or "", rest)  # raises on unknown options
    assert context.command is command


@pytest.mark.parametrize("unit", _units("service") + _units("timer"), ids=lambda p: p.name)
def test_documentation_points_at_a_shipped_file(unit: Path) -> None:
    """Documentation= names a file under the install prefix that the repository ships."""
    urls = " ".join(_values(unit, "Documentation")).split()
    assert urls
    for url in urls:
        assert url.startswith(f"file://{INSTALL_PREFIX}")
        assert (REPO / url.removeprefix(f"file://{INSTALL_PREFIX}")).is_file(), url
