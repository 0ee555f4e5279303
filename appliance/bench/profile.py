"""``appliance bench profile``: where the milliseconds of ONE ``/v1/embeddings`` request go.

An appliance is started in this process (scratch data dir; the starter pack's real MiniLM,
or the tiny test pack), and one-sentence requests are measured two ways, interleaved:

1. end to end over loopback HTTP from a separate client process (one client, one request
   at a time): the latency a caller sees;
2. each stage of that request called alone on one thread with ``time.perf_counter``, in
   the order the handler runs them: decode (JSON body, input checks, context), auth
   (token lookup), detectors (the text PHI detector: lexicon and patterns), policy
   (decision and admission, i.e. screening minus detection), tokenise (prepare + collate),
   forward (the model), post-process (to numpy, L2 norm), engine hand-off (the serving
   engine's queue and threads: ``encode_items`` minus tokenise, forward, post-process),
   audit (one signed, chained append), JSON (vector to list, response encoding).

The remainder (end-to-end p50 minus the sum of stage medians) is the HTTP server,
the framework, the worker-thread hop and the client. Medians over ``requests``
iterations (differences per iteration, then the median, floored at 0); shares are of the
end-to-end p50. Inputs are synthetic sentences.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from appliance.bench.encoders import make_inputs
from appliance.bench.peer import drive, served_appliance, summarise

STAGES = (
    "decode",
    "auth",
    "detectors",
    "policy",
    "tokenise",
    "forward",
    "post_process",
    "engine_handoff",
    "audit",
    "json",
)


def run_profile(
    *,
    requests: int = 50,
    pack: str = "starter",
    workdir: Path | None = None,
    variant: str = "shipped",
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Profile one-sentence ``/v1/embeddings`` requests; returns a JSON-ready breakdown.
    ``variant`` (see ``bench speedups``): which speed-ups are on; ``shipped`` is as shipped."""
    from appliance.bench.speedups import VARIANTS, Switches

    with served_appliance(pack, workdir, progress) as served:
        Switches(served.state).apply(VARIANTS[variant])
        texts = [str(t) for t in make_inputs("text", max(requests, 8), seed=5)]
        progress("warming up")
        drive(served.target, [[t] for t in texts[:8]], 1)
        _stage_times(served, texts[:8])
        progress(f"{requests} requests over HTTP and {requests} stage-by-stage, interleaved")
        spans: dict[str, list[float]] = {name: [] for name in STAGES}
        latencies: list[float] = []
        wall = 0.0
        chunk = 10
        for start in range(0, requests, chunk):
            part = texts[start : min(start + chunk, requests)]
            result = drive(served.target, [[t] for t in part], 1)
            latencies += result["latencies"]
            wall += result["wall"]
            for name, values in _stage_times(served, part).items():
                spans[name] += values
        runtime = _runtime(served)
    end_to_end = summarise(wall, latencies, len(latencies))
    total_ms = end_to_end["p50_ms"]
    stages = {
        name: round(max(0.0, 1000 * statistics.median(values)), 3) for name, values in spans.items()
    }
    measured = sum(stages.values())
    rows = {name: {"ms": ms, "share": round(ms / total_ms, 3)} for name, ms in stages.items()}
    remainder = round(total_ms - measured, 3)
    rows["http_framework_and_rest"] = {"ms": remainder, "share": round(remainder / total_ms, 3)}
    return {
        "params": {"requests": requests, "pack": pack, "inputs_per_request": 1, "variant": variant},
        "runtime": runtime,
        "end_to_end": end_to_end,
        "stages": rows,
        "sum_of_stages_ms": round(measured, 3),
    }


