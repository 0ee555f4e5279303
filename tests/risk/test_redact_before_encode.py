"""``redact_before_encode`` under the shipped policy: treatment text with a name and an MRN
is embedded as its redacted text at ``/v1/embeddings``, at ingest and as a search query,
even after a failed canary verdict recorded on the undefended level; a misspelt defence
fails closed; image and audio inputs cannot be redacted (real app over HTTP, test pack)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance.domain.findings import Finding, FindingKind
from appliance.domain.types import Modality
from appliance.policy.decisions import ApplyDefence, Decision, Outcome, RequestContext
from appliance.policy.loader import default_policies_dir
from appliance.services.admission import admit
from appliance.wiring import Appliance
from tests.api.conftest import test_pack  # noqa: F401 (fixture)
from tests.risk.test_risk_gate_encoded import RESEARCH, TREATMENT, Served, serve_failed_canary
from tests.services.helpers import read_all_vectors

NAMED = "Patient John Smith (MRN 48213377) reviewed today for chest pain."


@pytest.fixture
def shipped(appliance: Appliance, test_pack: Any) -> Iterator[Served]:  # noqa: F811
    """The app on the shipped policies after a canary FAIL recorded on the undefended row."""
    yield from serve_failed_canary(appliance, test_pack, None)


def _screened_payload(served: Served, context: dict[str, str]) -> tuple[str, dict[str, Any]]:
    assert served.state.screening is not None
    screened = served.state.screening.screen(
        Modality.TEXT, NAMED, RequestContext.from_mapping(context, modality=Modality.TEXT)
    )
    payload = screened.admission.payload
    assert isinstance(payload, str)
    return payload, screened.admission.notes


def _raw_vector(served: Served, text: str) -> np.ndarray:
    """The encoder's vector of ``text`` as given (no screening at all)."""
    assert served.state.encoders is not None
    result = served.state.encoders.engine(Modality.TEXT).encode_items([text])
    return np.asarray(result.vectors[0], np.float32)


def _embed(served: Served, text: str, context: dict[str, str] | None = None) -> Any:
    body: dict[str, Any] = {"model": served.space(), "input": text}
    if context is not None:
        body["context"] = context
    with served.live.client("query") as client:
        return client.post("/v1/embeddings", json=body)


def test_treatment_embedding_is_the_vector_of_the_redacted_text(shipped: Served) -> None:
    """/v1/embeddings for treatment text with a name and MRN returns the vector of the text
    with both replaced, not the raw text's, although the canary verdict on record failed."""
    redacted, notes = _screened_payload(shipped, TREATMENT)
    assert "John" not in redacted and "Smith" not in redacted and "48213377" not in redacted
    assert {"person_name", "medical_record_number"} <= set(notes["redacted_before_encode"])
    reply = _embed(shipped, NAMED, TREATMENT)
    assert reply.status_code == 200, reply.text
    vector = np.asarray(reply.json()["data"][0]["embedding"], np.float32)
    assert "redact_before_encode" in reply.json()["data"][0]["notes"]["defences"]
    assert np.allclose(vector, _raw_vector(shipped, redacted), atol=1e-5)
    assert not np.allclose(vector, _raw_vector(shipped, NAMED), atol=1e-3)


def test_stored_treatment_item_holds_the_redacted_vector(shipped: Served) -> None:
    """Ingest for treatment stores the redacted text's vector (decrypted from the store as a
    new process would) with the item's metadata kept; the raw text's vector is nowhere."""
    redacted, _ = _screened_payload(shipped, TREATMENT)
    with shipped.live.client("admin") as client:
        assert client.post("/v1/collections", json={"name": "notes"}).status_code in (200, 201)
        item = {
            "id": "n1",
            "subject_id": "MRN-1",
            "modality": "text",
            "data": NAMED,
            "context": TREATMENT,
            "metadata": {"ward": "4b"},
        }
        reply = client.post("/v1/collections/notes/items", json={"items": [item]})
        assert reply.status_code in (200, 201, 207), reply.text
        [outcome] = reply.json()["items"]
    assert outcome["status"] == "stored", outcome
    assert "deidentified" not in outcome["notes"]
    assert "person_name" in outcome["notes"]["redacted_before_encode"]
    stored = read_all_vectors(shipped.live.appliance.settings)
    assert np.allclose(stored["n1"], _raw_vector(shipped, redacted), atol=1e-5)
    assert not np.allclose(stored["n1"], _raw_vector(shipped, NAMED), atol=1e-3)


