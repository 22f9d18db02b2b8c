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
    _result, first = _timed(timer, f"ingest {len(fresh)} new rows", upsert_daily, fresh)
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
    result, second = _timed(
        timer, f"re-ingest {len(grown)} rows (upsert over existing)", upsert_daily, grown
    )
    last_day = max(r.day for r in grown)
    typical = [
        SpendRow(**{**r.__dict__, "spend": r.spend + Decimal("0.03"), "requests": r.requests + 1})
        if r.day == last_day
        else r
        for r in grown
    ]
    label = f"re-ingest {len(typical)} rows, only today's grown (a typical beat run)"
    typical_result, fourth = _timed(timer, label, upsert_daily, typical)
    figures["ingest_typical_rate"] = len(typical) / fourth if fourth else 0
    figures["ingest_typical_changed"] = typical_result.changed
    grown2 = [
        SpendRow(**{**r.__dict__, "spend": r.spend + Decimal("0.02"), "requests": r.requests + 2})
        for r in fresh
    ]
    label = f"re-ingest {len(grown2)} rows with Django bulk_create (comparison)"
    _result, third = _timed(timer, label, upsert_daily, grown2, method="bulk_create")
    figures["ingest_bulk_create_rate"] = len(grown2) / third if third else 0
    figures["ingest_rows"] = result.rows
    figures["ingest_insert_rate"] = len(fresh) / first if first else 0
    figures["ingest_update_rate"] = result.rows / second if second else 0
    return figures


def _timed(timer, label: str, upsert, rows, **kwargs):
    """One timed upsert: its result and seconds. A full collection first: a gen-2 pass over the
    bench's own heap (its organisation, the batches) fell inside the first run (~0.1 s).
    Collections of the ingestion's own garbage still count."""
    with timer(label):
        gc.collect()
        t = time.perf_counter()
        result = upsert(rows, **kwargs)
        return result, time.perf_counter() - t
