"""``appliance bench peer``: the appliance beside any OpenAI-compatible embedding server.

Both servers get the same inputs, the same number of concurrent clients and the same
batch (inputs per request), in ALTERNATING rounds (peer, appliance, peer, ...) so
background load on a shared host falls on both. The clients run in a separate Python
process (its own interpreter, its own GIL), one fresh process per round, over keep-alive
HTTP/1.1 connections. Reported per load: sentences/s, p50/p95/p99 request latency and
the ratio appliance/peer (throughput; p50 as a latency ratio).

The appliance side is a given URL, or one started in this process in a scratch data dir
with the starter pack (the real MiniLM) or the tiny test pack. Inputs are synthetic
clinical-style sentences (no patient data). Screening, audit and auth stay on.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from appliance.bench.encoders import make_inputs


@dataclass(frozen=True)
class Target:
    """One OpenAI-compatible server: base URL (no ``/v1``), model name, bearer token."""

    url: str
    model: str
    token: str | None = None


_CLIENT_SCRIPT = r"""
import http.client, json, sys, threading, time, urllib.parse
spec = json.load(sys.stdin)
parts = urllib.parse.urlsplit(spec["url"])
path = parts.path.rstrip("/") + "/v1/embeddings"
head = {"Content-Type": "application/json"}
if spec["token"]:
    head["Authorization"] = "Bearer " + spec["token"]
lock, latencies, failures = threading.Lock(), [], []
queue = list(range(len(spec["requests"])))
queue.reverse()
def worker():
    make = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = make(parts.hostname, parts.port, timeout=600)
    while True:
        with lock:
            if not queue:
                return
            i = queue.pop()
        payload = json.dumps({"model": spec["model"], "input": spec["requests"][i]})
        started = time.perf_counter()
        conn.request("POST", path, payload, head)
        response = conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        with lock:
            if response.status != 200:
                failures.append([response.status, body[:300].decode("utf-8", "replace")])
                return
            rows = json.loads(body)["data"]
            if len(rows) != len(spec["requests"][i]):
                failures.append([response.status, "wrong number of embeddings"])
                return
            latencies.append(elapsed)
threads = [threading.Thread(target=worker) for _ in range(spec["clients"])]
started_at = time.time()
started = time.perf_counter()
[t.start() for t in threads]; [t.join() for t in threads]
wall = time.perf_counter() - started
print(json.dumps({"wall": wall, "started_at": started_at, "ended_at": time.time(),
                  "latencies": latencies, "failures": failures}))
