"""``appliance serve`` as systemd runs it: READY=1 when ready, graceful stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from appliance.audit import verify_trail
from appliance.domain.types import Actor
from appliance.models import ModelStore
from appliance.settings import load_settings
from appliance.wiring import audit_public_key, init_appliance, open_appliance


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_serve_notifies_systemd_and_stops_gracefully(tmp_path: Path, test_pack: Path) -> None:
    """serve sends READY=1, answers, and on SIGTERM drains, snapshots and audits the stop."""
    settings = load_settings(data_dir=tmp_path / "data", environ={})
    init_appliance(settings, environ={})
    ModelStore(settings.models_dir).import_path(test_pack)
    app = open_appliance(settings, environ={})
    token = app.tokens.create("admin", actor=Actor.operator())
    app.close()

    notify_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify_path))
    listener.settimeout(120)
    port = _port()
    env = {
        **os.environ,
        "NOTIFY_SOCKET": str(notify_path),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    env.pop("APPLIANCE_CONFIG", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "appliance",
            "--data-dir",
            str(settings.data_dir),
            "serve",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert listener.recv(64) == b"READY=1"
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120
        ) as client:
            assert client.get("/readyz").status_code == 200
            client.post("/v1/collections", json={"name": "svc"}).raise_for_status()
            item = {
                "subject_id": "S",
                "modality": "text",
                "data": "routine check",
                "context": {"subject_role": "patient", "purpose": "treatment"},
            }
            reply = client.post("/v1/collections/svc/items", json={"items": [item]})
            assert reply.json()["items"][0]["status"] == "stored"
        process.send_signal(signal.SIGTERM)
        assert listener.recv(64) == b"STOPPING=1"
        # uvicorn re-raises SIGTERM after its graceful shutdown; systemd counts that as clean.
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
        listener.close()
    trail = (settings.data_dir / "audit" / "trail.jsonl").read_text()
    assert '"appliance.start"' in trail and '"appliance.stop"' in trail
    assert list((settings.data_dir / "index" / "svc").glob("*.snap"))
    report = verify_trail(settings.data_dir / "audit", audit_public_key(settings, environ={}))
    assert report.ok, report.problem
