"""``init``, ``status`` and ``subjects`` commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from appliance.cli.context import CliContext, pass_context
from appliance.domain.types import Actor
from appliance.errors import InvalidInputError
from appliance.store.database import Database
from appliance.store.repository import count_items_without_key
from appliance.wiring import InitReport, init_appliance

ID_FILE_HELP = "Read subject ids from FILE, one per line (default: standard input)."
_ARGV_REFUSED = (
    "raw subject ids are not taken as command-line arguments "
    "(they would land in `ps` output and shell history)"
)


def read_subject_ids(source: Path | None, *, single: bool = False) -> list[str]:
    """Subject ids from ``source`` or stdin, one per line, blanks skipped, never from argv."""
    if source is not None:
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"cannot read {source}: {exc.strerror or exc}") from exc
    else:
        if sys.stdin is None or sys.stdin.isatty():
            click.echo("subject ids, one per line; end with Ctrl-D:", err=True)
        text = sys.stdin.read() if sys.stdin is not None else ""
    ids = [line.strip() for line in text.splitlines() if line.strip()]
    if not ids:
        raise InvalidInputError(
            "no subject id given", remedy="pipe the ids on stdin or pass --file FILE"
        )
    if single and len(ids) != 1:
        raise InvalidInputError(f"expected exactly one subject id, got {len(ids)}")
    return ids


def refuse_argv_ids(values: tuple[str, ...], command: str) -> None:
    """Fail with a remedy when a raw subject id was typed on the command line."""
    if values:
        raise InvalidInputError(
            _ARGV_REFUSED,
            remedy=f"printf '%s\\n' ID | appliance {command}   (or --file FILE)",
        )


@click.command()
@pass_context
def init(ctx: CliContext) -> None:
    """Create the data dir (0700), keys, schema and audit genesis; safe to re-run."""
    report = init_appliance(ctx.settings)
    if report.created:
        click.echo(f"initialised {report.data_dir}: created {', '.join(report.created)}")
    else:
        click.echo(f"{report.data_dir} is already initialised; nothing overwritten")
    if report.migrations:
        click.echo(f"schema migrations applied: {', '.join(map(str, report.migrations))}")
    warn_about_kek(report)


def warn_about_kek(report: InitReport) -> None:
    """Say on stderr where the KEK is, and why inside the data dir is a development default."""
    import os

    kek = report.kek
    if kek is None or kek.from_credentials:
        return
    if kek.inside_data_dir:
        click.echo(
            f"warning: the key encryption key is at {kek.path}, inside the data directory. "
            "That is a development default: every copy or backup of the data dir then "
            "carries the key that opens it, and erasure cannot reach those copies. In "
            "production set keys.kek_file to a path outside the data dir (e.g. "
            "/etc/appliance/keys/kek, 0600) or provide the systemd credential appliance-kek.",
            err=True,
        )
    elif "INVOCATION_ID" not in os.environ:
        click.echo(f"the key encryption key is at {kek.path} (keys.kek_file)", err=True)


def data_dir_format(database: Database) -> dict[str, int | str]:
    """The data-dir format: the store's schema version and the on-disk format versions.

    ``data_dir`` is ``<schema>.<index snapshot version>``: a release that changes either
    changes it, and an older release refuses a store newer than it knows."""
    from appliance.index.snapshot import SNAPSHOT_VERSION
    from appliance.services.backup_archive import FORMAT as BACKUP_FORMAT
    from appliance.store.migrations import LATEST_VERSION, current_version

    schema = current_version(database)
    return {
        "data_dir": f"{schema}.{SNAPSHOT_VERSION}",
        "schema_version": schema,
        "schema_latest": LATEST_VERSION,
        "index_snapshot": SNAPSHOT_VERSION,
        "backup_archive": int(BACKUP_FORMAT.rsplit("/", 1)[1]),
    }


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def status(ctx: CliContext, as_json: bool) -> None:
    """Summarise the appliance: data-dir format, keys, audit trail, collections."""
    from appliance.audit import verify_trail
    from appliance.audit.storage import store_trail

    app = ctx.appliance()
    keys = app.keys.status()
    trail = verify_trail(
        app.settings.data_dir / "audit",
        app.signing_public_key,
        store=store_trail(app.database.engine),
    )
    collections = [{"name": c.name, "dimension": c.dimension} for c in app.collections.list()]
    with app.database.read() as connection:
        without_key = count_items_without_key(connection)
    data_format = data_dir_format(app.database)
    summary = {
        "data_dir": str(app.settings.data_dir),
        "format": data_format,
        "kek": {
            "active": keys.active,
            "pending": keys.pending,
            "source": keys.source,
            "inside_data_dir": keys.kek_inside_data_dir,
            "shreds_pending": keys.shreds_pending,
            "shreds_overdue": keys.shreds_overdue,
        },
        "data_keys": keys.keys_by_kind,
        "audit": {"intact": trail.ok, "entries": trail.entries, "checkpoints": trail.checkpoints},
        "collections": collections,
        "items_without_key": without_key,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"data dir      {summary['data_dir']}")
    click.echo(
        f"format        {data_format['data_dir']} (store schema {data_format['schema_version']}"
        f" of {data_format['schema_latest']}, index snapshots v{data_format['index_snapshot']},"
        f" backups v{data_format['backup_archive']})"
    )
    click.echo(f"KEK           version {keys.active} ({keys.source})")
    click.echo(f"data keys     {sum(keys.keys_by_kind.values())} {keys.keys_by_kind}")
    state = "intact" if trail.ok else f"BROKEN: {trail.problem}"
    click.echo(f"audit trail   {trail.entries} entries, {trail.checkpoints} checkpoints, {state}")
    shreds = f"{keys.shreds_pending} pending, {keys.shreds_overdue} overdue"
    click.echo(f"KEK shreds    {shreds}")
    if without_key:
        click.echo(f"WARNING       {without_key} stored item(s) have no data key (unreadable)")
    click.echo(f"collections   {len(collections)}")
    for c in collections:
        click.echo(f"  {c['name']} (dimension {c['dimension']})")


@click.group()
def subjects() -> None:
    """Data subjects."""


@subjects.command("delete")
@click.argument("refused", nargs=-1, metavar="")
@click.option(
    "--file", "id_file", type=click.Path(dir_okay=False, path_type=Path), help=ID_FILE_HELP
)
@click.option(
    "--shred-now",
    is_flag=True,
    help="Rotate the KEK at once so backups taken before this erasure stop opening.",
)
@pass_context
def delete_subject(
    ctx: CliContext, refused: tuple[str, ...], id_file: Path | None, shred_now: bool
) -> None:
    """Erase subjects everywhere by destroying their keys (idempotent, audited). The ids are
    read from stdin or --file, one per line, never from the command line."""
    refuse_argv_ids(refused, "subjects delete")
    ids = read_subject_ids(id_file)
    erasure = ctx.appliance().erasure
    erased = sum(erasure.erase_subject(i, actor=Actor.operator()) for i in ids)
    out: dict[str, object] = {"deleted": erased}
    if shred_now:
        report = ctx.appliance().keys.shred_due(actor=Actor.operator(), force=True)
        out["kek_version"] = report.rotation.to_version if report else None
        out["shredded"] = report is not None and report.requests_done > 0
    click.echo(json.dumps(out))
    keys = ctx.appliance().keys
    if shred_now and keys.status().shreds_pending:
        why = (
            "the KEK could not be rotated now (a read-only systemd credential?)"
            if keys.rotates_here
            else "this node does not rotate the KEK (keys.rotate_on_this_node): run "
            "`appliance keys shred --force` on the designated node"
        )
        click.echo(
            f"error: {why}; backups taken before this erasure still open until it is",
            err=True,
        )
        raise SystemExit(1)
