"""Complete numbers: spend of keys without a team, and a cross-check of LiteLLM's aggregates.

Keys without a team: LiteLLM's daily *team* table skips spend whose team is null, so
``/team/daily/activity`` may never show it. ``/user/daily/activity`` (the daily *user* table,
same response shape) does: its cells whose key has no ``team_id`` are ingested with an empty
team, unless the team rows already hold that day, key and model (nothing counted twice).

Cross-check: for a sample of keys and days, the spend ingested from the daily aggregates is
compared with the sum of LiteLLM's spend logs (``/spend/logs/v2``, a row per request) for the
same key and day. Each comparison is kept (``AggregateCheck``) and shown under ingestion health.
"""

from __future__ import annotations

import datetime
import logging
from decimal import Decimal

import httpx
from django.db.models import Sum

from portal.days import utc_day_of

from . import litellm_source
from .litellm_source import _row
from .models import AggregateCheck, DailySpend
from .spend_rows import SpendRow, merge

log = logging.getLogger(__name__)

USER_ENDPOINT = "/user/daily/activity"
TOLERANCE = Decimal("0.000001")  # USD; LiteLLM keeps floats


def teamless_rows_from_day(result: dict) -> list[SpendRow]:
    """The cells of one ``/user/daily/activity`` date whose key belongs to no team."""
    day = datetime.date.fromisoformat(str(result["date"])[:10])
    breakdown = result.get("breakdown") or {}
    key_meta = {k: (v.get("metadata") or {}) for k, v in (breakdown.get("api_keys") or {}).items()}
    key_providers: dict[str, list[str]] = {}
    for provider, entry in (breakdown.get("providers") or {}).items():
        for key in entry.get("api_key_breakdown") or {}:
            key_providers.setdefault(key, []).append(provider)
    rows = []
    for model, entry in litellm_source.by_group(breakdown).items():
        for key, cell in (entry.get("api_key_breakdown") or {}).items():
            meta = {**key_meta.get(key, {}), **(cell.get("metadata") or {})}
            if meta.get("team_id"):
                continue  # counted from the team table
            providers = key_providers.get(key, [])
            rows.append(
                _row(
                    day,
                    "",
                    meta.get("user_id"),
                    key,
                    model,
                    providers[0] if len(providers) == 1 else "",
                    cell.get("metrics") or {},
                    meta.get("key_alias"),
                )
            )
    return rows


def fetch_teamless_rows(
    start: datetime.date,
    end: datetime.date,
    *,
    known: list[SpendRow] = (),
    client: httpx.Client | None = None,
    superseded: dict[datetime.date, set[str]] | None = None,
) -> tuple[list[SpendRow], int]:
    """Team-less cells of the daily user table that the team rows (``known``) do not hold.

    Some LiteLLM versions file a team-less key's spend in the team table too (team ""), some
    skip it there; a (day, key, model) cell already known is never added a second time.
    ``superseded`` as in ``litellm_source.fetch_rows``.
    """
    seen = {(r.day, r.key_hash, r.model) for r in known}
    rows: list[SpendRow] = []
    pages = 0
    try:
        for body in litellm_source.iter_pages(start, end, client=client, endpoint=USER_ENDPOINT):
            pages += 1
            for result in body.get("results") or []:
                rows.extend(
                    r
                    for r in teamless_rows_from_day(result)
                    if (r.day, r.key_hash, r.model) not in seen
                )
                if superseded is not None and (names := litellm_source.provider_models(result)):
                    superseded.setdefault(litellm_source.day_of(result), set()).update(names)
    except litellm_source.AggregatesMissing:
        return [], pages  # then the spend-log fallback already covers every key
    return merge(rows), pages


def sample(days: list[datetime.date], size: int) -> list[tuple[datetime.date, str]]:
    """Key × day pairs to check: each day's biggest keys (where a lost row costs most)."""
    pairs = []
    for day in days:
        top = (
            DailySpend.objects.filter(day=day)
            .exclude(key_hash="")
            .values("key_hash")
            .annotate(s=Sum("spend"))
            .order_by("-s", "key_hash")[:size]
        )
        pairs += [(day, row["key_hash"]) for row in top]
    return pairs


def logged(client: httpx.Client, day: datetime.date, key: str) -> tuple[Decimal, int]:
    """Spend and requests of one key on one UTC day, from LiteLLM's spend logs."""
    spend, requests = Decimal(0), 0
    for body in litellm_source.iter_log_pages(day, day, client=client, api_key=key):
        for entry in body.get("data") or []:
            if (
                entry.get("api_key") == key
                and entry.get("startTime")
                and utc_day_of(entry["startTime"]) == day
            ):
                spend += Decimal(str(entry.get("spend") or 0))
                requests += 1
    return spend, requests


def cross_check(
    days: list[datetime.date], *, size: int = 5, client: httpx.Client | None = None
) -> list[AggregateCheck]:
    """Compare ingested aggregates with the spend logs for ``size`` keys on each day."""
    own = client is None
    client = client or litellm_source._client()  # noqa: SLF001
    checks = []
    try:
        for day, key in sample(days, size):
            stored = DailySpend.objects.filter(day=day, key_hash=key).aggregate(
                s=Sum("spend"), n=Sum("requests")
            )
            spend, requests = logged(client, day, key)
            aggregate = stored["s"] or Decimal(0)
            checks.append(
                AggregateCheck(
                    day=day,
                    key_hash=key,
                    aggregate_spend=aggregate,
                    logs_spend=spend.quantize(Decimal("0.00000001")),
                    aggregate_requests=stored["n"] or 0,
                    logs_requests=requests,
                    matches=abs(aggregate - spend) <= TOLERANCE and (stored["n"] or 0) == requests,
                )
            )
    finally:
        if own:
            client.close()
    AggregateCheck.objects.bulk_create(checks)
    bad = [c for c in checks if not c.matches]
    if bad:
        log.warning("daily aggregates differ from spend logs", extra={"mismatches": len(bad)})
    return checks


def latest_checks(limit: int = 20) -> list[AggregateCheck]:
    """The last run's comparisons (one run = the checks recorded within a minute)."""
    last = AggregateCheck.objects.order_by("-checked_at").first()
    if last is None:
        return []
    since = last.checked_at - datetime.timedelta(minutes=1)
    return list(AggregateCheck.objects.filter(checked_at__gte=since)[:limit])
