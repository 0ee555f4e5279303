"""One appliance node in its own process, as `appliance serve` holds it (an opened
appliance, live indexes, key cache, its own index directory), on a shared PostgreSQL store.
Driven by JSON lines on stdin; each request is answered by one JSON line on stdout.

Run as ``python tests/scaling/node_process.py DATA_DIR KEK_FILE DATABASE_URL``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from appliance.domain.types import Actor, Modality
from appliance.observability import configure_logging
from appliance.services.items import NewItem
from appliance.settings import load_settings
from appliance.wiring import Appliance, open_appliance
from tests.security.server_process import serve_lines

OPERATOR = Actor.operator()
DIMENSION = 16


def vector(seed: int) -> np.ndarray:
    """A unit vector from a seed (the same on every node)."""
    v = np.random.default_rng(seed).normal(size=DIMENSION).astype(np.float32)
    return v / np.linalg.norm(v)


def _store(app: Appliance, item_id: str, subject: str, seed: int) -> None:
    item = NewItem(
        subject_id=subject,
        modality=Modality.TEXT,
        vector=vector(seed),
        metadata={"seed": seed},
        item_id=item_id,
    )
    app.items.store("notes", [item], actor=OPERATOR, space="s1")


def handle(app: Appliance, request: dict[str, Any]) -> Any:
    """Carry out one request against the opened appliance."""
    op = request["op"]
    if op == "store":
        _store(app, request["item_id"], request["subject"], request["seed"])
        return True
    if op == "search":
        hits = app.items.search(
            "notes", vector(request["seed"]), k=request.get("k", 5), actor=OPERATOR, space="s1"
        )
        return [{"id": h.item_id, "row": h.row_id, "score": h.score} for h in hits]
    if op == "index_keys":  # what the live index holds, without a search's catch-up
        with app.indexes._lock:  # test probe
            index = app.indexes._live.get(("notes", "s1"))
        return None if index is None else sorted(int(k) for k in index.keys().tolist())
    if op == "erase":
        return app.erasure.erase_subject(request["subject"], actor=OPERATOR)
    if op == "snapshot":
        return app.indexes.snapshot_all()
    if op == "maintain":
        app.maintain()
        return app.indexes.changes.applied
    if op == "audit_burst":
        for n in range(request["count"]):
            app.audit.append(actor=OPERATOR, action="test.burst", outcome="ok", details={"n": n})
        return True
    raise ValueError(f"unknown op {op!r}")


def main() -> None:
    """Serve requests until stdin closes, then close the appliance (snapshots written)."""
    configure_logging("warning", "json", sys.stderr)  # stdout carries the replies only
    data_dir, kek_file, url = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    environ = {"APPLIANCE_KEYS__KEK_FILE": kek_file, "APPLIANCE_DATABASE__URL": url}
    app = open_appliance(load_settings(data_dir=data_dir, environ=environ), environ={})
    serve_lines(app, handle)


if __name__ == "__main__":
    main()
