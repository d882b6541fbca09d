"""Prometheus metrics at ``/metrics``.

Counters are per process; under gunicorn they are aggregated through prometheus_client's
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by ``mirror serve``). Gauges about state
(files per admission state, upstream health) are read from the database at scrape time, so every
node reports the same truth.
"""

import os
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from mirror.services import publish, status
from mirror.services.backends import Backends
from mirror.timeutil import parse_timestamp
from mirror.web import backends

blueprint = Blueprint("metrics", __name__)

REQUESTS = Counter("mirror_http_requests_total", "HTTP requests", ["endpoint", "status"])
LATENCY = Histogram("mirror_http_request_seconds", "HTTP request latency", ["endpoint"])


class StateCollector(Collector):
    def __init__(self, mirror: Backends) -> None:
        self._mirror = mirror

    def collect(self) -> Iterator[Metric]:
        gauges = status.state_gauges(self._mirror)
        files = GaugeMetricFamily("mirror_files", "Distribution files by state", labels=["state"])
        for state, count in sorted(gauges.files_by_state.items()):
            files.add_metric([state], count)
        yield files
        yield GaugeMetricFamily(
            "mirror_upstream_up",
            "1 when the last upstream look worked",
            value=1 if gauges.upstream.get("ok", True) else 0,
        )
        yield from _tuf_gauges(self._mirror, gauges.tuf_pending, gauges.tuf_deferred)
        yield from _scheduler_metrics(gauges.scheduler)


def _scheduler_metrics(status: dict[str, Any]) -> Iterator[Metric]:
    """The scheduler's cycles, as it recorded them (``scheduler.Loop``): totals since that
    process started, so a restart shows as a counter reset."""
    failures = CounterMetricFamily(
        "mirror_scheduler_project_failures",
        "Projects whose processing failed in a cycle (each then retried with backoff)",
        value=status.get("project_failures_total", 0),
    )
    incomplete = CounterMetricFamily(
        "mirror_scheduler_cycle_failures",
        "Cycles a step outside the projects' failed in (selection, cleanup, rendering, publish)",
        value=status.get("cycle_failures_total", 0),
    )
    yield from (failures, incomplete)
    yield GaugeMetricFamily(
        "mirror_scheduler_projects_in_backoff",
        "Projects waiting to be tried again after a failure",
        value=status.get("projects_in_backoff", 0),
    )
    if status.get("last_complete_cycle"):
        yield GaugeMetricFamily(
            "mirror_scheduler_last_cycle_timestamp_seconds",
            "When the scheduler last completed a cycle (Unix time)",
            value=parse_timestamp(status["last_complete_cycle"]).timestamp(),
        )


def _tuf_gauges(mirror: Backends, pending: int, deferred: int) -> Iterator[GaugeMetricFamily]:
    """What an operator alerts on: unsigned changes piling up, the timestamp near expiry."""
    yield GaugeMetricFamily(
        "mirror_tuf_pending_changes", "Target changes queued, not yet signed", value=pending
    )
    yield GaugeMetricFamily(
        "mirror_tuf_deferred_projects",
        "Projects whose files' targets wait for the next full batch to queue them",
        value=deferred,
    )
    expires = publish.timestamp_expiry(mirror.metadata)
    if expires is not None:
        yield GaugeMetricFamily(
            "mirror_tuf_timestamp_expiry_seconds",
            "When the signed TUF timestamp expires (Unix time)",
            value=expires.timestamp(),
        )
        left = (expires - mirror.clock.now()).total_seconds()
        yield GaugeMetricFamily(
            "mirror_tuf_timestamp_expires_in_seconds",
            "Seconds until the signed TUF timestamp expires (re-signed hourly, expires after 1 d)",
            value=left,
        )


@blueprint.get("/metrics")
def metrics() -> Response:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(REQUESTS)
        registry.register(LATENCY)
    registry.register(StateCollector(backends()))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _start() -> None:
    g.started = time.perf_counter()


def _finish(response: Response) -> Response:
    record(request.endpoint or "unknown", response.status_code, g.get("started"))
    return response


def record(endpoint: str, status: int, started: float | None) -> None:
    """Count one answered request; ``started``: its ``time.perf_counter()`` at arrival."""
    REQUESTS.labels(endpoint, str(status)).inc()
    if started is not None:
        LATENCY.labels(endpoint).observe(time.perf_counter() - started)


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
