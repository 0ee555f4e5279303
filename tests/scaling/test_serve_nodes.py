"""Two real `appliance serve` processes on one PostgreSQL store, over HTTP as the load
balancer would reach them: a write on A is found on B, an erasure on A leaves B, and a
node SIGKILLed mid-ingest loses nothing it acknowledged."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from appliance.domain.types import Actor
from appliance.models import ModelStore
from appliance.settings import Settings
from appliance.wiring import open_appliance
from tests.conftest import run_appliance
from tests.scaling.nodes import REPO, child_env, init_nodes

pytestmark = pytest.mark.slow
CONTEXT = {"subject_role": "patient", "purpose": "treatment"}
WORDS = ("amber", "birch", "cedar", "delta", "ember", "fjord", "grove", "heron", "iris", "juniper")


class ServedNode:
    """`appliance serve` for one node, started at once, ready after ``wait_ready``."""

    def __init__(self, settings: Settings, work: Path, token: str) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        notify = work / f"notify-{self.port}.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(str(notify))
        listener.settimeout(180)
        env = child_env()
        env["NOTIFY_SOCKET"] = str(notify)
        env["APPLIANCE_DATABASE__URL"] = settings.database_url
        env["APPLIANCE_KEYS__KEK_FILE"] = str(settings.keys.kek_file)
        env["APPLIANCE_ENCODERS__WARMUP"] = "false"
        command = [sys.executable, "-m", "appliance", "--data-dir", str(settings.data_dir)]
        self.process = subprocess.Popen(
            [*command, "serve", "--port", str(self.port)],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._listener = listener
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )

    def wait_ready(self) -> None:
        """Block until the node told systemd it is ready and accepts connections (READY=1
        comes from the app's startup hook, which uvicorn runs before it binds the port)."""
        try:
            assert self._listener.recv(64) == b"READY=1"
        finally:
            self._listener.close()
        for _ in range(600):
            try:
                self.client.get("/healthz")
                return
            except httpx.ConnectError:
                threading.Event().wait(0.05)
        raise AssertionError("the node never accepted a connection")

    def store(self, item_id: str, subject: str, text: str) -> None:
        """Ingest one text item; raises unless it was stored."""
        item = {"id": item_id, "subject_id": subject, "modality": "text", "data": text,
                "context": CONTEXT}  # fmt: skip
        reply = self.client.post("/v1/collections/notes/items", json={"items": [item]})
        reply.raise_for_status()
        assert reply.json()["items"][0]["status"] == "stored", reply.json()

    def top(self, text: str) -> list[str]:
        """Ids of the near-exact hits for a text query."""
        query = {"query": {"modality": "text", "data": text}, "k": 20}
        reply = self.client.post("/v1/collections/notes/search", json=query)
        reply.raise_for_status()
        return [r["id"] for r in reply.json()["results"] if r["score"] > 0.99]

    def kill(self) -> None:
        """SIGKILL, if still running."""
        self.client.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.fixture(scope="module")
def test_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny non-semantic model pack (the same text always gives the same vector)."""
    from appliance.encoders.testpack import write_test_pack

    return write_test_pack(tmp_path_factory.mktemp("pack") / "pack")


@pytest.fixture
def served(pg_url: str, tmp_path: Path, test_pack: Path) -> Iterator[list[ServedNode]]:
    """Two `appliance serve` nodes on one store, each with its own data dir and models."""
    nodes = init_nodes(tmp_path, pg_url, collection=False)
    for settings in nodes:
        ModelStore(settings.models_dir).import_path(test_pack)
    app = open_appliance(nodes[0], environ={})
    try:
        token = app.tokens.create("admin", actor=Actor.operator())  # one token table
    finally:
        app.close()
    started: list[ServedNode] = []
    try:
        for settings in nodes:  # both start side by side
            started.append(ServedNode(settings, tmp_path, token))
        for node in started:
            node.wait_ready()
        yield started
    finally:
        for node in started:
            node.kill()


@pytest.mark.usefixtures("isolated_cli")
def test_served_nodes_share_writes_and_erasures_and_survive_a_sigkill(
    served: list[ServedNode],
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Over HTTP: A's write is B's next hit; A's erasure is gone from B's next answer; A is
    SIGKILLed while a client ingests, and B finds every item A acknowledged; the audit
    chain both nodes wrote verifies."""
    a, b = served
    a.client.post("/v1/collections", json={"name": "notes"}).raise_for_status()
    a.store("first", "S-first", "routine check alpha")
    assert b.top("routine check alpha") == ["first"]
    deleted = a.client.delete("/v1/subjects/S-first")
    assert deleted.status_code == 200 and deleted.json() == {"deleted": 1}
    assert b.top("routine check alpha") == []

    acked: list[str] = []
    stop = threading.Event()

    def ingest() -> None:
        for n in range(200):
            text = f"routine check {WORDS[n % len(WORDS)]} {WORDS[(n // 10) % len(WORDS)]}"
            try:
                a.store(f"n{n}", f"S-{n}", text)
            except (httpx.HTTPError, AssertionError):
                return
            acked.append(text)
            if len(acked) == 6:
                stop.set()  # the client goes on: A dies with a request in flight

    client = threading.Thread(target=ingest)
    client.start()
    assert stop.wait(timeout=300)
    a.kill()
    client.join(timeout=120)
    assert len(acked) >= 6
    for n, text in enumerate(acked):  # the toy encoder maps similar texts close: membership
        assert f"n{n}" in b.top(text), text
    b.store("after", "S-after", "routine check after the kill")  # no lock left behind
    assert "after" in b.top("routine check after the kill")
    monkeypatch.setenv("APPLIANCE_DATABASE__URL", pg_url)
    monkeypatch.setenv("APPLIANCE_KEYS__KEK_FILE", str(tmp_path / "kek"))
    code, out, err = run_appliance(capsys, "--data-dir", str(tmp_path / "node1"), "audit", "verify")
    assert code == 0, err
    assert "audit trail intact" in out
