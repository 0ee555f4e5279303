"""The risk gate judges what is actually encoded: a note whose names the policy redacted
passes a failed canary limit, one that keeps them is refused, at ingest and at
``/v1/embeddings`` alike (real app over HTTP, the tiny test pack; the shipped policies
without their ``redact_before_encode`` rule, so treatment text keeps its names, as before
that defence shipped: tests/risk/test_redact_before_encode.py has the shipped case)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest

from appliance.api.dependencies import ApiServices
from appliance.domain.types import Actor, Modality
from appliance.policy.decisions import RequestContext
from appliance.policy.loader import default_policies_dir
from appliance.services.risk_gate import VerdictStore
from appliance.wiring import Appliance
from tests.api.conftest import LiveServer, serve, test_pack  # noqa: F401 (fixture)
from tests.services.helpers import read_all_vectors

NAMED = "Patient John Smith reviewed today for chest pain."
PLAIN = "routine check of the ward supplies"
TREATMENT = {"subject_role": "patient", "purpose": "treatment"}  # keeps names
RESEARCH = {"subject_role": "patient", "purpose": "research"}  # Safe Harbor redaction
LIMIT = "site.risk.canary_names"
REDACTION_RULE = "site.text-identifiers-redacted-before-encoding"


def undefended_policies(target: Path) -> Path:
    """The shipped policies without the redaction rule and the canary limit's defence."""
    shutil.copytree(default_policies_dir(), target)
    return strip_redaction(target)


def strip_redaction(target: Path) -> Path:
    """Remove the redaction rule and the canary limit's defence from ``target``'s site file
    (text for care then keeps its names, as before that defence shipped)."""
    site = (target / "site.toml").read_text(encoding="utf-8")
    start = site.index(f'[[rules]]\nid = "{REDACTION_RULE}"')
    site = site[:start] + site[site.index("[[rules]]", start + 1) :]
    site = re.sub(r'defence = \{ name = "redact_before_encode".*?\] \} \}\n', "", site, flags=re.S)
    (target / "site.toml").write_text(site, encoding="utf-8")
    return target


@dataclass
class Served:
    """The live server and the state behind it (for the screening's own redaction)."""

    live: LiveServer
    state: ApiServices

    def space(self) -> str:
        with self.live.client("query") as client:
            return str(client.get("/v1/models").json()["data"][0]["id"])


@pytest.fixture
def failed_canary(
    appliance: Appliance,
    test_pack: Any,  # noqa: F811
    tmp_path: Path,
) -> Iterator[Served]:
    """The full app with the undefended policies after `risk inversion` recorded a FAIL of
    the canary-name limit (as its verdict file entry), one token per role."""
    yield from serve_failed_canary(appliance, test_pack, undefended_policies(tmp_path / "p"))


def serve_failed_canary(appliance: Appliance, pack: Any, policies: Path | None) -> Iterator[Served]:
    """A live app on ``policies`` (None: the shipped ones) with a recorded canary FAIL."""
    from appliance.models import ModelStore
    from appliance.server import build_state

    VerdictStore.in_data_dir(appliance.settings.data_dir).record(
        {
            LIMIT: {
                "passed": False,
                "metric": "canary_recovery",
                "value": 0.99,
                "max": 0.05,
                "defence": "none",
                "audit_seq": 7,
            }
        }
    )
    ModelStore(appliance.settings.models_dir).import_path(pack)
    tokens = {
        role: appliance.tokens.create(role, actor=Actor.operator())
        for role in ("admin", "ingest", "query", "auditor")
    }
    state = build_state(appliance, policies_dir=policies)
    try:
        for url in serve(state):
            yield Served(LiveServer(url, tokens, appliance), state)
    finally:
        if state.encoders is not None:
            state.encoders.close()  # type: ignore[attr-defined]


def _redacted(served: Served) -> str:
    """The payload the screening would encode for NAMED under the research context."""
    assert served.state.screening is not None
    screened = served.state.screening.screen(
        Modality.TEXT, NAMED, RequestContext.from_mapping(RESEARCH, modality=Modality.TEXT)
    )
    payload = screened.admission.payload
    assert isinstance(payload, str) and "John" not in payload and "Smith" not in payload
    return payload


def _audit(served: Served, action: str) -> list[dict[str, Any]]:
    with served.live.client("auditor") as client:
        reply = client.get("/v1/audit/export")
        assert reply.status_code == 200, reply.text
    entries = [json.loads(line) for line in reply.text.splitlines() if line.strip()]
    return [e for e in entries if e["action"] == action]


