"""The work behind ``appliance risk audit`` and ``risk faces``: embed, attack, judge against
the policy's risk limits, sign the figures and verdicts into the audit trail, record the
verdicts for the ingest gate, write the report."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from appliance.cli.context import CliContext
from appliance.errors import InvalidInputError


def _embed(ctx: CliContext, modality: str, inputs: list[Any], advance: Any) -> Any:
    import numpy as np

    from appliance.encoders.base import encode_now
    from appliance.encoders.factory import load_space
    from appliance.models import ModelStore

    space = load_space(ModelStore(ctx.settings.models_dir), ctx.settings.encoders)
    encoder = space.encoders[modality]  # type: ignore[index]
    parts = []
    for start in range(0, len(inputs), 32):
        batch = inputs[start : start + 32]
        parts.append(encode_now(encoder, batch))
        advance(len(batch))
    return np.vstack(parts)


def _utility(ctx: CliContext, path: Path, modality: str) -> Any:
    """The alignment-audit pairs, embedded: media by the modality's encoder, captions by
    the text encoder."""
    from tqdm import tqdm

    from appliance.align.pairs import read_pairs
    from appliance.encoders.sniff import sniff
    from appliance.risk.utility import UtilityPairs

    pairs = read_pairs(path)
    kinds = {(sniff(p.payload) or ("other", ""))[0] for p in pairs}
    if kinds != {modality}:
        raise InvalidInputError(
            f"{path}: utility pairs hold {', '.join(sorted(kinds))} media, the probe set "
            f"is {modality}",
            remedy="give alignment pairs of the probe set's modality",
        )
    media = [p.payload for p in pairs]
    with tqdm(total=2 * len(pairs), desc="utility pairs", unit="x", file=sys.stderr) as bar:
        items = _embed(ctx, modality, list(media), bar.update)
        texts = _embed(ctx, "text", [p.text for p in pairs], bar.update)
    return UtilityPairs(modality, items, texts, [p.key for p in pairs], list(media))


def run_and_record(
    ctx: CliContext,
    manifest: Path,
    utility_pairs: Path | None,
    policies_dir: Path | None,
    report_dir: Path | None,
) -> dict[str, Any]:
    """The whole ``risk audit``; returns the result with verdicts and the audit sequence."""
    from tqdm import tqdm

    from appliance.domain.types import Actor
    from appliance.policy import PolicyEngine
    from appliance.risk import policy as risk_policy
    from appliance.risk.audit import NOISE_SIGMAS, ProbeSet, run_audit, summary
    from appliance.risk.manifest import read_probe_manifest

    app = ctx.appliance()  # the audit trail must be writable before the audit runs
    engine = PolicyEngine.load(policies_dir)
    limits = engine.policy.risk_limits
    probe_manifest = read_probe_manifest(manifest)
    modality = probe_manifest.modality
    bar = tqdm(total=len(probe_manifest.inputs), desc="embedding", unit="sample", file=sys.stderr)
    vectors = _embed(ctx, modality, probe_manifest.inputs, bar.update)
    bar.close()
    utility = _utility(ctx, utility_pairs, modality) if utility_pairs is not None else None
    probe = ProbeSet(
        vectors, probe_manifest.labels, probe_manifest.inputs, probe_manifest.attributes
    )
    sigmas = [*NOISE_SIGMAS, *risk_policy.required_sigmas(limits, modality)]
    with tqdm(desc="attacks", unit="step", file=sys.stderr) as steps:
        result = run_audit(
            probe,
            progress=lambda name: (steps.set_postfix_str(name), steps.update()),
            utility=utility,
            noise_sigmas=sigmas,
        )
    result["modality"] = modality
    result["manifest_sha256"] = probe_manifest.fingerprint()
    result["policy_hash"] = engine.policy_hash
    verdicts = risk_policy.judge(result, limits, modality)
    for verdict in verdicts:
        verdict["outcome"] = risk_policy.outcome(verdict)
    result["verdicts"] = verdicts
    result["choices"] = {
        limit.id: risk_policy.choices(result, limit)
        for limit in limits
        if limit.modality == modality and limit.metric == risk_policy.REID
    }
    details = {"modality": modality, "manifest_sha256": result["manifest_sha256"]}
    details.update(summary(result))
    details["verdicts"] = [f"{v['limit']}={v['outcome']}" for v in verdicts]
    actor = Actor.operator()
    entry = app.audit.append(actor=actor, action="risk.audited", outcome="ok", details=details)
    result["audit_seq"] = entry.seq
    record_verdicts(app, ctx, actor, result, verdicts, engine.policy_hash)
    if report_dir is not None:
        from appliance.risk.report import write_report

        click.echo(f"report written to {write_report(result, report_dir)}", err=True)
    return result


def record_verdicts(
    app: Any,
    ctx: CliContext,
    actor: Any,
    result: dict[str, Any],
    verdicts: list[dict[str, Any]],
    policy_hash: str,
) -> None:
    """Each measured verdict on the trail (``risk.verdict``, referring to the attack's own
    entry ``result["audit_seq"]``), then in the gate's store (``risk audit``, ``risk
    inversion`` and ``risk membership`` alike)."""
    from appliance.risk.policy import audit_details
    from appliance.services.risk_gate import VerdictStore

    measured = [v for v in verdicts if v["passed"] is not None]
    if not measured:
        return
    events = [
        {
            "actor": actor,
            "action": "risk.verdict",
            "outcome": v["outcome"],
            "details": {**audit_details(v), "audited_seq": result["audit_seq"]},
        }
        for v in measured
    ]
    entries = app.audit.append_many(events)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    VerdictStore.in_data_dir(ctx.settings.data_dir).record(
        {
            v["limit"]: {
                **audit_details(v),
                "passed": v["passed"],
                "audit_seq": entry.seq,
                "audited_at": now,
                "policy_hash": policy_hash,
                "manifest_sha256": result.get("manifest_sha256"),
            }
            for v, entry in zip(measured, entries, strict=True)
        }
    )


def run_faces(
    orl: Path, people: int | None, images: int | None, report_dir: Path | None
) -> dict[str, Any]:
    """dlib descriptors of ORL faces through the whole sweep (no data dir, no verdicts)."""
    from tqdm import tqdm

    from appliance.risk.audit import ProbeSet, run_audit
    from appliance.risk.faces import dlib_descriptors, orl_files

    files = orl_files(orl, people, images)
    payloads = [f.read_bytes() for f in files]
    labels = [f.parent.name for f in files]
    with tqdm(total=len(files), desc="dlib descriptors", unit="face", file=sys.stderr) as bar:
        vectors, detected = dlib_descriptors(payloads, bar.update)
    with tqdm(desc="attacks", unit="step", file=sys.stderr) as steps:
        result = run_audit(
            ProbeSet(vectors, labels, list(payloads)),
            progress=lambda name: (steps.set_postfix_str(name), steps.update()),
        )
    result["modality"] = "image (dlib ResNet face descriptor, reference)"
    result["faces_detected"] = detected
    if report_dir is not None:
        from appliance.risk.report import write_report

        click.echo(f"report written to {write_report(result, report_dir)}", err=True)
    return result
