"""A long-lived appliance process for attack tests: what `appliance serve` holds in memory
(an opened appliance, live indexes, a key cache), driven by JSON lines on stdin.

Run as ``python tests/security/server_process.py DATA_DIR [KEK_FILE]``. Each request line
is answered by one JSON line on stdout: ``{"ok": ...}`` or ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from appliance.domain.types import Actor, Modality
from appliance.observability import configure_logging
from appliance.services.items import NewItem
from appliance.settings import load_settings
from appliance.wiring import Appliance, open_appliance

OPERATOR = Actor.operator()


def handle(app: Appliance, request: dict[str, Any]) -> Any:
    """Carry out one request against the opened appliance."""
    op = request["op"]
    if op == "store":
        item = NewItem(
            subject_id=request["subject"],
            modality=Modality.TEXT,
            vector=np.asarray(request["vector"], dtype=np.float32),
            metadata=request.get("metadata", {}),
            item_id=request["item_id"],
        )
        return app.items.store(request["collection"], [item], actor=OPERATOR, space="s1")
    if op == "search":
        hits = app.items.search(
            request["collection"],
            np.asarray(request["vector"], dtype=np.float32),
            k=request.get("k", 5),
            actor=OPERATOR,
            space="s1",
        )
        return [
            {"id": h.item_id, "row": h.row_id, "score": h.score, "metadata": h.metadata}
            for h in hits
        ]
    if op == "ref":
        return app.items.stored_id(request["collection"], request["item_id"])
    if op == "snapshot":
        return app.indexes.snapshot_all()
    if op == "maintain":
        app.maintain()
        return True
    raise ValueError(f"unknown op {op!r}")


def serve_lines(app: Appliance, handler: Callable[[Appliance, dict[str, Any]], Any]) -> None:
    """Answer one JSON request per stdin line with one JSON reply on stdout until stdin
    closes, then close the appliance (snapshots written)."""
    print(json.dumps({"ok": "ready"}), flush=True)
    try:
        for line in sys.stdin:
            try:
                reply = {"ok": handler(app, json.loads(line))}
            except Exception as exc:
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(reply), flush=True)
    finally:
        app.close()


def main() -> None:
    """Serve requests until stdin closes, then close the appliance (snapshots written)."""
    configure_logging("info", "json", sys.stderr)  # stdout carries the replies only
    data_dir = Path(sys.argv[1])
    environ = {"APPLIANCE_KEYS__KEK_FILE": sys.argv[2]} if len(sys.argv) > 2 else {}
    settings = load_settings(data_dir=data_dir, environ=environ)
    app = open_appliance(settings, environ={})
    serve_lines(app, handle)


if __name__ == "__main__":
    main()