def _stage_times(served: Any, texts: list[str]) -> dict[str, list[float]]:
    """Each stage of the embeddings handler, alone, per text (seconds)."""
    from litestar.serialization import encode_json

    from appliance.api.embeddings import DEFAULT_CONTEXT, input_texts
    from appliance.api.payloads import decode_input
    from appliance.detectors import detect
    from appliance.domain.types import Actor, Modality
    from appliance.policy.decisions import RequestContext

    state, app = served.state, served.app
    screening, encoders = state.screening, state.encoders
    engine = encoders.engine(Modality.TEXT)
    encoder = engine.encoder
    settings = app.settings.encoders
    out: dict[str, list[float]] = {name: [] for name in STAGES}
    tick = time.perf_counter
    for text in texts:
        body = json.dumps({"model": served.target.model, "input": text}).encode()
        t0 = tick()
        parsed = json.loads(body)
        payload = decode_input(Modality.TEXT, input_texts(parsed["input"])[0], field="input[0]")
        context = RequestContext.from_mapping(DEFAULT_CONTEXT, modality=Modality.TEXT)
        t1 = tick()
        actor = app.tokens.authenticate(served.target.token)
        t2 = tick()
        detect(Modality.TEXT, payload, settings=settings)
        t3 = tick()
        screened = screening.screen(Modality.TEXT, payload, context)
        t4 = tick()
        batch = encoder.collate([encoder.prepare(screened.admission.payload)])
        t5 = tick()
        output = encoder.forward(batch)
        t6 = tick()
        vector = encoder.finish(output)[0]
        t7 = tick()
        engine.encode_items([screened.admission.payload])
        t8 = tick()
        app.audit.append(
            actor=actor or Actor.operator(),
            action="embeddings.create",
            outcome="ok",
            decision={"categories": []},
            details={"modality": "text", "inputs": 1, "defended": 0},
        )
        t9 = tick()
        row = {"object": "embedding", "index": 0, "embedding": vector.tolist()}
        encode_json({"object": "list", "data": [row], "model": served.target.model})
        t10 = tick()
        detection = t3 - t2
        model_path = (t5 - t4) + (t6 - t5) + (t7 - t6)
        for name, seconds in (
            ("decode", t1 - t0),
            ("auth", t2 - t1),
            ("detectors", detection),
            ("policy", (t4 - t3) - detection),
            ("tokenise", t5 - t4),
            ("forward", t6 - t5),
            ("post_process", t7 - t6),
            ("engine_handoff", (t8 - t7) - model_path),
            ("audit", t9 - t8),
            ("json", t10 - t9),
        ):
            out[name].append(seconds)
    return out


def _runtime(served: Any) -> dict[str, Any]:
    import torch

    from appliance.domain.types import Modality

    encoder = served.state.encoders.engine(Modality.TEXT).encoder
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    while not hasattr(encoder, "runtime_name") and hasattr(encoder, "inner"):
        encoder = encoder.inner
    return {
        "model": encoder.name,
        "device": encoder.device,
        "text_runtime": "onnx" if getattr(encoder, "onnx", None) is not None else "torch",
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "load_average": load,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def format_report(report: dict[str, Any]) -> str:
    """A readable breakdown: stage, median ms, share of the end-to-end p50."""
    e = report["end_to_end"]
    r = report["runtime"]
    lines = [
        f"one /v1/embeddings request (1 sentence), {report['params']['requests']} requests;"
        f" model {r['model']} on {r['device']} ({r.get('text_runtime')}, variant"
        f" {report['params'].get('variant')}), threads {r['torch_threads']},"
        f" {r['cpu_count']} CPUs, load {r['load_average']}",
        f"end to end over loopback HTTP: p50 {e['p50_ms']:.2f} ms, p95 {e['p95_ms']:.2f} ms,"
        f" p99 {e['p99_ms']:.2f} ms",
        f"{'stage':<26} {'median ms':>10} {'share':>7}",
    ]
    for name, row in report["stages"].items():
        lines.append(f"{name:<26} {row['ms']:>10.3f} {100 * row['share']:>6.1f}%")
    return "\n".join(lines)


@click.command("profile")
@click.option("--requests", default=50, show_default=True, type=click.IntRange(1))
@click.option("--pack", type=click.Choice(["starter", "test"]), default="starter",
    show_default=True)  # fmt: skip
@click.option("--variant", default="shipped", show_default=True,
    type=click.Choice(["baseline", "sorted", "onnx", "cache", "cache_warm", "threads1", "shipped"]),
    help="Speed-ups on (see bench speedups); baseline: torch, no sorting, no cache.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the breakdown as JSON.")
def profile_command(requests: int, pack: str, variant: str, as_json: bool) -> None:
    """Where the milliseconds of one /v1/embeddings request go, stage by stage."""
    report = run_profile(
        requests=requests,
        pack=pack,
        variant=variant,
        progress=lambda m: click.echo(f"... {m}", err=True),
    )
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))
