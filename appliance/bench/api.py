"""``appliance bench api``: the HTTP layer and the ingest pipeline against bare baselines.

1. ``/v1/embeddings`` text throughput and p50/p99 under ``clients`` concurrent clients on
   loopback (driven from a separate process), against the same engine called in-process
   by the same number of threads, and against screening + engine in-process.
2. Ingest through HTTP (detect, decide, encode, seal, store, audit, index) against a bare
   encode + index add of the same items, with where the time goes (each stage timed alone).

Everything runs in a scratch data dir with the starter pack (real MiniLM text anchor) or
the tiny test pack; inputs are synthetic, free of patient data.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

from appliance.bench.encoders import make_inputs
from appliance.bench.served import prepared_appliance, serve_in_thread


def _latencies(calls: int, workers: int, call: Callable[[int], None]) -> tuple[float, list[float]]:
    """Run ``calls`` calls over ``workers`` threads; returns (wall seconds, latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(calls))

    def worker() -> None:
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            started = time.perf_counter()
            call(index)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies


def _summary(wall: float, latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "throughput_rps": len(ordered) / wall,
        "p50_ms": 1000 * ordered[len(ordered) // 2],
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


def run_api_benchmark(
    *,
    requests: int = 400,
    clients: int = 32,
    ingest_items: int = 128,
    batch: int = 16,
    pack: str = "starter",
    workdir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run both comparisons in one process; returns figures and ratios."""
    import httpx

    from appliance.api.embeddings import DEFAULT_CONTEXT
    from appliance.domain.types import Actor, Modality
    from appliance.policy.decisions import RequestContext

    root = Path(workdir or tempfile.mkdtemp(prefix="bench-api-"))
    app, state, token = prepared_appliance(root, pack, progress)
    texts = [str(t) for t in make_inputs("text", max(requests, ingest_items), seed=1)]
    engine = state.encoders.engine(Modality.TEXT)
    server, url = serve_in_thread(state)
    try:
        progress("warming up")
        headers = {"Authorization": f"Bearer {token}"}
        body = {"model": state.encoders.space_name}
        clients_pool = [
            httpx.Client(base_url=url, headers=headers, timeout=60) for _ in range(clients)
        ]
        for c in clients_pool[:2]:
            c.post("/v1/embeddings", json={**body, "input": texts[0]}).raise_for_status()

        def in_process(i: int) -> None:
            engine.encode_items([texts[i]])

        context = RequestContext.from_mapping(DEFAULT_CONTEXT, modality=Modality.TEXT)
        actor = Actor.operator()

        def service(i: int) -> None:
            state.embeddings.embed(
                Modality.TEXT, [texts[i]], context, actor=actor, encoders=state.encoders
            )

        progress(f"embeddings: {requests} requests, {clients} clients, HTTP and in-process")
        http = _clients_in_subprocess(url, token, body["model"], texts[:requests], clients)
        bare = _summary(*_latencies(requests, clients, in_process))
        screened = _summary(*_latencies(requests, clients, service))
        ingest = _ingest(state, app, clients_pool[0], texts[:ingest_items], batch, progress)
        for c in clients_pool:
            c.close()
    finally:
        server.should_exit = True
        state.encoders.close()  # type: ignore[attr-defined]
        app.close()
    return {
        "params": {
            "requests": requests,
            "clients": clients,
            "ingest_items": ingest_items,
            "batch": batch,
            "pack": pack,
            "space": state.encoders.space_name,
        },
        "embeddings": {
            "http": http,
            "in_process": bare,
            "service_in_process": screened,
            "ratio": http["throughput_rps"] / bare["throughput_rps"],
            "ratio_vs_service": http["throughput_rps"] / screened["throughput_rps"],
        },
        "ingest": ingest,
        "goals": {
            "http/engine >= 0.85": http["throughput_rps"] / bare["throughput_rps"] >= 0.85,
            "http/(screening + engine) >= 0.85": (
                http["throughput_rps"] / screened["throughput_rps"] >= 0.85
            ),
        },
    }


_CLIENT_SCRIPT = """
import http.client, json, sys, threading, time
url, token, model, clients = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
texts = json.load(sys.stdin)
host, port = url.split("//")[1].split(":")
lock, latencies, queue = threading.Lock(), [], list(range(len(texts)))
def worker():
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    head = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    while True:
        with lock:
            if not queue:
                return
            i = queue.pop()
        started = time.perf_counter()
        payload = json.dumps({"model": model, "input": texts[i]})
        conn.request("POST", "/v1/embeddings", payload, head)
        response = conn.getresponse(); response.read()
        assert response.status == 200, response.status
        with lock:
            latencies.append(time.perf_counter() - started)
threads = [threading.Thread(target=worker) for _ in range(clients)]
started = time.perf_counter()
[t.start() for t in threads]; [t.join() for t in threads]
print(json.dumps({"wall": time.perf_counter() - started, "latencies": latencies}))
"""


def _clients_in_subprocess(
    url: str, token: str, model: str, texts: list[str], clients: int
) -> dict[str, float]:
    """Drive the server from another process (its own interpreter), as real clients would."""
    import subprocess
    import sys

    completed = subprocess.run(
        [sys.executable, "-c", _CLIENT_SCRIPT, url, token, model, str(clients)],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(completed.stdout)
    return _summary(result["wall"], result["latencies"])


def _ingest(
    state: Any, app: Any, client: Any, texts: list[str], batch: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    from appliance.domain.types import Actor, Modality
    from appliance.index import IndexSpec, VectorIndex
    from appliance.policy.decisions import RequestContext
    from appliance.services.items import NewItem

    context = {"subject_role": "patient", "purpose": "treatment"}
    client.post("/v1/collections", json={"name": "bench"}).raise_for_status()
    progress(f"ingest: {len(texts)} items over HTTP in batches of {batch}")
    started = time.perf_counter()
    for offset in range(0, len(texts), batch):
        items = [
            {"subject_id": f"S{offset + n}", "modality": "text", "data": t, "context": context}
            for n, t in enumerate(texts[offset : offset + batch])
        ]
        client.post("/v1/collections/bench/items", json={"items": items}).raise_for_status()
    full = time.perf_counter() - started

    engine = state.encoders.engine(Modality.TEXT)
    spec = IndexSpec.from_settings(app.settings.index, state.encoders.dimension)
    index = VectorIndex(spec, collection="bare", space="bare")
    started = time.perf_counter()
    vectors = []
    for offset in range(0, len(texts), batch):
        chunk = engine.encode_items(texts[offset : offset + batch]).vectors
        index.add(np.arange(offset, offset + len(chunk)), chunk)
        vectors.append(chunk)
    bare = time.perf_counter() - started

    progress("ingest: timing each stage alone")
    ctx = RequestContext.from_mapping(context, modality=Modality.TEXT)
    stages: dict[str, float] = {}
    started = time.perf_counter()
    for text in texts:
        state.screening.screen(Modality.TEXT, text, ctx)
    stages["detect_and_decide"] = time.perf_counter() - started
    started = time.perf_counter()
    for offset in range(0, len(texts), batch):
        engine.encode_items(texts[offset : offset + batch])
    stages["encode"] = time.perf_counter() - started
    app.collections.create("stages", state.encoders.dimension, Actor.operator())
    all_vectors = np.vstack(vectors)
    started = time.perf_counter()
    for offset in range(0, len(texts), batch):
        app.items.store(
            "stages",
            [
                NewItem(f"T{offset + n}", Modality.TEXT, v)
                for n, v in enumerate(all_vectors[offset : offset + batch])
            ],
            actor=Actor.operator(),
            space="stages",
        )
    stages["seal_store_audit_index"] = time.perf_counter() - started
    per_item = {k: 1000 * v / len(texts) for k, v in stages.items()}
    return {
        "http_items_per_s": len(texts) / full,
        "bare_items_per_s": len(texts) / bare,
        "ratio": bare / full,
        "stage_ms_per_item": per_item,
        "http_ms_per_item": 1000 * full / len(texts),
    }


def format_report(report: dict[str, Any]) -> str:
    """A readable table."""
    e, i = report["embeddings"], report["ingest"]
    lines = [
        f"api benchmark: {report['params']}",
        "",
        "embeddings (text, 1 input/request)   throughput/s    p50 ms    p99 ms",
        f"  over HTTP (loopback)               {e['http']['throughput_rps']:12.1f} "
        f"{e['http']['p50_ms']:9.1f} {e['http']['p99_ms']:9.1f}",
        f"  engine in-process                  {e['in_process']['throughput_rps']:12.1f} "
        f"{e['in_process']['p50_ms']:9.1f} {e['in_process']['p99_ms']:9.1f}",
        f"  screening + engine in-process      {e['service_in_process']['throughput_rps']:12.1f} "
        f"{e['service_in_process']['p50_ms']:9.1f} {e['service_in_process']['p99_ms']:9.1f}",
        f"  ratio HTTP / engine                {e['ratio']:12.3f}   (goal >= 0.85)",
        f"  ratio HTTP / (screening + engine)  {e['ratio_vs_service']:12.3f}   (goal >= 0.85)",
        "",
        f"ingest over HTTP: {i['http_items_per_s']:.1f} items/s; bare encode + index add: "
        f"{i['bare_items_per_s']:.1f} items/s; ratio {i['ratio']:.3f}",
        "where the time goes (ms per item, each stage alone):",
        *(f"  {k:<26} {v:8.2f}" for k, v in i["stage_ms_per_item"].items()),
        f"  {'full HTTP ingest':<26} {i['http_ms_per_item']:8.2f}",
    ]
    return "\n".join(lines)


@click.command("api")
@click.option("--requests", default=400, show_default=True)
@click.option("--clients", default=32, show_default=True)
@click.option("--ingest-items", default=128, show_default=True)
@click.option("--batch", default=16, show_default=True)
@click.option(
    "--pack", type=click.Choice(["starter", "test"]), default="starter", show_default=True
)
@click.option("--json", "as_json", is_flag=True)
def api_command(
    requests: int, clients: int, ingest_items: int, batch: int, pack: str, as_json: bool
) -> None:
    """HTTP /v1/embeddings vs in-process engine; ingest pipeline vs bare encode + index."""
    report = run_api_benchmark(
        requests=requests,
        clients=clients,
        ingest_items=ingest_items,
        batch=batch,
        pack=pack,
        progress=lambda m: click.echo(f"... {m}", err=True),
    )
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))
