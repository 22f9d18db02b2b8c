"""The chargeback as a FOCUS 1.2 dataset (FinOps Open Cost and Usage Specification).

One row per UTC day × LiteLLM key × model (× team and provider, which a key and a model fix
in practice), read from ``DailySpend``. Mapping:

- the platform (LiteLLM in front of the model providers) is the provider and invoice issuer;
  the model's provider (azure, openai, ...) is the publisher,
- the department is the sub account (``SubAccountId`` = its slug, ``SubAccountName``); a
  LiteLLM team the portal does not know keeps its team id as ``SubAccountId``, unnamed,
- the key is the resource (``ResourceId`` = LiteLLM's token hash, never a secret),
- the cost centre, department and team are tags (``Tags``, JSON),
- tokens (prompt + completion) are the consumed and the pricing quantity, unit ``Tokens``;
  LiteLLM's spend is billed, effective, contracted and list cost alike (no discounts known),
- custom columns carry the split: ``x_PromptTokens``, ``x_CompletionTokens``, ``x_Requests``.

``COLUMNS`` lists the columns in order with their FOCUS data type; ``rows()`` yields dicts;
``write_csv`` and ``write_parquet`` write them (Parquet needs ``pyarrow``).
"""

from __future__ import annotations

import datetime
import io
import json
from collections.abc import Iterator
from decimal import Decimal

from django.conf import settings
from django.db.models import F, Sum

from portal import csv_safe

from . import periods
from .models import DailySpend

FOCUS_VERSION = "1.2"
SERVICE_CATEGORY = "AI and Machine Learning"
SERVICE_SUBCATEGORY = "Generative AI"
UNIT = "Tokens"

# (column, FOCUS data type). Data types as the specification names them.
COLUMNS: list[tuple[str, str]] = [
    ("BilledCost", "Decimal"),
    ("BillingAccountId", "String"),
    ("BillingAccountName", "String"),
    ("BillingAccountType", "String"),
    ("BillingCurrency", "String"),
    ("BillingPeriodEnd", "Date/Time"),
    ("BillingPeriodStart", "Date/Time"),
    ("ChargeCategory", "String"),
    ("ChargeClass", "String"),
    ("ChargeDescription", "String"),
    ("ChargeFrequency", "String"),
    ("ChargePeriodEnd", "Date/Time"),
    ("ChargePeriodStart", "Date/Time"),
    ("ConsumedQuantity", "Decimal"),
    ("ConsumedUnit", "String"),
    ("ContractedCost", "Decimal"),
    ("EffectiveCost", "Decimal"),
    ("InvoiceIssuerName", "String"),
    ("ListCost", "Decimal"),
    ("PricingQuantity", "Decimal"),
    ("PricingUnit", "String"),
    ("ProviderName", "String"),
    ("PublisherName", "String"),
    ("ResourceId", "String"),
    ("ResourceName", "String"),
    ("ResourceType", "String"),
    ("ServiceCategory", "String"),
    ("ServiceName", "String"),
    ("ServiceSubcategory", "String"),
    ("SkuId", "String"),
    ("SubAccountId", "String"),
    ("SubAccountName", "String"),
    ("SubAccountType", "String"),
    ("Tags", "JSON"),
    ("x_PromptTokens", "Decimal"),
    ("x_CompletionTokens", "Decimal"),
    ("x_Requests", "Decimal"),
]
NAMES = [name for name, _type in COLUMNS]


def _setting(name: str, default: str) -> str:
    return getattr(settings, name, "") or default


def _datetime(day: datetime.date) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)


