"""Prometheus metrics: requests and latency by route and status, engine queues and
batches, policy decisions by outcome. One registry per app (tests build many apps)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from appliance.engine import EngineStats
from appliance.services.drift import DriftReport

StatsSource = Callable[[], Iterable[EngineStats]]
DriftSource = Callable[[], DriftReport]


class EngineCollector(Collector):
    """Reads every engine's counters at scrape time."""

    def __init__(self, source: StatsSource) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        depth = GaugeMetricFamily(
            "appliance_encoder_queue_depth", "Items waiting per encoder", labels=["encoder"]
        )
        in_flight = GaugeMetricFamily(
            "appliance_encoder_in_flight_items", "Items in a running batch", labels=["encoder"]
        )
        batches = CounterMetricFamily(
            "appliance_encoder_batches",
            "Batches run per encoder and size",
            labels=["encoder", "size"],
        )
        rejected = CounterMetricFamily(
            "appliance_encoder_rejected_requests", "Requests refused busy", labels=["encoder"]
        )
        for stats in self._source():
            depth.add_metric([stats.encoder], stats.queue_depth)
            in_flight.add_metric([stats.encoder], stats.in_flight_items)
            rejected.add_metric([stats.encoder], stats.requests_rejected)
            for size, count in sorted(stats.batch_sizes.items()):
                batches.add_metric([stats.encoder, str(size)], count)
        yield from (depth, in_flight, batches, rejected)


class DriftCollector(Collector):
    """Drift scores of the served space against its baseline, computed at scrape time."""

    def __init__(self, source: DriftSource) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        report = self._source()
        scores = GaugeMetricFamily(
            "appliance_drift_score",
            "Drift of served vectors from the space's baseline, per modality and statistic "
            "(statistic=score: the largest scored one)",
            labels=["modality", "statistic"],
        )
        drifting = GaugeMetricFamily(
            "appliance_drift_drifting", "1 while a modality's score exceeds the threshold",
            labels=["modality"],
        )  # fmt: skip
        samples = GaugeMetricFamily(
            "appliance_drift_samples", "Vectors in the running window", labels=["modality"]
        )
        live = GaugeMetricFamily(
            "appliance_embedding_statistic",
            "Running statistics of served vectors (concentration, median NN similarity)",
            labels=["modality", "statistic"],
        )
        threshold = GaugeMetricFamily("appliance_drift_threshold", "Configured drift threshold")
        threshold.add_metric([], report.threshold)
        for modality, figures in report.modalities.items():
            samples.add_metric([modality], figures.samples)
            drifting.add_metric([modality], 1.0 if figures.drifting else 0.0)
            for name, value in figures.live.items():
                live.add_metric([modality, name], value)
            for name, value in figures.scores.items():
                scores.add_metric([modality, name], value)
            if figures.score is not None:
                scores.add_metric([modality, "score"], figures.score)
        yield from (scores, drifting, samples, live, threshold)


class ApiMetrics:
    """The app's registry and instruments."""

    def __init__(
        self, engine_stats: StatsSource = lambda: (), drift: DriftSource | None = None
    ) -> None:
        self.registry = CollectorRegistry()
        self.drift = drift
        """The served space's drift report (None: not monitored); /readyz reads it too."""
        self.requests = Counter(
            "appliance_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "appliance_http_request_seconds",
            "HTTP request latency by route",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.decisions = Counter(
            "appliance_policy_decisions",
            "Policy decisions by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.registry.register(EngineCollector(engine_stats))
        if drift is not None:
            self.registry.register(DriftCollector(drift))

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """ASGI middleware counting every HTTP response by route template and status."""

        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            status = {"code": 500}

            async def capture(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            try:
                await app(scope, receive, capture)
            finally:
                route = _route(scope)
                self.requests.labels(route, scope.get("method", ""), str(status["code"])).inc()
                self.latency.labels(route).observe(time.perf_counter() - started)

        return wrapped


def _route(scope: Any) -> str:
    template = scope.get("path_template")  # the full route (a controller's handler knows
    if template:  # only its own part of the path)
        return str(template)
    handler = scope.get("route_handler")
    if handler is not None and getattr(handler, "paths", None):
        return sorted(handler.paths)[0]
    return "unmatched"