"""


def drive(target: Target, requests: Sequence[Sequence[str]], clients: int) -> dict[str, Any]:
    """Send ``requests`` (each a list of inputs) with ``clients`` concurrent clients from a
    fresh Python process; returns wall seconds, wall-clock window and latencies."""
    spec = {
        "url": target.url,
        "model": target.model,
        "token": target.token,
        "clients": clients,
        "requests": [list(r) for r in requests],
    }
    completed = subprocess.run(
        [sys.executable, "-c", _CLIENT_SCRIPT],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise click.ClickException(f"client process failed: {completed.stderr[-600:]}")
    result = json.loads(completed.stdout)
    if result["failures"]:
        status, message = result["failures"][0]
        raise click.ClickException(
            f"{target.url} answered {status}: {message} (check --url, --model and --token)"
        )
    return result


def summarise(wall: float, latencies: Sequence[float], sentences: int) -> dict[str, float]:
    """Sentences/s, requests/s and p50/p95/p99 latency (nearest rank) in ms."""
    from appliance.bench.loadtest import percentiles_ms

    return {
        "sentences_per_s": round(sentences / wall, 2) if wall else 0.0,
        "requests_per_s": round(len(latencies) / wall, 2) if wall else 0.0,
        "requests": len(latencies),
        "sentences": sentences,
        "seconds": round(wall, 4),
        **percentiles_ms(latencies),
    }


def run_peer_benchmark(
    peer: Target,
    appliance: Target | None = None,
    *,
    loads: Sequence[tuple[int, int]] = ((16, 8), (1, 1)),
    rounds: int = 4,
    requests_per_round: int = 64,
    pack: str = "starter",
    workdir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Measure ``peer`` and the appliance in alternating rounds for each (clients, batch)
    load; ``appliance`` None starts one in this process. Returns a JSON-ready report."""
    with _appliance_target(appliance, pack, workdir, progress) as (target, where):
        report: dict[str, Any] = {
            "params": {
                "peer": {"url": peer.url, "model": peer.model},
                "appliance": {"url": target.url, "model": target.model, "where": where},
                "rounds": rounds,
                "requests_per_round": requests_per_round,
            },
            "loads": [],
        }
        pool = [str(t) for t in make_inputs("text", 512, seed=3)]
        for clients, batch in loads:
            progress(f"load {clients} clients x batch {batch}: warming up both")
            warm = [pool[:batch]] * max(2, clients)
            for side in (peer, target):
                drive(side, warm, clients)
            sides: dict[str, dict[str, Any]] = {
                "peer": {"latencies": [], "wall": 0.0, "sentences": 0},
                "appliance": {"latencies": [], "wall": 0.0, "sentences": 0},
            }
            log: list[dict[str, Any]] = []
            for number in range(rounds):
                offset = number * requests_per_round * batch
                requests = [
                    [pool[(offset + r * batch + j) % len(pool)] for j in range(batch)]
                    for r in range(requests_per_round)
                ]
                for name, side in (("peer", peer), ("appliance", target)):
                    progress(f"load {clients}x{batch}: round {number + 1}/{rounds}, {name}")
                    result = drive(side, requests, clients)
                    figures = sides[name]
                    figures["latencies"] += result["latencies"]
                    figures["wall"] += result["wall"]
                    figures["sentences"] += len(requests) * batch
                    log.append(
                        {
                            "round": number + 1,
                            "side": name,
                            "started_at": result["started_at"],
                            "ended_at": result["ended_at"],
                            **summarise(result["wall"], result["latencies"], len(requests) * batch),
                        }
                    )
            summaries = {
                name: summarise(f["wall"], f["latencies"], f["sentences"])
                for name, f in sides.items()
            }
            report["loads"].append(
                {
                    "clients": clients,
                    "batch": batch,
                    **summaries,
                    "ratio": round(
                        summaries["appliance"]["sentences_per_s"]
                        / max(summaries["peer"]["sentences_per_s"], 1e-9),
                        3,
                    ),
                    "p50_ratio": round(
                        summaries["appliance"]["p50_ms"] / max(summaries["peer"]["p50_ms"], 1e-9),
                        3,
                    ),
                    "rounds": log,
                }
            )
    return report


@contextmanager
def _appliance_target(
    given: Target | None, pack: str, workdir: Path | None, progress: Callable[[str], None]
) -> Iterator[tuple[Target, str]]:
    if given is not None:
        yield given, "given"
        return
    with started_appliance(pack, workdir, progress) as target:
        yield target, f"in-process ({pack} pack)"


