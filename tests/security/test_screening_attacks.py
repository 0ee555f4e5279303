"""Attacks on what reaches the index and the callers: identifiers smuggled in metadata and
item ids, biometric queries, averaging away the noise defence, and database edits that
widen visibility or cancel retention. Each one succeeded before the fix."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import timedelta

import numpy as np
import pytest
from PIL import Image

from appliance.clock import FixedClock
from appliance.domain.types import Actor, Modality, SearchHit
from appliance.services.items import NewItem
from appliance.wiring import Appliance, open_appliance
from tests.api.conftest import LiveServer, served, test_pack  # noqa: F401 - fixtures
from tests.api.media import data_uri
from tests.conftest import shared_data_dir
from tests.services.helpers import DIMENSION, unit_vectors

OPERATOR = Actor.operator()
RESEARCH = {"subject_role": "patient", "purpose": "research"}
TREATMENT = {"subject_role": "patient", "purpose": "treatment"}
NOTE = "Jane Doe was seen on 03/14/2025 for chest pain, stable on aspirin."
IDENTIFYING_METADATA = {"patient_name": "Jane Doe", "dob": "1957-03-14", "mrn": "88442211"}


def _trail(app: Appliance) -> list[dict]:
    lines = (app.settings.data_dir / "audit" / "trail.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _store_bytes(app: Appliance) -> bytes:
    """Every byte of the store as an attacker with a copy of the data dir would grep it."""
    app.database.checkpoint_wal()
    return b"".join(
        path.read_bytes() for path in sorted(app.settings.data_dir.glob("appliance.db*"))
    )


def _orl_face_png() -> bytes:
    path = shared_data_dir("orl_faces") / "s1" / "1.pgm"
    buffer = io.BytesIO()
    Image.open(path).convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


# -- item 5: metadata and ids ------------------------------------------------------------


def test_research_metadata_and_id_never_reach_a_query_caller_or_the_disk(
    served: LiveServer,  # noqa: F811
) -> None:
    """A research ingest without consent: text, metadata and id are de-identified; a
    query-role search sees none of the identifiers, and the store holds no raw id."""
    with served.client("admin") as admin, served.client("ingest") as ingest:
        admin.post("/v1/collections", json={"name": "study"})
        item = {
            "id": "MRN88442211-note",
            "subject_id": "MRN88442211",
            "modality": "text",
            "data": NOTE,
            "metadata": IDENTIFYING_METADATA,
            "context": RESEARCH,
        }
        reply = ingest.post("/v1/collections/study/items", json={"items": [item]})
    assert reply.status_code == 200, reply.text
    (stored,) = reply.json()["items"]
    assert stored["status"] == "stored", stored
    assert stored["id"] == "MRN88442211-note"  # the ingest caller sent it: echoed to them
    assert stored["notes"]["id_withheld"] and stored["notes"]["metadata_deidentified"]
    with served.client("query") as query:
        body = {"query": {"modality": "text", "data": "chest pain follow-up"}, "k": 5}
        found = query.post("/v1/collections/study/search", json=body)
    assert found.status_code == 200, found.text
    (hit,) = found.json()["results"]
    shown = json.dumps(hit)
    for identifier in ("Jane Doe", "1957-03-14", "88442211", "MRN88442211"):
        assert identifier not in shown, f"{identifier} reached the query caller: {shown}"
    assert hit["id"] == stored["notes"]["search_id"] and hit["id"].startswith("it_")
    assert set(hit["metadata"]) == {"patient_name", "dob", "mrn"}
    disk = _store_bytes(served.appliance)
    for identifier in (b"MRN88442211", b"88442211", b"Jane Doe"):
        assert identifier not in disk
    served.appliance.indexes.snapshot_all()
    for path in served.appliance.settings.data_dir.rglob("*"):  # trail, snapshots, keys
        if path.is_file():
            assert b"88442211" not in path.read_bytes(), path


def test_ids_allowed_to_be_shown_come_back_but_are_never_stored_in_the_clear(
    served: LiveServer,  # noqa: F811
) -> None:
    """Under treatment the query role gets the client's id back; the store still holds
    only its keyed reference."""
    with served.client("admin") as admin, served.client("ingest") as ingest:
        admin.post("/v1/collections", json={"name": "ward"})
        item = {
            "id": "MRN55501234-visit",
            "subject_id": "MRN55501234",
            "modality": "text",
            "data": "Follow-up for chest pain, stable on aspirin.",
            "metadata": {"mrn": "55501234", "kind": "note"},
            "context": TREATMENT,
        }
        reply = ingest.post("/v1/collections/ward/items", json={"items": [item]})
        assert reply.json()["items"][0]["status"] == "stored", reply.text
        again = ingest.post("/v1/collections/ward/items", json={"items": [item]})
    assert again.json()["items"][0]["error"]["code"] == "conflict"  # same id, found again
    with served.client("query") as query:
        body = {"query": {"modality": "text", "data": "chest pain"}, "k": 3}
        (hit,) = query.post("/v1/collections/ward/search", json=body).json()["results"]
    assert hit["id"] == "MRN55501234-visit"
    assert hit["metadata"] == {"mrn": "55501234", "kind": "note"}
    assert b"MRN55501234" not in _store_bytes(served.appliance)


# -- item 6: queries ----------------------------------------------------------------------


def test_face_query_without_a_release_is_refused_and_audited(
    served: LiveServer,  # noqa: F811
) -> None:
    """A visitor's face sent as a query needs a BIPA written release: without one the query
    is a 403 query_refused and the refusal is audited; with one on record it is searched."""
    face = data_uri("image/png", _orl_face_png())
    with served.client("admin") as admin:
        admin.post("/v1/collections", json={"name": "lobby"})
    body = {
        "query": {"modality": "image", "data": face},
        "k": 3,
        "context": {"subject_role": "visitor", "purpose": "operations"},
    }
    with served.client("query") as query:
        refused = query.post("/v1/collections/lobby/search", json=body)
        research = query.post("/v1/collections/lobby/search", json={**body, "context": RESEARCH})
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "query_refused" and "bipa" in error["message"]
    assert research.status_code == 403 and "authorization" in research.json()["error"]["message"]
    denied = [e for e in _trail(served.appliance) if e["action"] == "items.search"]
    assert [e["outcome"] for e in denied] == ["denied", "denied"]
    assert "bipa.face_geometry" in denied[0]["decision"]["categories"]
    assert denied[0]["decision"]["role"] == "visitor"
    with served.client("admin") as admin:
        granted = admin.post(
            "/v1/subjects/VISITOR-77/consents",
            json={"purpose": "operations", "category": "bipa.*", "evidence_ref": "form-77"},
        )
        assert granted.status_code == 201, granted.text
    with served.client("query") as query:
        body["query"]["subject_id"] = "VISITOR-77"
        allowed = query.post("/v1/collections/lobby/search", json=body)
    assert allowed.status_code == 200, allowed.text


# -- item 7: averaging --------------------------------------------------------------------


def test_averaging_repeated_embeddings_does_not_remove_the_noise(
    served: LiveServer,  # noqa: F811
) -> None:
    """256 copies of one research input in one request come back as one noisy vector: the
    mean is exactly as far from the clean vector as a single answer."""
    text = "Follow-up for chest pain, stable on aspirin."
    with served.client("query") as query:
        model = query.get("/v1/models").json()["data"][0]["id"]
        clean = query.post(
            "/v1/embeddings", json={"model": model, "input": text, "context": TREATMENT}
        ).json()["data"][0]["embedding"]
        noisy = query.post(
            "/v1/embeddings",
            json={"model": model, "input": [text] * 256, "context": RESEARCH},
        )
    assert noisy.status_code == 200, noisy.text
    rows = noisy.json()["data"]
    assert rows[0]["notes"]["defences"] == ["gaussian_noise"]
    vectors = np.array([r["embedding"] for r in rows], dtype=np.float64)
    clean_vector = np.array(clean, dtype=np.float64)
    single = np.linalg.norm(vectors[0] - clean_vector)
    averaged = np.linalg.norm(vectors.mean(axis=0) - clean_vector)
    print(f"\nnoise left: single {single:.4f}, mean of 256 {averaged:.4f}")
    assert single > 0.05  # the defence is on
    assert averaged >= 0.99 * single  # fresh noise per copy would have cut it ~16-fold


# -- item 8: access-control columns -------------------------------------------------------


def _sqlite(app: Appliance, statement: str, *params: object) -> None:
    """Edit the store file directly, as someone with the file but without the KEK."""
    app.database.checkpoint_wal()
    connection = sqlite3.connect(app.settings.data_dir / "appliance.db")
    try:
        with connection:
            assert connection.execute(statement, params).rowcount >= 1
    finally:
        connection.close()


def test_widening_visibility_in_the_database_does_not_widen_it(appliance: Appliance) -> None:
    """An admin-only item whose visible_to is rewritten in SQLite is not served to the
    query role (nor to anyone): the row fails to open and the failure is audited."""
    appliance.collections.create("restricted", DIMENSION, OPERATOR)
    vectors = unit_vectors(2, seed=5)
    appliance.items.store(
        "restricted",
        [
            NewItem(
                "S-1", Modality.TEXT, vectors[0], {"n": 0}, "hidden", (), ("visible_to:admin",)
            ),
            NewItem("S-1", Modality.TEXT, vectors[1], {"n": 1}, "open"),
        ],
        actor=OPERATOR,
        space="x",
    )

    def search(role: str) -> list[SearchHit]:
        return appliance.items.search(
            "restricted", vectors[0], k=2, actor=OPERATOR, space="x", viewer_role=role
        )

    def visible(role: str) -> list[str]:
        return [h.item_id for h in search(role)]

    assert visible("query") == ["open"] and visible("admin") == ["hidden", "open"]
    _sqlite(
        appliance,
        "UPDATE items SET obligations = ? WHERE row_id = ?",
        json.dumps(["visible_to:admin,query"]),
        search("admin")[0].row_id,
    )
    assert visible("query") == ["open"]
    assert visible("admin") == ["open"]  # withheld from everyone: reported, not served
    assert "items.integrity_failure" in [e["action"] for e in _trail(appliance)]


def test_cancelling_retention_in_the_database_does_not_keep_the_item_served(
    clock: FixedClock, appliance: Appliance
) -> None:
    """A deadline set to NULL in SQLite (and the index rebuilt) does not keep an expired
    item alive: the edited row no longer opens, so it is neither indexed nor served."""
    appliance.collections.create("short", DIMENSION, OPERATOR)
    vectors = unit_vectors(2, seed=6)
    deadline = clock.now() + timedelta(days=1)
    appliance.items.store(
        "short",
        [
            NewItem("S-2", Modality.TEXT, vectors[0], {}, "expiring", retention_deadline=deadline),
            NewItem("S-2", Modality.TEXT, vectors[1], {}, "kept"),
        ],
        actor=OPERATOR,
        space="x",
    )
    stored_settings = appliance.settings
    snapshot = appliance.indexes.snapshot_path("short", "x")
    (expiring, _) = appliance.items.search("short", vectors[0], k=2, actor=OPERATOR, space="x")
    assert expiring.item_id == "expiring"
    _sqlite(
        appliance,
        "UPDATE items SET retention_deadline = NULL WHERE row_id = ?",
        expiring.row_id,
    )
    appliance.close()
    snapshot.unlink()  # force a rebuild from the (edited) rows
    clock.advance(timedelta(days=2))
    reopened = open_appliance(stored_settings, clock=clock, environ={})
    try:
        hits = reopened.items.search("short", vectors[0], k=2, actor=OPERATOR, space="x")
        assert [h.item_id for h in hits] == ["kept"]
        assert "items.integrity_failure" in [e["action"] for e in _trail(reopened)]
    finally:
        reopened.close()


@pytest.mark.parametrize(
    ("column", "value"),
    [("modality", "image"), ("space_version", "y"), ("record_format", 1), ("policy_labels", "[]")],
)
def test_other_bound_columns_cannot_be_edited_either(
    appliance: Appliance, column: str, value: object
) -> None:
    """Modality, space version, policy labels and the record format are bound too."""
    appliance.collections.create("bound", DIMENSION, OPERATOR)
    vectors = unit_vectors(1, seed=7)
    item = NewItem("S-3", Modality.TEXT, vectors[0], {"n": 0}, "one", ("regime:hipaa",))
    appliance.items.store("bound", [item], actor=OPERATOR, space="x")
    (hit,) = appliance.items.search("bound", vectors[0], k=1, actor=OPERATOR, space="x")
    _sqlite(appliance, f"UPDATE items SET {column} = ? WHERE row_id = ?", value, hit.row_id)
    space = "y" if column == "space_version" else "x"
    hits = appliance.items.search("bound", vectors[0], k=1, actor=OPERATOR, space=space)
    assert hits == []
