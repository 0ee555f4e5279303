"""``appliance`` command line entry point: global options, then one command group each."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import NoReturn

import click

from appliance.cli.context import CliContext
from appliance.errors import ApplianceError, storage_error_from
from appliance.observability import configure_logging
from appliance.settings import load_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="APPLIANCE_DATA_DIR",
    help="Data directory (also APPLIANCE_DATA_DIR).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML settings file (default /etc/appliance/appliance.toml if present).",
)
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, config_file: Path | None) -> None:
    """Privacy-first on-premise multimodal embedding appliance."""
    os.umask(0o077)
    settings = load_settings(config_file, data_dir=data_dir)
    configure_logging(settings.logging.level, settings.logging.format)
    ctx.obj = CliContext(settings=settings)


def _register() -> None:
    from appliance.cli import (
        align,
        audit,
        backup,
        bench,
        inventory,
        keys,
        maintenance,
        models,
        policy,
        retention,
        risk,
        risk_attacks,
        serve,
        space,
        tokens,
    )

    cli.add_command(maintenance.init)
    cli.add_command(maintenance.status)
    cli.add_command(maintenance.subjects)
    cli.add_command(keys.keys)
    cli.add_command(audit.audit)
    cli.add_command(bench.bench)
    cli.add_command(tokens.tokens)
    cli.add_command(serve.serve)
    cli.add_command(serve.quickstart)
    cli.add_command(policy.policy)
    cli.add_command(policy.consents)
    cli.add_command(inventory.inventory)
    cli.add_command(retention.retention)
    cli.add_command(models.models)
    cli.add_command(align.align)
    cli.add_command(space.space)
    cli.add_command(backup.backup)
    cli.add_command(backup.restore)
    cli.add_command(risk.risk)
    risk_attacks.register(risk.risk)


_register()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; appliance errors print their message and remedy, not a traceback."""
    try:
        cli.main(args=argv, prog_name="appliance", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ApplianceError as exc:
        _fail(exc)
    except (OSError, sqlite3.Error) as exc:  # a read-only or full disk: error and remedy
        _fail(_storage_error(exc))


def _fail(exc: ApplianceError) -> NoReturn:
    click.echo(f"error: {exc.message}", err=True)
    if exc.remedy:
        click.echo(f"remedy: {exc.remedy}", err=True)
    sys.exit(exc.exit_status)


def _storage_error(exc: OSError | sqlite3.Error) -> ApplianceError:
    """The CLI's error for a file-system or SQLite failure (no traceback)."""
    from appliance.store.database import storage_fault

    fault = storage_error_from(exc) if isinstance(exc, OSError) else storage_fault(exc)
    where = f" ({exc.filename})" if isinstance(exc, OSError) and exc.filename else ""
    if fault is not None:
        fault.message = fault.message.replace("; nothing was stored", "") + where
        return fault
    if isinstance(exc, OSError):
        return ApplianceError(
            f"{exc.strerror or type(exc).__name__}{where}",
            remedy="check that the path exists and that the service user may use it",
            code="os_error",
        )
    return ApplianceError(
        f"the store failed: {exc}",
        remedy="run `appliance status`; restore the data directory from backup if it persists",
        code="store_error",
    )