def rows(
    start: datetime.date, end: datetime.date, *, department=None
) -> Iterator[dict[str, object]]:
    """FOCUS rows for the UTC days ``start`` … ``end`` (inclusive), optionally one department."""
    qs = DailySpend.objects.filter(day__gte=start, day__lte=end)
    if department is not None:
        qs = qs.filter(department=department)
    grouped = (
        qs.values("day", "team_id", "key_hash", "model", "provider")
        .annotate(
            spend=Sum("spend"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            n=Sum("requests"),
            alias=F("key_alias"),
            key_name=F("key__name"),
            key_kind=F("key__kind"),
            slug=F("department__slug"),
            dept_name=F("department__name"),
            cost_centre=F("department__cost_centre"),
        )
        .order_by("day", "team_id", "key_hash", "model", "provider")
    )
    account_id = _setting("FOCUS_BILLING_ACCOUNT_ID", "genai-platform")
    account_name = _setting("FOCUS_BILLING_ACCOUNT_NAME", "GenAI platform")
    provider = _setting("FOCUS_PROVIDER_NAME", "GenAI platform (LiteLLM)")
    for r in grouped.iterator(chunk_size=5000):
        day = r["day"]
        month = periods.month_start(day)
        tokens = Decimal(r["prompt"] + r["completion"])
        spend = r["spend"]
        tags = {"litellm_team_id": r["team_id"] or None}
        if r["slug"]:
            tags.update(department=r["slug"], cost_centre=r["cost_centre"] or None)
        if r["key_kind"]:
            tags["key_kind"] = r["key_kind"]
        yield {
            "BilledCost": spend,
            "BillingAccountId": account_id,
            "BillingAccountName": account_name,
            "BillingAccountType": "Internal platform",
            "BillingCurrency": "USD",
            "BillingPeriodEnd": _datetime(periods.next_month(month)),
            "BillingPeriodStart": _datetime(month),
            "ChargeCategory": "Usage",
            "ChargeClass": None,
            "ChargeDescription": f"{r['model'] or 'unknown model'} via LiteLLM",
            "ChargeFrequency": "Usage-Based",
            "ChargePeriodEnd": _datetime(day + datetime.timedelta(days=1)),
            "ChargePeriodStart": _datetime(day),
            "ConsumedQuantity": tokens,
            "ConsumedUnit": UNIT,
            "ContractedCost": spend,
            "EffectiveCost": spend,
            "InvoiceIssuerName": provider,
            "ListCost": spend,
            "PricingQuantity": tokens,
            "PricingUnit": UNIT,
            "ProviderName": provider,
            "PublisherName": r["provider"] or "unknown",
            "ResourceId": r["key_hash"] or None,
            "ResourceName": r["key_name"] or r["alias"] or None,
            "ResourceType": "LiteLLM virtual key",
            "ServiceCategory": SERVICE_CATEGORY,
            "ServiceName": "LLM inference",
            "ServiceSubcategory": SERVICE_SUBCATEGORY,
            "SkuId": r["model"] or None,
            "SubAccountId": r["slug"] or r["team_id"] or None,
            "SubAccountName": r["dept_name"],
            "SubAccountType": "Department",
            "Tags": tags,
            "x_PromptTokens": Decimal(r["prompt"]),
            "x_CompletionTokens": Decimal(r["completion"]),
            "x_Requests": Decimal(r["n"]),
        }


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def csv_lines(data: Iterator[dict]) -> Iterator[str]:
    """CSV text, a line at a time: header first; Date/Time as ``YYYY-MM-DDTHH:mm:ssZ``.

    Text cells that a spreadsheet would run as a formula (a key named ``=1+1``) get a leading
    ``'`` (``portal/csv_safe.py``); numbers, dates and the Tags JSON are never changed. The
    Parquet file is typed and keeps every value as stored."""
    buffer = io.StringIO()
    writer = csv_safe.Writer(buffer)
    writer.writerow(NAMES)
    for row in data:
        writer.writerow([_text(row[name]) for name in NAMES])
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def arrow_schema():
    import pyarrow as pa

    types = {
        "Decimal": pa.decimal128(28, 8),
        "String": pa.string(),
        "Date/Time": pa.timestamp("s", tz="UTC"),
        "JSON": pa.string(),  # JSON text, as the specification's KeyValueFormat
    }
    return pa.schema(
        [pa.field(name, types[kind]) for name, kind in COLUMNS],
        metadata={"focus_version": FOCUS_VERSION},
    )


def write_parquet(data: Iterator[dict], target, batch_rows: int = 20_000) -> int:
    """Write ``data`` to ``target`` (path or binary file) as Parquet; returns the rows written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema()
    written = 0
    with pq.ParquetWriter(target, schema, compression="zstd") as writer:
        batch: list[dict] = []
        for row in data:
            row = {**row, "Tags": _text(row["Tags"])}
            batch.append(row)
            if len(batch) >= batch_rows:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                written += len(batch)
                batch = []
        if batch or not written:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            written += len(batch)
    return written
