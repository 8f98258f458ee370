"""``/metrics``: the whole platform's figures in Prometheus's text format.

Why the counts live in Redis and not in prometheus-client's in-process registry: the
platform is many short-lived processes on many hosts (gunicorn workers, RQ workers and
the work horse each job forks, which exits with whatever it counted). Each event is one
pipelined HINCRBY into a hash that every process shares, and the collector below turns
the hashes into Prometheus families when scraped, so any web process answers for the
whole fleet and a scrape of any one of them gives the same numbers. Gauges (queue
depths, workers, submissions by status) are read live at scrape time from RQ's
registries and the database.

Label values are never user input (queue names, outcomes, formats), so the number of
series is fixed. Recording never fails the caller: when Redis does not answer, events
are dropped (and Redis is not asked again for ``PAUSE_S``), since metrics must not turn a
Redis outage into slow uploads.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from rq import Queue, Worker
from rq.registry import DeferredJobRegistry, FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import func, select

from challenge.extensions import db
from challenge.models import STATUSES, Submission, utcnow
from challenge.queue import get_redis, worker_queues

log = logging.getLogger(__name__)
KEY = "challenge:metrics:"
SEP = "\x1f"
#: After a Redis error, recording is skipped for this long (per process).
PAUSE_S = 5.0


@dataclass(frozen=True)
class Histogram:
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...]


@dataclass(frozen=True)
class Counter:
    help: str
    labels: tuple[str, ...]


_MB = 1024 * 1024
HISTOGRAMS = {
    "scoring_seconds": Histogram(
        "Wall time of a scoring job in its work horse (read, parse, score, write).", ("queue",),
        (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)),
    "upload_bytes": Histogram(
        "Size of accepted uploads.", (),
        (16 * 1024, 256 * 1024, _MB, 4 * _MB, 16 * _MB, 64 * _MB, 256 * _MB)),
    "board_render_seconds": Histogram(
        "Time to answer a leaderboard request (HTML page, JSON or CSV), cache hits included.",
        ("format",), (0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)),
}
COUNTERS = {
    "jobs_started": Counter("Scoring jobs started, by queue.", ("queue",)),
    "jobs_finished": Counter("Scoring jobs ended, by queue and outcome (scored, failed: the file's "
                             "fault; error: an internal error, retried by the sweeper).",
                             ("queue", "outcome")),
    "uploads": Counter("Uploads that reached the checks, by outcome (accepted or the refusal).",
                       ("outcome",)),
}
#: Endpoints that answer a leaderboard, and the format label each records.
BOARD_ENDPOINTS = {
    "challenges.track": "html",
    "leaderboards.board_json": "json",
    "api.get_leaderboard": "json",
    "leaderboards.board_csv": "csv",
}

#: Per process, on purpose: while Redis is away each process pays one failed write per
#: PAUSE_S instead of a timeout on every request or job; metrics are not worth more.
_paused_until = 0.0


def _write(app: Flask | None, fill: Any) -> None:
    global _paused_until
    if time.monotonic() < _paused_until:
        return
    try:
        pipe = get_redis(app).pipeline(transaction=False)
        fill(pipe)
        pipe.execute()
    except (redis.RedisError, OSError, RuntimeError) as exc:
        _paused_until = time.monotonic() + PAUSE_S
        log.warning("metrics not recorded for %.0f s: %s", PAUSE_S, exc)


def _field(spec: Counter | Histogram, labels: dict[str, str]) -> str:
    if set(labels) != set(spec.labels):
        raise ValueError(f"labels {sorted(labels)} given; expected {list(spec.labels)}")
    return SEP.join(labels[name] for name in spec.labels)


def inc(name: str, amount: int = 1, *, app: Flask | None = None, **labels: str) -> None:
    """Add ``amount`` to counter ``name`` (one of COUNTERS) with these labels."""
    field = _field(COUNTERS[name], labels)
    _write(app, lambda pipe: pipe.hincrby(KEY + name, field, amount))


def observe(name: str, value: float, *, app: Flask | None = None, **labels: str) -> None:
    """Record ``value`` in histogram ``name`` (one of HISTOGRAMS) with these labels."""
    spec = HISTOGRAMS[name]
    field = _field(spec, labels)
    bucket = next((i for i, le in enumerate(spec.buckets) if value <= le), len(spec.buckets))

    def fill(pipe: Any) -> None:
        pipe.hincrby(KEY + name, f"{field}{SEP}b{bucket}", 1)
        pipe.hincrbyfloat(KEY + name, f"{field}{SEP}sum", value)

    _write(app, fill)


@contextmanager
def job(queue: str) -> Iterator[dict[str, str]]:
    """Count a scoring job's start and end and time it; the block sets ``outcome``."""
    inc("jobs_started", queue=queue)
    started = time.perf_counter()
    result = {"outcome": "error"}
    try:
        yield result
    finally:
        inc("jobs_finished", queue=queue, outcome=result["outcome"])
        observe("scoring_seconds", time.perf_counter() - started, queue=queue)


