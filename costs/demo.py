"""Demo spend: a few months of synthetic LiteLLM daily aggregates for the demo organisation,
so the cost pages show something on the first run. Written with the ORM (SQLite or
PostgreSQL); the rollups are summed here the same way ``ingest.refresh_monthly`` does in SQL."""

from __future__ import annotations

import datetime
import hashlib
import random
from collections import defaultdict
from decimal import Decimal

from django.db import transaction

from portal.days import utc_day, utc_today

from .models import DailySpend
from .rollups import METRICS, ROLLUPS, month_of

PRICES = {  # USD per 1,000 tokens (prompt, completion): plausible, not a price list
    "gpt-4o-mini": (Decimal("0.00015"), Decimal("0.0006")),
    "gpt-4o": (Decimal("0.0025"), Decimal("0.01")),
    "claude-3-5-sonnet": (Decimal("0.003"), Decimal("0.015")),
    "gemini-1.5-flash": (Decimal("0.000075"), Decimal("0.0003")),
}
PROVIDERS = {"gpt": "azure", "claude": "bedrock", "gemini": "vertex_ai"}


@transaction.atomic
def seed_spend(keys, *, days: int = 95, seed: int = 7) -> int:
    """Replace the demo teams' spend with up to ``days`` days of it for ``keys`` (active
    VirtualKeys), from each key's activation on."""
    rng = random.Random(seed)  # noqa: S311 (synthetic data, not security)
    teams = {k.department.litellm_team_id for k in keys}
    today = utc_today()
    rows = []
    for key in keys:
        weight = rng.uniform(0.3, 3.0)
        for offset in range(days):
            day = today - datetime.timedelta(days=offset)
            if key.activated_at and day < utc_day(key.activated_at):
                break  # no spend before the key existed
            if day.weekday() >= 5 and rng.random() < 0.7:
                continue  # quieter weekends
            for model in key.llm_models:
                requests = int(rng.expovariate(1 / (300 * weight)))
                if not requests:
                    continue
                prompt, completion = (
                    requests * rng.randint(400, 1600),
                    requests * rng.randint(80, 400),
                )
                p_price, c_price = PRICES.get(model, PRICES["gpt-4o-mini"])
                spend = (prompt * p_price + completion * c_price) / 1000
                failures = int(requests * rng.random() * 0.02)
                rows.append(
                    DailySpend(
                        day=day, team_id=key.department.litellm_team_id,
                        litellm_user_id=key.requester.entra_oid or "", key_hash=key.litellm_key_id,
                        model=model, provider=PROVIDERS.get(model.split("-")[0], "openai"),
                        key_alias=key.alias, department=key.department, user=key.requester, key=key,
                        spend=spend.quantize(Decimal("0.00000001")), prompt_tokens=prompt,
                        completion_tokens=completion, requests=requests,
                        successes=requests - failures, failures=failures,
                    )
                )  # fmt: skip
    DailySpend.objects.filter(team_id__in=teams).delete()
    DailySpend.objects.bulk_create(rows, batch_size=1000)
    for rollup in ROLLUPS:
        _rebuild(rollup, rows, teams)
    return len(rows)


def _rebuild(rollup, rows: list[DailySpend], teams: set[str]) -> None:
    groups: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(METRICS, 0))
    attrs: dict[tuple, dict] = {}
    unattributed: dict[tuple, Decimal] = defaultdict(Decimal)
    for row in rows:
        values = {
            "month": month_of(row.day),
            **{f: getattr(row, f) for f in rollup.key if f != "month"},
        }
        key = tuple(values[f] for f in rollup.key)
        for metric in METRICS:
            groups[key][metric] += getattr(row, metric)
        attrs[key] = {a: getattr(row, a) for a in rollup.attrs}
        if row.key_id is None:
            unattributed[key] += row.spend
    rollup.model.objects.filter(team_id__in=teams).delete()
    objects = []
    for key, metrics in groups.items():
        extra = {"unattributed_spend": unattributed[key]} if rollup.unattributed else {}
        objects.append(
            rollup.model(
                **dict(zip(rollup.key, key, strict=True)), **attrs[key], **metrics, **extra
            )
        )
    rollup.model.objects.bulk_create(objects, batch_size=1000)


def fake_token(name: str) -> str:
    """A stand-in for LiteLLM's token hash, for demo keys that exist only in the portal."""
    return hashlib.sha256(f"demo:{name}".encode()).hexdigest()
