"""A writer killed with SIGKILL loses no acknowledged write and leaves a consistent store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from appliance.audit import verify_trail
from appliance.domain.types import Actor
from appliance.settings import load_settings
from appliance.wiring import init_appliance, open_appliance
from tests.services.helpers import DIMENSION, read_all_vectors

WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from appliance.domain.types import Actor, Modality
    from appliance.services.items import NewItem
    from appliance.observability import configure_logging
    from appliance.settings import load_settings
    from appliance.wiring import open_appliance

    configure_logging(stream=sys.stderr)
    settings = load_settings(data_dir=sys.argv[1], environ={})
    app = open_appliance(settings, environ={})
    app.collections.create("stream", %(dim)d, Actor.operator())
    n = 0
    while True:
        vector = np.random.default_rng(n).normal(size=%(dim)d).astype(np.float32)
        item = NewItem(f"S{n %% 5}", Modality.TEXT, vector, {"n": n}, f"w-{n}")
        app.items.store("stream", [item], actor=Actor.operator(), space="x")
        print(f"w-{n}", flush=True)
        n += 1
    """
) % {"dim": DIMENSION}


@pytest.mark.slow
def test_sigkill_mid_stream_loses_no_acknowledged_write(tmp_path: Path) -> None:
    """Every write acknowledged before SIGKILL is readable after restart; the trail verifies."""
    settings = load_settings(data_dir=tmp_path / "data", environ={})
    init_appliance(settings, environ={})
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(settings.data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    acknowledged: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        acknowledged.append(line.strip())
        if len(acknowledged) >= 40:
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, process.stderr.read() if process.stderr else ""

    stored = read_all_vectors(settings)
    for item_id in acknowledged:
        n = int(item_id.split("-")[1])
        expected = np.random.default_rng(n).normal(size=DIMENSION).astype(np.float32)
        assert np.array_equal(stored[item_id], expected)

    app = open_appliance(settings, environ={})
    try:
        last = (
            np.random.default_rng(len(acknowledged) - 1).normal(size=DIMENSION).astype(np.float32)
        )
        hits = app.items.search("stream", last, k=1, actor=Actor.operator(), space="x")
        assert hits[0].item_id == acknowledged[-1]
        report = verify_trail(settings.data_dir / "audit", app.signing_public_key)
        assert report.ok, report.problem
    finally:
        app.close()