# ---------------------------------------------------------------- reading

def _counter_families(client: redis.Redis) -> Iterator[CounterMetricFamily]:
    for name, spec in COUNTERS.items():
        family = CounterMetricFamily(f"challenge_{name}", spec.help, labels=spec.labels)
        for field, value in sorted(client.hgetall(KEY + name).items()):
            values = field.decode().split(SEP) if spec.labels else []
            family.add_metric(values, int(value))
        yield family


def _histogram_families(client: redis.Redis) -> Iterator[HistogramMetricFamily]:
    for name, spec in HISTOGRAMS.items():
        series: dict[str, dict[str, float]] = {}
        for field, value in client.hgetall(KEY + name).items():
            labels, _, part = field.decode().rpartition(SEP)
            series.setdefault(labels, {})[part] = float(value)
        family = HistogramMetricFamily(f"challenge_{name}", spec.help, labels=spec.labels)
        for labels, parts in sorted(series.items()):
            running, buckets = 0.0, []
            for i, le in enumerate((*spec.buckets, float("inf"))):
                running += parts.get(f"b{i}", 0.0)
                buckets.append(("+Inf" if le == float("inf") else repr(float(le)), running))
            family.add_metric(labels.split(SEP) if spec.labels else [], buckets,
                              sum_value=parts.get("sum", 0.0))
        yield family


def _queue_family(queues: list[Queue]) -> GaugeMetricFamily:
    family = GaugeMetricFamily("challenge_queue_jobs", "Jobs in each RQ queue and registry, by state.",
                               labels=("queue", "state"))
    for q in queues:
        family.add_metric([q.name, "queued"], q.count)
        for state, registry in (("started", StartedJobRegistry), ("failed", FailedJobRegistry),
                                ("deferred", DeferredJobRegistry), ("scheduled", ScheduledJobRegistry)):
            family.add_metric([q.name, state], registry(queue=q).count)
    return family


class FleetCollector(Collector):
    """Everything above, read when scraped (needs an app context)."""

    def collect(self) -> Iterator[Any]:
        client = get_redis()
        yield from _counter_families(client)
        yield from _histogram_families(client)
        yield _queue_family(worker_queues())
        workers = GaugeMetricFamily("challenge_workers", "Live RQ workers, by state.", labels=("state",))
        states: dict[str, int] = {}
        for worker in Worker.all(connection=client):
            state = str(worker.get_state())
            states[state] = states.get(state, 0) + 1
        for state in ("busy", "idle", *sorted(set(states) - {"busy", "idle"})):
            workers.add_metric([state], states.get(state, 0))
        yield workers
        with db.released():
            counts = dict(db.session.execute(
                select(Submission.status, func.count()).group_by(Submission.status)).all())
            oldest = db.session.scalar(select(func.min(Submission.created_at))
                                       .where(Submission.status == "queued"))
        subs = GaugeMetricFamily("challenge_submissions", "Submissions by status.", labels=("status",))
        for status in STATUSES:
            subs.add_metric([status], counts.get(status, 0))
        yield subs
        yield GaugeMetricFamily(
            "challenge_oldest_queued_seconds",
            "Age of the oldest submission waiting to be scored (0: none waits); alert on it.",
            value=(utcnow() - oldest).total_seconds() if oldest is not None else 0.0)


bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics_page() -> Response:
    token = current_app.config["METRICS_TOKEN"]
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return Response("a valid METRICS_TOKEN is needed: Authorization: Bearer <token>\n",
                            status=401, mimetype="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector())
    response = Response(generate_latest(registry), mimetype="text/plain; version=0.0.4; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def _start_timer() -> None:
    if request.endpoint in BOARD_ENDPOINTS:
        request.environ["challenge.board_started"] = time.perf_counter()


def _record_board(response: Response) -> Response:
    started = request.environ.get("challenge.board_started")
    if started is not None and response.status_code < 400:
        observe("board_render_seconds", time.perf_counter() - started,
                format=BOARD_ENDPOINTS[request.endpoint or ""])
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.before_request(_start_timer)
    app.after_request(_record_board)
