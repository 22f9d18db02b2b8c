"""The cost benchmark's ingestion figures: ``costs.ingest.upsert_daily`` alone, on rows already
in memory (bench/ingest_e2e.py times the read from LiteLLM as well): three new days, then the
same days re-read with every row grown and a few more (late rows), as the beat task does, a
typical beat run where only today grew, and Django's bulk_create for comparison."""

from __future__ import annotations

import datetime
import gc
import random
import time
from decimal import Decimal

from costs_data import daily_rows


def measure_upsert(args, org, today: datetime.date, timer) -> dict:
    from costs.ingest import SpendRow, upsert_daily

    figures = {}
    # Ingestion: three days read from "LiteLLM", then re-read with every row grown and a few
    # more (late rows), as the beat task does.
    # Their own random stream: the same rows whether the dataset was built or reused.
    rng = random.Random(args.seed + 1000)
    fresh = [
        SpendRow(*r[:6], Decimal(str(r[6])), *r[7:12])
        for r in daily_rows(args, rng, org, today - datetime.timedelta(days=2), 3)
    ]
    with timer(f"ingest {len(fresh)} new rows"):
        # A full collection before each timed run: a gen-2 pass over the bench's own heap (its
        # organisation, the batches) fell inside the first one (~0.1 s). Collections of the
        # ingestion's own garbage still count.
        gc.collect()
        t = time.perf_counter()
        upsert_daily(fresh)
        first = time.perf_counter() - t
    grown = [
        SpendRow(
            **{
                **r.__dict__,
                "spend": r.spend * Decimal("1.1") + Decimal("0.01"),
                "requests": r.requests + 1,
            }
        )
        for r in fresh
    ]
    with timer(f"re-ingest {len(grown)} rows (upsert over existing)"):
        gc.collect()
        t = time.perf_counter()
        result = upsert_daily(grown)
        second = time.perf_counter() - t
    last_day = max(r.day for r in grown)
    typical = [
        SpendRow(**{**r.__dict__, "spend": r.spend + Decimal("0.03"), "requests": r.requests + 1})
        if r.day == last_day
        else r
        for r in grown
    ]
    with timer(f"re-ingest {len(typical)} rows, only today's grown (a typical beat run)"):
        gc.collect()
        t = time.perf_counter()
        typical_result = upsert_daily(typical)
        fourth = time.perf_counter() - t
    figures["ingest_typical_rate"] = len(typical) / fourth if fourth else 0
    figures["ingest_typical_changed"] = typical_result.changed
    grown2 = [
        SpendRow(**{**r.__dict__, "spend": r.spend + Decimal("0.02"), "requests": r.requests + 2})
        for r in fresh
    ]
    with timer(f"re-ingest {len(grown2)} rows with Django bulk_create (comparison)"):
        gc.collect()
        t = time.perf_counter()
        upsert_daily(grown2, method="bulk_create")
        third = time.perf_counter() - t
    figures["ingest_bulk_create_rate"] = len(grown2) / third if third else 0
    figures["ingest_rows"] = result.rows
    figures["ingest_insert_rate"] = len(fresh) / first if first else 0
    figures["ingest_update_rate"] = result.rows / second if second else 0
    return figures
