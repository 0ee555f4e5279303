"""A failed risk audit closes ingestion of its categories over real HTTP until an audit
passes; both verdicts and the refusal are on the signed audit trail."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from appliance.domain.types import Actor
from appliance.encoders.testpack import write_test_pack
from appliance.settings import load_settings
from appliance.wiring import open_appliance
from tests.api.conftest import serve
from tests.conftest import run_appliance
from tests.risk.test_risk_cli import SHARED, TOPICS
from tests.risk.test_risk_gate_encoded import strip_redaction
from tests.risk.test_risk_policy import _policies

NAMED = "Patient John Smith reviewed today for chest pain."
PLAIN = "routine check of the ward supplies"


def _probe(tmp_path: Path) -> Path:
    lines = []
    for identity, words in TOPICS.items():
        vocabulary = words.split()
        for i in range(6):
            text = " ".join(vocabulary[i:] + vocabulary[:i]) + " " + SHARED[i]
            lines.append(json.dumps({"identity": identity, "text": text}))
    path = tmp_path / "probe.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _ingest(data: Path, policies: Path) -> list[dict[str, object]]:
    """Serve the appliance with ``policies`` and ingest one named and one plain note."""
    from appliance.server import build_state

    app = open_appliance(load_settings(data_dir=data, environ={}), environ={})
    token = app.tokens.create("admin", actor=Actor.operator())
    state = build_state(app, policies_dir=policies)
    try:
        for url in serve(state):
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as client:
                client.post("/v1/collections", json={"name": "notes"})
                context = {"subject_role": "patient", "purpose": "treatment"}
                items = [
                    {"subject_id": "MRN-1", "modality": "text", "data": text, "context": context}
                    for text in (NAMED, PLAIN)
                ]
                reply = client.post("/v1/collections/notes/items", json={"items": items})
                assert reply.status_code in (200, 201, 207), reply.text
                return list(reply.json()["items"])
    finally:
        state.encoders.close()  # type: ignore[union-attr]
        app.close()
    raise AssertionError("not served")


@pytest.mark.slow
def test_failed_audit_blocks_named_notes_until_a_passing_audit(
    isolated_cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """risk audit against a limit the probe set exceeds records a fail: a note hitting the
    limit's category is refused with code risk_audit_failed and a remedy while a plain note
    is stored; a second audit under a limit it meets records a pass and re-opens ingestion."""
    data = tmp_path / "data"
    assert run_appliance(capsys, "--data-dir", str(data), "init")[0] == 0
    pack = write_test_pack(tmp_path / "pack")
    assert run_appliance(capsys, "--data-dir", str(data), "models", "import", str(pack))[0] == 0
    # without the redaction rule, so the treatment note's name is encoded and the gate judges it
    strict = strip_redaction(_policies(tmp_path / "strict", maximum=0.5))
    lenient = strip_redaction(_policies(tmp_path / "lenient", maximum=1000.0))
    probe = _probe(tmp_path)

    def audit(policies: Path) -> str:
        argv = ["--data-dir", str(data), "risk", "audit", "--manifest", str(probe)]
        code, out, err = run_appliance(capsys, *argv, "--policies", str(policies), "--json")
        assert code == 0, err
        verdicts = {v["limit"]: v for v in json.loads(out)["verdicts"]}
        return str(verdicts["site.risk.test"]["outcome"])

    assert audit(strict) == "fail"
    named, plain = _ingest(data, strict)
    assert named["status"] == "denied"
    assert named["error"]["code"] == "risk_audit_failed"  # type: ignore[index]
    message = named["error"]["message"]  # type: ignore[index]
    assert "site.risk.test" in message and "Remedy: " in message and "risk audit" in message
    assert plain["status"] == "stored"

    assert audit(lenient) == "pass"
    named, _ = _ingest(data, lenient)
    assert named["status"] == "stored"

    _, exported, _ = run_appliance(capsys, "--data-dir", str(data), "audit", "export")
    entries = [json.loads(line) for line in exported.splitlines()]
    verdicts = [e for e in entries if e["action"] == "risk.verdict"]
    assert [(e["outcome"], e["details"]["limit"]) for e in verdicts] == [
        ("fail", "site.risk.test"),
        ("pass", "site.risk.test"),
    ]
    refused = [e for e in entries if e["action"] == "items.denied"]
    assert [e["details"].get("risk_limit") for e in refused] == ["site.risk.test"]
    assert "John" not in exported
    assert run_appliance(capsys, "--data-dir", str(data), "audit", "verify")[0] == 0
