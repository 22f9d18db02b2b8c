"""bench/costs.py --compare-litellm: ingestion end to end, from the real proxy over HTTP.

The proxy holds the portal's own daily rows (bench/costs_litellm.py). First LiteLLM alone: every
page of ``/team/daily/activity`` for the window, read and decoded (what any reader pays: LiteLLM's
own read rate). Then the window's rows are deleted from the portal's daily table (its rollups are
left as they are: nothing is asked of them afterwards) and the beat task's code runs on it
(``costs.tasks.run_ingestion``: read from the proxy page by page, the rows without a team,
``upsert_daily`` and the rollups), with LiteLLM's share (the reads) timed apart from the
portal's (the upsert and the rollups).
"""

from __future__ import annotations

import datetime
import time

TARGET_SHARE = 90.0  # % of LiteLLM's own read rate


def ingest_end_to_end(proxy, end: datetime.date, days: int) -> dict:
    from django.conf import settings
    from django.db import connection

    from costs import completeness, litellm_source, tasks
    from costs.models import DailySpend

    settings.LITELLM_BASE_URL = proxy.base_url
    settings.LITELLM_MASTER_KEY = proxy.master_key
    start = end - datetime.timedelta(days=days - 1)

    began = time.perf_counter()
    pages = list(litellm_source.iter_pages(start, end))
    read_alone = time.perf_counter() - began
    rows = sum(len(litellm_source.rows_from_day(r)) for p in pages for r in p.get("results", []))

    stored = DailySpend.objects.filter(day__gte=start, day__lte=end)
    before = stored.count()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {DailySpend._meta.db_table} WHERE day BETWEEN %s AND %s", [start, end]
        )
    spent = {"litellm": 0.0, "portal": 0.0}

    def timed(bucket: str, call):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                spent[bucket] += time.perf_counter() - t

        return wrapper

    originals = (litellm_source.fetch_rows, completeness.fetch_teamless_rows, tasks.upsert_daily)
    litellm_source.fetch_rows = timed("litellm", originals[0])
    completeness.fetch_teamless_rows = timed("litellm", originals[1])
    tasks.upsert_daily = timed("portal", originals[2])
    try:
        began = time.perf_counter()
        result = tasks.run_ingestion(days, end=end)
        total = time.perf_counter() - began
    finally:
        litellm_source.fetch_rows, completeness.fetch_teamless_rows = originals[:2]
        tasks.upsert_daily = originals[2]
    if stored.count() != before:
        print(f"  warning: {stored.count():,} daily rows after ingestion, {before:,} before")
    return {
        "days": days,
        "rows": result.rows,
        "pages": len(pages),
        "litellm_read_rate": rows / read_alone,
        "rate": result.rows / total,
        "total_s": total,
        "litellm_s": spent["litellm"],
        "portal_s": spent["portal"],
    }


def report_ingest(m: dict, verdicts) -> None:
    print(
        f"\nIngestion end to end, {m['days']} days ({m['rows']:,} rows, {m['pages']} pages of "
        f"/team/daily/activity): {m['total_s']:.1f} s, of which reading LiteLLM "
        f"{m['litellm_s']:.1f} s ({100 * m['litellm_s'] / m['total_s']:.0f} %), the upsert and "
        f"rollups {m['portal_s']:.1f} s ({100 * m['portal_s'] / m['total_s']:.0f} %)"
    )
    verdicts.add("LiteLLM alone: read the window's pages", m["litellm_read_rate"], unit="rows/s")
    verdicts.add("ingestion end to end (proxy → upsert → rollups)", m["rate"], unit="rows/s")
    verdicts.add("  LiteLLM's share of the time", 100 * m["litellm_s"] / m["total_s"], unit="%")
    verdicts.add(
        "  end to end, % of LiteLLM's own read rate",
        100 * m["rate"] / m["litellm_read_rate"],
        TARGET_SHARE,
        higher=True,
        unit="%",
    )
