"""``policy check|show`` (dry runs over the policy files) and ``consents grant|revoke|list``."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import click

from appliance.cli.context import CliContext, pass_context
from appliance.cli.maintenance import ID_FILE_HELP, read_subject_ids, refuse_argv_ids
from appliance.cli.retention import parse_instant
from appliance.clock import isoformat
from appliance.domain.types import Actor
from appliance.errors import ApplianceError
from appliance.policy.vocabulary import PURPOSES, SETTINGS, SUBJECT_ROLES

_POLICIES_HELP = (
    "Policy directory (default /etc/appliance/policies, else the checkout's policies/)."
)


def _engine(policies_dir: Path | None) -> Any:
    from appliance.policy.engine import PolicyEngine

    return PolicyEngine.load(policies_dir)


@click.group()
def policy() -> None:
    """Policy files (HIPAA, BIPA, CCPA, site): dry-run inputs against them, show them."""


@policy.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON result per file, in order.")
@click.option("--role", type=click.Choice(SUBJECT_ROLES), default="patient", show_default=True)
@click.option("--purpose", type=click.Choice(PURPOSES), default="treatment", show_default=True)
@click.option("--setting", type=click.Choice(SETTINGS), default="health_care", show_default=True)
@click.option(
    "--policies",
    "policies_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=_POLICIES_HELP,
)
@pass_context
def check(
    ctx: CliContext,
    files: tuple[Path, ...],
    as_json: bool,
    role: str,
    purpose: str,
    setting: str,
    policies_dir: Path | None,
) -> None:
    """Print findings and the decision for each FILE; nothing is stored (exit 1 if a file
    could not be read or is of no supported kind)."""
    from appliance.policy.classify import classify
    from appliance.policy.decisions import RequestContext

    engine = _engine(policies_dir)
    context = RequestContext(role, purpose, setting)
    results: list[dict[str, Any]] = []
    for path in files:
        result: dict[str, Any] = {"file": str(path)}
        try:
            data = path.read_bytes()
            found = classify(
                data,
                engine=engine,
                context=context,
                encoder_settings=ctx.settings.encoders,
                suffix=path.suffix,
            )
            result.update(found.to_dict())
        except OSError as exc:
            result["error"] = {"code": "unreadable", "message": exc.strerror or str(exc)}
        except ApplianceError as exc:
            result["error"] = {"code": exc.code, "message": exc.message}
        results.append(result)
    if as_json:
        click.echo(json.dumps(results, indent=2))
    else:
        click.echo(f"policy {engine.policy_hash[:16]}  role {role}, purpose {purpose}, {setting}")
        for result in results:
            _print_result(result)
    if any("error" in r for r in results):
        raise SystemExit(1)


def _print_result(result: dict[str, Any]) -> None:
    if "error" in result:
        click.echo(f"{result['file']}: error: {result['error']['message']}")
        return
    decision = result["decision"]
    click.echo(f"{result['file']}: {decision['outcome']}")
    click.echo(
        f"  input        {result['modality']} ({result['format']}), {result['size_bytes']} bytes"
    )
    kinds = Counter(f["kind"] for f in result["findings"])
    found = ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items())) or "none"
    click.echo(f"  findings     {found}")
    click.echo(f"  categories   {', '.join(result['categories']) or 'none'}")
    click.echo(f"  regimes      {', '.join(result['regimes']) or 'none'}")
    for obligation in decision["obligations"]:
        click.echo(f"  obligation   {_obligation_text(obligation)}")
    for reason in decision["reasons"]:
        click.echo(f"  reason       {reason['rule']} [{reason['citation']}]: {reason['text']}")


def _obligation_text(o: dict[str, Any]) -> str:
    kind = o["type"]
    if kind == "deny":
        return f"deny: {o['reason']}"
    if kind == "require_consent":
        state = (
            "met by consent " + ",".join(map(str, o["consent_ids"]))
            if o["satisfied"]
            else "MISSING"
        )
        return f"consent for {', '.join(o['categories'])}: {state}"
    if kind == "require_deidentification":
        return f"de-identify ({o['method']}) before encoding"
    if kind == "apply_defence":
        params = ", ".join(f"{k}={v}" for k, v in o["params"].items())
        return f"defence {o['name']}" + (f" ({params})" if params else "")
    if kind == "retention":
        return f"erase by {o['deadline']} ({o['period']} from {o['basis']})"
    return f"visible only to {', '.join(o['roles']) or 'nobody'}"


@policy.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--policies",
    "policies_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=_POLICIES_HELP,
)
def show(as_json: bool, policies_dir: Path | None) -> None:
    """Print the effective policy: files, hash, regimes, categories and rules."""
    described = _engine(policies_dir).describe()
    if as_json:
        click.echo(json.dumps(described, indent=2))
        return
    click.echo(f"policy directory  {described['directory']}")
    click.echo(f"files             {', '.join(described['files'])}")
    click.echo(f"policy hash       {described['policy_hash']}")
    click.echo(f"regimes in force  {', '.join(described['enabled_regimes'])}")
    click.echo("\ncategories")
    for c in described["categories"]:
        click.echo(f"  {c['id']:<36} {c['citation']}")
        click.echo(f"  {'':<36} evidence: {', '.join(c['evidence'])}")
    click.echo("\nrules")
    for r in described["rules"]:
        click.echo(f"  {r['id']}  [{r['citation']}]")
        click.echo(f"    {r['title']}")
        when = "; ".join(
            f"{k}={v if not isinstance(v, list) else ','.join(map(str, v))}"
            for k, v in r["when"].items()
        )
        click.echo(f"    when  {when or 'always'}")
        then = "; ".join(_spec_text(o) for o in r["obligations"])
        click.echo(f"    then  {then or 'allow'}")


def _spec_text(spec: dict[str, Any]) -> str:
    params = " ".join(f"{k}={v}" for k, v in spec.items() if k != "type")
    return f"{spec['type']} ({params})" if params else str(spec["type"])


@click.group()
def consents() -> None:
    """Consent registry (BIPA written releases, research authorizations, ...)."""


def _consent_service(ctx: CliContext, policies_dir: Path | None) -> Any:
    app = ctx.appliance()
    known = [c.id for c in _engine(policies_dir).policy.categories]
    return app.consent_service(known_categories=known)


@consents.command("grant")
@click.argument("refused", nargs=-1, metavar="")
@click.option(
    "--file", "id_file", type=click.Path(dir_okay=False, path_type=Path), help=ID_FILE_HELP
)
@click.option("--purpose", type=click.Choice(PURPOSES), required=True)
@click.option("--category", required=True, help="Category id, 'regime.*' (e.g. bipa.*) or '*'.")
@click.option(
    "--evidence",
    "evidence_ref",
    required=True,
    help="Reference of the signed form (document id), never its content.",
)
@click.option("--expires", "expires_text", help="ISO 8601 expiry (default: none).")
@click.option("--granted", "granted_text", help="ISO 8601 signature time (default: now).")
@click.option(
    "--policies",
    "policies_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=_POLICIES_HELP,
)
@pass_context
def grant(
    ctx: CliContext,
    refused: tuple[str, ...],
    id_file: Path | None,
    purpose: str,
    category: str,
    evidence_ref: str,
    expires_text: str | None,
    granted_text: str | None,
    policies_dir: Path | None,
) -> None:
    """Record a consent of one subject (id on stdin or --file, never on the command line;
    audited by pseudonym); prints its id as JSON."""
    refuse_argv_ids(refused, "consents grant ...")
    (subject_id,) = read_subject_ids(id_file, single=True)
    row = _consent_service(ctx, policies_dir).grant(
        subject_id,
        purpose=purpose,
        category=category,
        evidence_ref=evidence_ref,
        actor=Actor.operator(),
        expires_at=parse_instant(expires_text, "--expires"),
        granted_at=parse_instant(granted_text, "--granted"),
    )
    click.echo(json.dumps({"consent_id": row.id, "subject": row.subject}))


@consents.command("revoke")
@click.argument("consent_id", type=int)
@pass_context
def revoke(ctx: CliContext, consent_id: int) -> None:
    """Revoke consent CONSENT_ID from now on (audited; idempotent)."""
    changed = ctx.appliance().consent.revoke(consent_id, actor=Actor.operator())
    click.echo(json.dumps({"consent_id": consent_id, "revoked": changed}))


@consents.command("list")
@click.argument("refused", nargs=-1, metavar="")
@click.option(
    "--file", "id_file", type=click.Path(dir_okay=False, path_type=Path), help=ID_FILE_HELP
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def list_consents(
    ctx: CliContext, refused: tuple[str, ...], id_file: Path | None, as_json: bool
) -> None:
    """List one subject's consents (id on stdin or --file), revoked and expired included."""
    refuse_argv_ids(refused, "consents list")
    (subject_id,) = read_subject_ids(id_file, single=True)
    rows = ctx.appliance().consent.list(subject_id)
    out = [
        {
            "consent_id": r.id,
            "purpose": r.purpose,
            "category": r.category,
            "granted_at": isoformat(r.granted_at),
            "expires_at": isoformat(r.expires_at) if r.expires_at else None,
            "revoked_at": isoformat(r.revoked_at) if r.revoked_at else None,
            "evidence_ref": r.evidence_ref,
        }
        for r in rows
    ]
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    for r in out:
        state = "revoked" if r["revoked_at"] else f"until {r['expires_at'] or 'no expiry'}"
        click.echo(
            f"{r['consent_id']:>6}  {r['purpose']:<10} {r['category']:<24} "
            f"{r['granted_at']}  {state}  {r['evidence_ref']}"
        )
