"""Helpers of the multi-node tests: node data dirs on one PostgreSQL store, node processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from appliance.domain.types import Actor
from appliance.settings import Settings, load_settings
from appliance.wiring import init_appliance, open_appliance
from tests.scaling.node_process import DIMENSION

REPO = Path(__file__).resolve().parents[2]


def node_environ(kek_file: Path, url: str) -> dict[str, str]:
    """The settings every node shares: the store's URL and the (copied) KEK."""
    return {"APPLIANCE_KEYS__KEK_FILE": str(kek_file), "APPLIANCE_DATABASE__URL": url}


def init_nodes(root: Path, url: str, count: int = 2, *, collection: bool = True) -> list[Settings]:
    """Initialise ``count`` node data dirs on one store; the first creates "notes" (with
    ``collection``)."""
    kek = root / "kek"  # one KEK for the group (each node gets a copy in production)
    nodes = []
    for n in range(count):
        settings = load_settings(data_dir=root / f"node{n}", environ=node_environ(kek, url))
        init_appliance(settings, environ={})
        nodes.append(settings)
    if not collection:
        return nodes
    app = open_appliance(nodes[0], environ={})
    try:
        app.collections.create("notes", DIMENSION, Actor.operator())
    finally:
        app.close()
    return nodes


def child_env() -> dict[str, str]:
    """The environment of a node process: no APPLIANCE_* leaking in, this checkout first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env.pop("CREDENTIALS_DIRECTORY", None)
    env["PYTHONPATH"] = str(REPO)
    return env


class NodeProcess:
    """A node held open in its own process (see ``node_process``)."""

    def __init__(self, settings: Settings) -> None:
        kek = settings.keys.kek_file
        self.settings = settings
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "tests" / "scaling" / "node_process.py"),
                str(settings.data_dir),
                kek,
                settings.database_url,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
            cwd=REPO,
        )
        assert self.read() == {"ok": "ready"}

    def read(self) -> dict[str, Any]:
        """The next reply line."""
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, "the node process died"
        return json.loads(line)

    def send(self, **request: Any) -> None:
        """Send a request without waiting for its reply."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()

    def call(self, **request: Any) -> Any:
        """Send one request; return its result or fail with the node's error."""
        self.send(**request)
        reply = self.read()
        assert "error" not in reply, reply["error"]
        return reply["ok"]

    def close(self) -> None:
        """Close stdin: the node closes its appliance (final snapshot) and exits."""
        if self.process.poll() is None:
            if self.process.stdin is not None and not self.process.stdin.closed:
                self.process.stdin.close()
            assert self.process.wait(timeout=60) == 0

    def kill(self) -> None:
        """SIGKILL, if still running."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
