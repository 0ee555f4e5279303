"""An appliance on a scratch data dir with a model pack, served on loopback: what the
benchmarks that drive the HTTP API (``api``, ``peer``, ``profile``, ``retrieval``) stand up."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def prepared_appliance(
    root: Path,
    pack: str,
    progress: Callable[[str], None] = lambda _: None,
    environ: dict[str, str] | None = None,
) -> tuple[Any, Any, str]:
    """Initialise ``root/data``, import the ``starter`` or ``test`` pack, open it; returns
    the appliance, its API state and an admin token. ``environ``: settings overrides
    (``APPLIANCE_<SECTION>__<KEY>``)."""
    from appliance.domain.types import Actor
    from appliance.models import ModelStore
    from appliance.server import build_state
    from appliance.settings import load_settings
    from appliance.wiring import init_appliance, open_appliance

    environ = dict(environ or {})
    settings = load_settings(data_dir=root / "data", environ=environ)
    init_appliance(settings, environ=environ)
    progress(f"importing the {pack} pack")
    pack_dir = root / "pack"
    if pack == "starter":
        from appliance.encoders.starter import write_starter_pack

        write_starter_pack(pack_dir)
    else:
        from appliance.encoders.testpack import write_test_pack

        write_test_pack(pack_dir)
    ModelStore(settings.models_dir).import_path(pack_dir)
    app = open_appliance(settings, environ=environ)
    state = build_state(app)
    assert state.encoders is not None
    token = app.tokens.create("admin", actor=Actor.operator())
    return app, state, token


def serve_in_thread(state: Any) -> tuple[Any, str]:
    """Serve the API state on a free loopback port (rate limits lifted); (server, URL)."""
    import uvicorn

    from appliance.api.app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    app = create_app(state, requests_per_second=1e6, burst=1_000_000)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}"
