"""Plain HTTP only on loopback unless the operator says ``--insecure-http``; snapshot temp
files left by a crashed write are removed when a server starts, and audited."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from appliance.errors import ConfigError
from appliance.server import check_listener, open_for_serving
from appliance.settings import ServerSettings, Settings
from appliance.wiring import init_appliance, open_appliance, remove_stale_snapshot_temps
from tests.conftest import run_appliance

LOOPBACK = ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "::ffff:127.0.0.1")
NETWORK = ("0.0.0.0", "::", "10.20.30.40", "192.168.1.10", "fe80::1")


@pytest.mark.usefixtures("isolated_cli")
@pytest.mark.parametrize("command", ["serve", "quickstart"])
def test_cli_refuses_plain_http_on_a_network_address(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`serve --host 0.0.0.0` / `quickstart --host 10.20.30.40` without TLS stop before
    anything is opened or created, saying why and naming --insecure-http as the remedy."""
    data_dir = tmp_path / "data"
    host = "0.0.0.0" if command == "serve" else "10.20.30.40"
    code, out, err = run_appliance(capsys, "--data-dir", str(data_dir), command, "--host", host)
    assert code == 2, err
    assert f"refusing to serve plain HTTP on {host}" in err
    assert "remedy:" in err and "--insecure-http" in err and "tls_cert_file" in err
    assert out == ""
    assert not data_dir.exists()  # quickstart did not initialise anything


def test_listener_check_accepts_loopback_tls_or_the_explicit_flag(tmp_path: Path) -> None:
    """Loopback in any spelling passes; network addresses pass only with TLS configured or
    with insecure_http; the error carries the remedy."""
    plain = ServerSettings()
    for host in LOOPBACK:
        check_listener(host, plain, insecure_http=False)
    for host in NETWORK:
        with pytest.raises(ConfigError) as refused:
            check_listener(host, plain, insecure_http=False)
        assert "--insecure-http" in refused.value.remedy
        check_listener(host, plain, insecure_http=True)
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    cert.write_text("certificate")
    key.write_text("key")
    tls = ServerSettings(tls_cert_file=str(cert), tls_key_file=str(key))
    for host in NETWORK:
        check_listener(host, tls, insecure_http=False)


def _crashed_write(directory: Path, space: str = "minilm-1") -> Path:
    """A temp file named exactly as appliance.index.snapshot names an in-flight write."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{space}.snap.", suffix=".tmp", dir=directory)
    with open(fd, "wb") as out:
        out.write(b"half a snapshot")
    return Path(name)


def test_server_start_removes_crashed_snapshot_writes_and_audits_the_count(
    settings: Settings,
) -> None:
    """Two leftover temp files are deleted when a server opens the data dir; the finished
    snapshot and unrelated files stay; the removal is audited with its count."""
    init_appliance(settings, environ={})
    notes = settings.data_dir / "index" / "notes"
    leftovers = [_crashed_write(notes), _crashed_write(settings.data_dir / "index" / "scans")]
    kept = [notes / "minilm-1.snap", notes / ".notes.tmp"]
    for path in kept:
        path.write_bytes(b"keep")
    app = open_for_serving(settings)
    try:
        assert not [path for path in leftovers if path.exists()]
        assert all(path.exists() for path in kept)
    finally:
        app.close()
    trail = settings.data_dir / "audit" / "trail.jsonl"
    entries = [json.loads(line) for line in trail.read_text().splitlines()]
    (removal,) = [e for e in entries if e["action"] == "index.temp_files_removed"]
    assert removal["details"] == {"count": 2}


def test_temp_files_are_left_alone_while_another_process_holds_the_data_dir(
    settings: Settings,
) -> None:
    """While another appliance has the data dir open, its write may be in flight: the
    sweep touches nothing and says it skipped."""
    init_appliance(settings, environ={})
    in_flight = _crashed_write(settings.data_dir / "index" / "notes")
    other = open_appliance(settings, environ={})
    try:
        assert remove_stale_snapshot_temps(settings.data_dir) is None
        assert in_flight.exists()
    finally:
        other.close()
    assert remove_stale_snapshot_temps(settings.data_dir) == 1
    assert not in_flight.exists()
