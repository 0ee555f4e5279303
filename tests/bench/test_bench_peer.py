"""`appliance bench peer`: the appliance beside a peer OpenAI-compatible server, tiny size."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.bench.peer import Target, format_report, peer_command, run_peer_benchmark

PEER_TOKEN = "peer-secret"


class FakePeer(ThreadingHTTPServer):
    """A minimal OpenAI-compatible /v1/embeddings server that logs when each request came."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.arrivals: list[float] = []
        self.refused = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: object) -> None:
        pass

    def do_POST(self) -> None:
        server = self.server
        assert isinstance(server, FakePeer)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.headers.get("Authorization") != f"Bearer {PEER_TOKEN}" or self.path != (
            "/v1/embeddings"
        ):
            server.refused += 1
            self._answer(401, {"error": {"message": "bad token or path"}})
            return
        server.arrivals.append(time.time())
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        rows = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]}
            for i, t in enumerate(inputs)
        ]
        self._answer(200, {"object": "list", "data": rows, "model": body["model"]})

    def _answer(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake_peer() -> Iterator[FakePeer]:
    server = FakePeer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _url(server: FakePeer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.mark.bench
def test_peer_rounds_alternate_and_report_ratios(fake_peer: FakePeer, tmp_path: Path) -> None:
    """Peer and appliance rounds alternate in time; each load has both sides, and the ratio."""
    report = run_peer_benchmark(
        Target(_url(fake_peer), "fake-minilm", PEER_TOKEN),
        loads=[(2, 3), (1, 1)],
        rounds=3,
        requests_per_round=4,
        pack="test",
        workdir=tmp_path,
    )
    assert [(load["clients"], load["batch"]) for load in report["loads"]] == [(2, 3), (1, 1)]
    for load in report["loads"]:
        sides = [r["side"] for r in load["rounds"]]
        assert sides == ["peer", "appliance"] * 3
        windows = [(r["started_at"], r["ended_at"]) for r in load["rounds"]]
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(windows))
        for side in ("peer", "appliance"):
            figures = load[side]
            assert figures["requests"] == 3 * 4 and figures["sentences"] == 3 * 4 * load["batch"]
            assert figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
        assert load["ratio"] == pytest.approx(
            load["appliance"]["sentences_per_s"] / load["peer"]["sentences_per_s"], rel=0.01
        )
    peer_windows = [
        (r["started_at"], r["ended_at"])
        for load in report["loads"]
        for r in load["rounds"]
        if r["side"] == "peer"
    ]
    timed = [t for t in fake_peer.arrivals if any(a <= t <= b for a, b in peer_windows)]
    assert len(timed) == 2 * 3 * 4  # every timed peer request fell inside a peer round
    assert fake_peer.refused == 0
    assert "ratio" in format_report(report)


@pytest.mark.bench
def test_peer_cli_names_a_refusing_peer(fake_peer: FakePeer, tmp_path: Path) -> None:
    """A peer that refuses the token is a clear CLI error, not figures."""
    result = CliRunner().invoke(
        peer_command,
        ["--url", _url(fake_peer), "--token", "wrong", "--pack", "test", "--clients", "1",
         "--batch", "1", "--rounds", "1", "--requests", "1", "--json"],
    )  # fmt: skip
    assert result.exit_code == 1 and "answered 401" in result.output
    assert fake_peer.refused >= 1


def test_peer_cli_rejects_unpaired_loads() -> None:
    """--clients and --batch must pair up; --appliance-url needs its model and token."""
    runner = CliRunner()
    unpaired = runner.invoke(
        peer_command, ["--url", "http://x", "--clients", "1,2", "--batch", "1"]
    )
    assert unpaired.exit_code == 2 and "same number" in unpaired.output
    lone = runner.invoke(peer_command, ["--url", "http://x", "--appliance-url", "http://y"])
    assert lone.exit_code == 2 and "appliance-model" in lone.output
