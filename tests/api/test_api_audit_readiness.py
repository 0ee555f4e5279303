"""Readiness fails while the last ``audit verify`` failed (issue 14): the hourly timer's
verdict on the trail reaches the load balancer, and a later passing run clears it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from appliance.server import readiness_service
from appliance.services.audit_health import RECORD_NAME
from appliance.wiring import Appliance
from tests.api.conftest import LiveServer

REPO = Path(__file__).resolve().parents[2]


def _verify(data_dir: Path) -> int:
    """`appliance audit verify` in its own process, as the hourly timer runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env.pop("CREDENTIALS_DIRECTORY", None)
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-m", "appliance", "--data-dir", str(data_dir), "audit", "verify"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    return done.returncode


def test_tampered_trail_makes_readyz_fail_until_a_passing_verify(served: LiveServer) -> None:
    """Edit an entry, run verify: /readyz is 503 naming the audit check; restore the entry
    and verify again: /readyz is 200."""
    data_dir = served.appliance.settings.data_dir
    with served.client() as anonymous:
        assert anonymous.get("/readyz").status_code == 200
        assert _verify(data_dir) == 0
        assert anonymous.get("/readyz").status_code == 200
        trail = data_dir / "audit" / "trail.jsonl"
        original = trail.read_bytes()
        lines = original.decode().splitlines()
        entry = json.loads(lines[1])
        entry["outcome"] = "forged"
        lines[1] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
        trail.write_text("\n".join(lines) + "\n")
        try:
            assert _verify(data_dir) == 1
        finally:
            trail.write_bytes(original)
        failing = anonymous.get("/readyz")
        assert failing.status_code == 503, failing.text
        error = failing.json()["error"]
        audit = [c for c in error["checks"] if c.startswith("audit:")]
        assert audit and "last verification" in audit[0] and "failed" in audit[0], error
        assert _verify(data_dir) == 0
        assert anonymous.get("/readyz").status_code == 200


def test_unreadable_verification_record_fails_closed(appliance: Appliance) -> None:
    """A verification record that is not what verify writes (garbage, a wrong type) counts
    as a failed verification, not as none."""
    readiness = readiness_service(appliance, None)
    assert not [p for p in readiness.problems() if p.startswith("audit:")]
    record = appliance.settings.data_dir / RECORD_NAME
    for content in ("{not json", json.dumps({"ok": "yes"}), json.dumps([1])):
        record.write_text(content)
        assert [p for p in readiness.problems() if p.startswith("audit:")], content
    record.write_text(json.dumps({"ok": True, "when": "2026-01-01T00:00:00Z", "reason": ""}))
    assert not [p for p in readiness.problems() if p.startswith("audit:")]
