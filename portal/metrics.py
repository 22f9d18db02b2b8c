"""Prometheus metrics: what the portal counts, and the protected ``/metrics`` view.

- Web requests: django-prometheus' middleware
  (``django_http_requests_latency_seconds_by_view_method`` and friends).
- Celery tasks, counted in the worker by signals: ``portal_celery_tasks_total{task,outcome}``
  and ``portal_celery_task_duration_seconds{task}``.
- Provisioning (``observe_provisioning``): ``portal_provisioning_total{kind,outcome}`` and
  ``portal_provisioning_duration_seconds{kind}``.
- Calls to LiteLLM and Langfuse that failed: ``portal_integration_errors_total{service,error}``.
- Read when scraped: the broker's queue depth (``portal_celery_queue_length``) and whatever the
  apps register with ``register_collector`` (ingestion lag and last success, requests by status).

Several processes (gunicorn workers, prefork children) need PROMETHEUS_MULTIPROC_DIR: each
process writes its figures there and a scrape adds them up.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric

log = logging.getLogger(__name__)

TASKS = Counter(
    "portal_celery_tasks", "Celery tasks run by this worker, by outcome.", ["task", "outcome"]
)
TASK_SECONDS = Histogram(
    "portal_celery_task_duration_seconds", "How long a Celery task ran.", ["task"]
)
PROVISIONING = Counter(
    "portal_provisioning",
    "Provisioning attempts by kind and outcome (active, retry, failed).",
    ["kind", "outcome"],
)
PROVISIONING_SECONDS = Histogram(
    "portal_provisioning_duration_seconds",
    "How long one provisioning attempt took.",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
INTEGRATION_ERRORS = Counter(
    "portal_integration_errors",
    "Failed calls to LiteLLM, Langfuse and Graph, by service and kind of error.",
    ["service", "error"],
)

Collect = Callable[[], Iterable[Metric]]
_collectors: list[Collect] = []
_request_models: list = []


def register_collector(collect: Collect) -> Collect:
    """Register a function that yields metric families read at scrape time (apps' ready())."""
    if collect not in _collectors:
        _collectors.append(collect)
    return collect


def register_requests(model) -> None:
    """Count this kind of request by status at each scrape (``portal_requests``)."""
    if model not in _request_models:
        _request_models.append(model)


def requests_by_status() -> Iterable[Metric]:
    from django.db.models import Count

    gauge = GaugeMetricFamily(
        "portal_requests",
        "Requests (keys, projects, budgets) by status.",
        labels=["kind", "status"],
    )
    for model in _request_models:
        for row in model.objects.order_by().values("status").annotate(n=Count("pk")):
            gauge.add_metric([model._meta.model_name, row["status"]], row["n"])
    yield gauge


def count_integration_error(service: str, error: str) -> None:
    INTEGRATION_ERRORS.labels(service=service or "unknown", error=error).inc()


@contextmanager
def observe_provisioning(kind: str) -> Iterator[dict]:
    """Time one provisioning attempt; the caller sets ``outcome`` ("active" unless told)."""
    result = {"outcome": "active"}
    started = time.perf_counter()
    try:
        yield result
    except BaseException:
        if result["outcome"] == "active":
            result["outcome"] = "error"
        raise
    finally:
        PROVISIONING_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)
        PROVISIONING.labels(kind=kind, outcome=result["outcome"]).inc()


def queue_length() -> Iterable[Metric]:
    from django.conf import settings

    gauge = GaugeMetricFamily(
        "portal_celery_queue_length", "Messages waiting in the broker's queue.", labels=["queue"]
    )
    if not settings.CELERY_TASK_ALWAYS_EAGER and settings.CELERY_BROKER_URL.startswith("redis"):
        import redis

        queue = settings.CELERY_TASK_DEFAULT_QUEUE
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2)
        gauge.add_metric([queue], client.llen(queue))
    yield gauge


class _Scraped:
    """A prometheus_client collector that runs the registered functions at each scrape."""

    def collect(self) -> Iterator[Metric]:
        for collect in (queue_length, requests_by_status, *_collectors):
            try:
                yield from collect()
            except Exception:  # one broken source must not hide the others
                log.exception("metrics collector failed", extra={"collector": collect.__name__})


def registry() -> CollectorRegistry:
    """Everything this process (or, in multiprocess mode, every process) has counted."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        reg = CollectorRegistry()
        multiprocess.MultiProcessCollector(reg)
        return reg
    return REGISTRY


class _Counted:
    def collect(self) -> Iterator[Metric]:
        yield from registry().collect()


def render() -> bytes:
    """The text exposition of what was counted plus what is read at scrape time."""
    combined = CollectorRegistry(auto_describe=False)
    combined.register(_Counted())
    combined.register(_Scraped())
    return generate_latest(combined)


def authorized(header: str, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time; never with no token set."""
    if not token:
        return False
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


# --- Celery: counted in the worker process that runs the task -------------------------------

_started: dict[str, float] = {}


def _task_name(sender) -> str:
    return getattr(sender, "name", None) or str(sender)


def _prerun(task_id=None, task=None, **kwargs) -> None:
    _started[task_id] = time.perf_counter()


def _postrun(task_id=None, task=None, state=None, **kwargs) -> None:
    began = _started.pop(task_id, None)
    name = _task_name(task)
    if began is not None:
        TASK_SECONDS.labels(task=name).observe(time.perf_counter() - began)
    TASKS.labels(task=name, outcome=(state or "unknown").lower()).inc()


def _serve_worker_metrics(sender=None, **kwargs) -> None:
    """In the worker's main process: serve /metrics on WORKER_METRICS_PORT (infra network)."""
    from django.conf import settings

    if not settings.WORKER_METRICS_PORT:
        return
    from prometheus_client import start_http_server

    start_http_server(settings.WORKER_METRICS_PORT, registry=registry())
    log.info("worker metrics served", extra={"port": settings.WORKER_METRICS_PORT})


def connect_celery_signals() -> None:
    from celery import signals

    signals.task_prerun.connect(_prerun, weak=False, dispatch_uid="portal-metrics-prerun")
    signals.task_postrun.connect(_postrun, weak=False, dispatch_uid="portal-metrics-postrun")
    signals.worker_ready.connect(
        _serve_worker_metrics, weak=False, dispatch_uid="portal-metrics-serve"
    )