def test_redacted_note_is_stored_and_named_note_refused_under_failed_canary_verdict(
    failed_canary: Served,
) -> None:
    """With the canary limit failed, the note ingested for research (names redacted) is
    stored as the vector of its redacted text, the same note for treatment (names kept) is
    denied risk_audit_failed with the remedy, and only the latter is audited as such."""
    served = failed_canary
    with served.live.client("admin") as client:
        assert client.post("/v1/collections", json={"name": "notes"}).status_code in (200, 201)
        items = [
            {"subject_id": "MRN-1", "modality": "text", "data": NAMED, "context": context}
            for context in (RESEARCH, TREATMENT)
        ]
        reply = client.post("/v1/collections/notes/items", json={"items": items})
        assert reply.status_code in (200, 201, 207), reply.text
        research, treatment = reply.json()["items"]
        assert research["status"] == "stored", research
        assert research["notes"]["deidentified"] == "safe_harbor"
        assert treatment["status"] == "denied", treatment
        assert treatment["error"]["code"] == "risk_audit_failed"
        message = treatment["error"]["message"]
        assert LIMIT in message and "Remedy: " in message and "risk inversion" in message

        redacted = _redacted(served)
        embedded = client.post(
            "/v1/embeddings", json={"model": served.space(), "input": redacted, "context": RESEARCH}
        )
        assert embedded.status_code == 200, embedded.text
    expected = np.asarray(embedded.json()["data"][0]["embedding"], dtype=np.float32)
    stored = read_all_vectors(served.live.appliance.settings)
    assert list(stored) == [research["id"]]
    assert np.allclose(stored[research["id"]], expected, atol=1e-5)

    denied = _audit(served, "items.denied")
    assert [e["details"].get("risk_limit") for e in denied] == [LIMIT]


def test_embeddings_refuse_named_input_under_failed_canary_verdict(
    failed_canary: Served,
) -> None:
    """/v1/embeddings refuses (403 risk_audit_failed, remedy, audited with the limit) a
    request whose input keeps a name the failed canary limit covers; plain text and the
    research-redacted note still get vectors; the openai client sees a PermissionDenied."""
    served = failed_canary
    model = served.space()
    with served.live.client("query") as client:
        refused = client.post("/v1/embeddings", json={"model": model, "input": [PLAIN, NAMED]})
        assert refused.status_code == 403, refused.text
        error = refused.json()["error"]
        assert set(error) == {"code", "message", "remedy"}
        assert error["code"] == "risk_audit_failed"
        assert error["message"].startswith("input 1: ") and LIMIT in error["message"]
        assert "risk inversion" in error["remedy"]
        assert "John" not in refused.text

        plain = client.post("/v1/embeddings", json={"model": model, "input": PLAIN})
        assert plain.status_code == 200, plain.text
        research = client.post(
            "/v1/embeddings", json={"model": model, "input": NAMED, "context": RESEARCH}
        )
        assert research.status_code == 200, research.text
        assert research.json()["data"][0]["notes"]["deidentified"] == "safe_harbor"

    sdk = openai.OpenAI(
        base_url=f"{served.live.url}/v1", api_key=served.live.tokens["query"], max_retries=0
    )
    with pytest.raises(openai.PermissionDeniedError) as raised:
        sdk.embeddings.create(model=model, input=NAMED)
    assert raised.value.body["code"] == "risk_audit_failed"  # type: ignore[index]

    created = _audit(served, "embeddings.create")
    assert [e["outcome"] for e in created] == ["denied", "ok", "ok", "denied"]
    assert created[0]["details"]["risk_limit"] == LIMIT
    assert "John" not in json.dumps(created)


def test_encoded_findings_keep_what_deidentification_cannot_remove() -> None:
    """Redacted text keeps only findings without a span; a de-identified DICOM loses its
    header findings but keeps a face; without de-identification every finding counts."""
    from appliance.domain.findings import Finding, FindingKind
    from appliance.services.risk_gate import encoded_findings

    located = Finding(FindingKind.PERSON_NAME, "ner", Modality.TEXT, 1.0, {"start": 8, "end": 18})
    unlocated = Finding(FindingKind.MEDICAL_RECORD_NUMBER, "doc", Modality.TEXT, 1.0, {})
    assert encoded_findings(Modality.TEXT, [located, unlocated], True) == (unlocated,)
    assert encoded_findings(Modality.TEXT, [located, unlocated], False) == (located, unlocated)
    header = Finding(FindingKind.DICOM_PHI_TAG, "dicom", Modality.IMAGE, 1.0, {"tag": "0010"})
    face = Finding(FindingKind.FACE, "faces", Modality.IMAGE, 0.9, {"box": [0, 0, 4, 4]})
    assert encoded_findings(Modality.IMAGE, [header, face], True) == (face,)