@contextmanager
def started_appliance(
    pack: str = "starter",
    workdir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Iterator[Target]:
    """An appliance served on 127.0.0.1 from a scratch data dir, as shipped (screening,
    audit, auth on; rate limit lifted), with an admin token; closed on exit."""
    with served_appliance(pack, workdir, progress) as served:
        yield served.target


@dataclass(frozen=True)
class ServedAppliance:
    """The served appliance's URL/model/token and its in-process parts (for profiling)."""

    target: Target
    state: Any
    app: Any


@contextmanager
def served_appliance(
    pack: str = "starter",
    workdir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Iterator[ServedAppliance]:
    """Like ``started_appliance``, also yielding the API state and the appliance."""
    from appliance.bench.served import prepared_appliance, serve_in_thread

    if workdir is None:
        with (
            tempfile.TemporaryDirectory(prefix="bench-appliance-") as scratch,
            served_appliance(pack, Path(scratch), progress) as served,
        ):
            yield served
        return
    app, state, token = prepared_appliance(workdir, pack, progress)
    server, url = serve_in_thread(state)
    try:
        target = Target(url=url, model=state.encoders.space_name, token=token)
        yield ServedAppliance(target, state, app)
    finally:
        server.should_exit = True
        state.encoders.close()  # type: ignore[attr-defined]
        app.close()


def format_report(report: dict[str, Any]) -> str:
    """A readable table, one row per load."""
    p = report["params"]
    lines = [
        f"peer {p['peer']['url']} ({p['peer']['model']}) vs appliance {p['appliance']['url']}"
        f" ({p['appliance']['where']}); {p['rounds']} alternating rounds of"
        f" {p['requests_per_round']} requests per side",
        f"{'load':<16} {'peer sent/s':>11} {'peer p50/p95/p99 ms':>22} "
        f"{'appl sent/s':>11} {'appl p50/p95/p99 ms':>22} {'ratio':>6} {'p50 ratio':>9}",
    ]
    for load in report["loads"]:
        peer, mine = load["peer"], load["appliance"]
        lines.append(
            f"{load['clients']:>3} x batch {load['batch']:<4} {peer['sentences_per_s']:>11.1f} "
            f"{_triple(peer):>22} {mine['sentences_per_s']:>11.1f} {_triple(mine):>22} "
            f"{load['ratio']:>6.2f} {load['p50_ratio']:>9.2f}"
        )
    lines.append("ratio = appliance / peer sentences/s (higher is better for the appliance)")
    return "\n".join(lines)


def _triple(figures: dict[str, float]) -> str:
    return f"{figures['p50_ms']:.1f}/{figures['p95_ms']:.1f}/{figures['p99_ms']:.1f}"


def _counts(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError as exc:
        raise click.BadParameter("expected comma-separated integers, e.g. 16,1") from exc
    if not counts or min(counts) < 1:
        raise click.BadParameter("expected positive integers")
    return counts


@click.command("peer")
@click.option("--url", required=True, help="Base URL of the peer server (its /v1/embeddings).")
@click.option("--model", default="all-MiniLM-L6-v2", show_default=True, help="Peer's model.")
@click.option("--token", default=None, help="Bearer token for the peer, if it wants one.")
@click.option("--appliance-url", default=None,
    help="A running appliance (default: start one in this process).")  # fmt: skip
@click.option("--appliance-model", default=None, help="With --appliance-url: its space name.")
@click.option("--appliance-token", default=None, help="With --appliance-url: a token.")
@click.option("--pack", type=click.Choice(["starter", "test"]), default="starter",
    show_default=True, help="Pack of the in-process appliance.")  # fmt: skip
@click.option("--clients", default="16,1", callback=_counts, show_default=True,
    help="Concurrent clients per load (comma list, paired with --batch).")  # fmt: skip
@click.option("--batch", default="8,1", callback=_counts, show_default=True,
    help="Inputs per request per load (comma list, paired with --clients).")  # fmt: skip
@click.option("--rounds", default=4, show_default=True, type=click.IntRange(1))
@click.option("--requests", default=64, show_default=True, type=click.IntRange(1),
    help="Requests per side per round.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def peer_command(
    url: str,
    model: str,
    token: str | None,
    appliance_url: str | None,
    appliance_model: str | None,
    appliance_token: str | None,
    pack: str,
    clients: tuple[int, ...],
    batch: tuple[int, ...],
    rounds: int,
    requests: int,
    as_json: bool,
) -> None:
    """Any OpenAI-compatible /v1/embeddings server vs the appliance, alternating rounds."""
    if len(clients) != len(batch):
        raise click.UsageError("--clients and --batch need the same number of values")
    if appliance_url and not (appliance_model and appliance_token):
        raise click.UsageError("--appliance-url needs --appliance-model and --appliance-token")
    given = Target(appliance_url, appliance_model or "", appliance_token) if appliance_url else None
    report = run_peer_benchmark(
        Target(url, model, token),
        given,
        loads=list(zip(clients, batch, strict=True)),
        rounds=rounds,
        requests_per_round=requests,
        pack=pack,
        progress=lambda m: click.echo(f"... {m}", err=True),
    )
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))