def test_search_query_is_embedded_redacted(shipped: Served) -> None:
    """A treatment search query with a name and MRN scores exactly like its redacted text,
    so the raw identifiers never reach the encoder on the query path either."""
    redacted, _ = _screened_payload(shipped, TREATMENT)
    with shipped.live.client("admin") as client:
        client.post("/v1/collections", json={"name": "q"})
        item = {"subject_id": "S", "modality": "text", "data": "chest pain review on the ward"}
        item["context"] = TREATMENT
        assert client.post("/v1/collections/q/items", json={"items": [item]}).status_code == 200
    scores = []
    with shipped.live.client("query") as client:
        for text in (NAMED, redacted):
            body = {"query": {"modality": "text", "data": text}, "context": TREATMENT, "k": 1}
            reply = client.post("/v1/collections/q/search", json=body)
            assert reply.status_code == 200, reply.text
            scores.append(reply.json()["results"][0]["score"])
    assert scores[0] == pytest.approx(scores[1], abs=1e-5)
    raw = _raw_vector(shipped, NAMED) @ _raw_vector(shipped, "chest pain review on the ward")
    assert abs(scores[0] - raw) > 1e-4 or abs(scores[1] - raw) > 1e-4


def test_research_context_is_redacted_once(shipped: Served) -> None:
    """Research (Safe Harbor de-identification) and the input defence together give the
    same text as de-identification alone: no offsets applied twice."""
    research, notes = _screened_payload(shipped, RESEARCH)
    assert notes["deidentified"] == "safe_harbor" and "John" not in research
    assert "[PERSON_NAME]" in research and "]]" not in research


def _misspelt(tmp_path: Path) -> Path:
    target = tmp_path / "misspelt"
    shutil.copytree(default_policies_dir(), target)
    site = (target / "site.toml").read_text(encoding="utf-8")
    assert site.count('name = "redact_before_encode"') == 2  # the rule and the limit
    site = site.replace('name = "redact_before_encode"', 'name = "redact_befor_encode"')
    (target / "site.toml").write_text(site, encoding="utf-8")
    return target


def test_misspelt_input_defence_fails_closed(
    appliance: Appliance,
    test_pack: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A policy naming a defence the appliance lacks refuses the named text at
    /v1/embeddings (policy_denied, naming it); nothing raw is handed out."""
    for served in serve_failed_canary(appliance, test_pack, _misspelt(tmp_path)):
        reply = _embed(served, NAMED, TREATMENT)
        assert reply.status_code == 403, reply.text
        error = reply.json()["error"]
        assert error["code"] == "policy_denied" and "redact_befor_encode" in error["message"]
        assert "John" not in reply.text
        assert _embed(served, "routine check of the ward supplies").status_code == 200


def _decision(*defences: ApplyDefence) -> Decision:
    from datetime import UTC, datetime

    return Decision(
        outcome=Outcome.ALLOW_WITH_OBLIGATIONS,
        obligations=defences,
        categories=(),
        regimes=(),
        reasons=(),
        policy_hash="x",
        decided_at=datetime(2026, 1, 1, tzinfo=UTC),
        context=RequestContext("patient", "treatment"),
    )


REDACT_ALL = ApplyDefence("redact_before_encode")
REDACT_NAMES = ApplyDefence("redact_before_encode", (("kinds", ("person_name",)),))


def test_image_and_audio_fail_closed_only_when_something_targeted_is_in_the_content() -> None:
    """An image with a face under redact_before_encode is refused (a face cannot be cut out
    of its embedding); one with no content finding passes unchanged; kinds restrict it."""
    face = Finding(FindingKind.FACE, "faces", Modality.IMAGE, 0.9, {"box": [0, 0, 4, 4]})
    refused = admit(_decision(REDACT_ALL), Modality.IMAGE, b"png", [face])
    assert not refused.allowed and "cannot be removed" in refused.reasons[0]
    plain = admit(_decision(REDACT_ALL), Modality.AUDIO, b"wav", [])
    assert plain.allowed and plain.payload == b"wav" and plain.defences == ()
    names_only = admit(_decision(REDACT_NAMES), Modality.IMAGE, b"png", [face])
    assert names_only.allowed and names_only.payload == b"png"


def test_two_rules_redact_the_union_of_their_kinds_in_one_pass() -> None:
    """Two redaction obligations with different kinds remove both kinds, at the original
    offsets; a vector defence alongside stays a vector defence."""
    text = "Jane Roe, MRN 1234567, seen 3/4."
    found = [
        Finding(FindingKind.PERSON_NAME, "t", Modality.TEXT, 1.0, {"start": 0, "end": 8}),
        Finding(
            FindingKind.MEDICAL_RECORD_NUMBER, "t", Modality.TEXT, 1.0, {"start": 14, "end": 21}
        ),
        Finding(FindingKind.DATE, "t", Modality.TEXT, 1.0, {"start": 28, "end": 31}),
    ]
    mrn = ApplyDefence("redact_before_encode", (("kinds", ("medical_record_number",)),))
    noise = ApplyDefence("gaussian_noise", (("sigma", 0.02),))
    admitted = admit(_decision(REDACT_NAMES, mrn, noise), Modality.TEXT, text, found)
    assert admitted.payload == "[PERSON_NAME], MRN [MEDICAL_RECORD_NUMBER], seen 3/4."
    assert admitted.defences == (("gaussian_noise", {"sigma": 0.02}),)
    assert admitted.notes["redacted_before_encode"] == ["medical_record_number", "person_name"]
    bad = ApplyDefence("redact_before_encode", (("kinds", ("nme",)),))
    assert not admit(_decision(bad), Modality.TEXT, text, found).allowed
