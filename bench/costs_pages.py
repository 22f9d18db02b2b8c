"""The cost benchmark's page figures: the lead's dashboards (a median-sized and the largest
department), infra's, each on the complete month and the last 30 days, with their figures
cached and rendered afresh (every request after a change), and the CSV exports, through
Django's test client with the dashboards' cache on Redis as in production."""

from __future__ import annotations

import os
import time
import uuid

from timing import summary, timed


def measure_dashboards(args, org, asked: dict, timer) -> dict:
    from django.test import Client

    figures = {}
    # Dashboards: a median-sized department's lead, and infra.
    sizes = sorted(org["members"].items(), key=lambda kv: len(kv[1]))
    median_dept = sizes[len(sizes) // 2][0]
    biggest_dept = sizes[-1][0]
    dept = org["departments"][median_dept]
    month = asked["month"][0].strftime("%Y-%m")
    recent = f"?days=30&end={asked['30d'][1].isoformat()}"
    client = Client()
    client.force_login(org["leads"][median_dept])
    with timer("measure lead dashboard"):
        figures["lead"] = measure(
            client, f"/costs/departments/{dept.slug}/?month={month}", args.samples
        )
    big = org["departments"][biggest_dept]
    client_big = Client()
    client_big.force_login(org["leads"][biggest_dept])
    with timer("measure lead dashboard (largest department)"):
        figures["lead_big"] = measure(
            client_big, f"/costs/departments/{big.slug}/?month={month}", args.samples
        )
    # The first view after an ingestion (or any change) renders the figures afresh.
    with timer("measure lead dashboards, figures not cached (after a change)"):
        figures["lead_cold"] = measure(
            client, f"/costs/departments/{dept.slug}/?month={month}", args.samples, cold=True
        )
        figures["lead_big_cold"] = measure(
            client_big, f"/costs/departments/{big.slug}/?month={month}", args.samples, cold=True
        )
    with timer("measure lead, last 30 days"):
        figures["lead_30d"] = measure(
            client, f"/costs/departments/{dept.slug}/recent/{recent}", args.samples
        )
        figures["lead_30d_cold"] = measure(
            client, f"/costs/departments/{dept.slug}/recent/{recent}", args.samples, cold=True
        )
    figures["lead_dept"] = (dept.slug, len(org["members"][median_dept]))
    figures["lead_big_dept"] = (big.slug, len(org["members"][biggest_dept]))
    infra = Client()
    infra.force_login(org["infra"])
    with timer("measure infra dashboard"):
        figures["infra"] = measure(infra, f"/costs/org/?month={month}", args.samples)
    with timer("measure infra dashboard, figures not cached (after a change)"):
        figures["infra_cold"] = measure(
            infra, f"/costs/org/?month={month}", args.samples, cold=True
        )
    with timer("measure infra, last 30 days"):
        figures["infra_30d"] = measure(infra, f"/costs/org/recent/{recent}", args.samples)
        figures["infra_30d_cold"] = measure(
            infra, f"/costs/org/recent/{recent}", args.samples, cold=True
        )
    with timer("measure CSV exports"):
        figures["csv_dept_keys"] = measure(
            client_big,
            f"/costs/departments/{big.slug}/keys.csv?month={month}",
            max(5, args.samples // 4),
            stream=True,
        )
        figures["csv_org_departments"] = measure(
            infra,
            f"/costs/org/departments.csv?month={month}",
            max(5, args.samples // 4),
            stream=True,
        )
        first_month = asked["12m"][0].strftime("%Y-%m")
        figures["csv_chargeback"] = measure(
            infra,
            f"/costs/chargeback.csv?from={first_month}&to={month}",
            max(5, args.samples // 4),
            stream=True,
        )
    return figures


def measure(client, url: str, samples: int, *, stream: bool = False, cold=False) -> dict:
    """``cold``: every request after a change (the cached figures are dropped first, as an
    ingestion does; the drop itself is not timed)."""
    from costs import page_cache

    if not cold:
        return timed(lambda: fetch(client, url, stream), samples)
    times = []
    for n in range(samples + 3):
        page_cache.bump("spend")
        t = time.perf_counter()
        size = fetch(client, url, stream)
        if n >= 3:  # warm-up
            times.append((time.perf_counter() - t) * 1000)
    return summary(times, size)


def use_redis_cache(settings) -> None:
    """The dashboards' cache on Redis as in production (tests.settings keeps it in memory),
    under a key prefix of this run's own."""
    from asgiref.local import Local
    from django.core.cache import caches

    settings.COSTS_PAGE_CACHE_SECONDS = 300  # as in production (tests.settings turns it off)
    redis = os.environ.get("REDIS_URL")
    if not redis:
        return
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis,
            "KEY_PREFIX": f"costs-bench-{uuid.uuid4().hex[:8]}",
        },
    }
    caches.__dict__.pop("settings", None)
    caches._settings = None  # noqa: SLF001
    caches._connections = Local(caches.thread_critical)  # noqa: SLF001


def fetch(client, url: str, stream: bool) -> int:
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"GET {url} → {response.status_code}")
    if stream or getattr(response, "streaming", False):
        return sum(len(chunk) for chunk in response.streaming_content)
    return len(response.content)
