"""FOCUS export: the spec's columns and types, one row per day × key × model, CSV and Parquet."""

import csv
import datetime
import io
import json
import re
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from costs.ingest import upsert_daily

from . import test_costs_support as support
from .focus_spec import (
    AI_SUBCATEGORIES,
    CHARGE_CATEGORIES,
    CHARGE_FREQUENCIES,
    DATETIME_PATTERN,
    FOCUS_1_2,
    SERVICE_CATEGORIES_AI,
)
from .test_costs_support import row

pytestmark = pytest.mark.django_db
costs_org = support.costs_org
Q = "?from=2026-10&to=2026-11"


@pytest.fixture
def spend(costs_org):
    costs_org["a"].cost_centre = "CC-42"
    costs_org["a"].save()
    upsert_daily(
        [
            # Two LiteLLM users on one key, model and day: one FOCUS row.
            row(key="hash-a1", spend="12.50", prompt=1000, completion=500, requests=10),
            row(key="hash-a1", user="oid-lead_a", spend="0.50", prompt=10, completion=5),
            row(key="hash-a1", model="claude-3-5-sonnet", provider="bedrock", spend="7.50"),
            row(team="team-beta", user="oid-dev_b", key="hash-b1", spend="40"),
            row(team="team-ghost", user="", key="hash-g", spend="5"),
            row(team="", user="", key="hash-noteam", spend="2"),  # a key without a team
            row(day=datetime.date(2026, 10, 3), key="hash-a1", spend="20"),
        ]
    )
    return costs_org


def csv_rows(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_csv_has_every_mandatory_column_with_the_spec_types(spend, client):
    client.force_login(spend["infra"])
    response = client.get(f"/costs/focus.csv{Q}")
    assert response.status_code == 200
    rows = csv_rows(response)
    header = list(rows[0].keys())
    mandatory = [c for c, (level, _t, _n) in FOCUS_1_2.items() if level == "Mandatory"]
    assert len(mandatory) == 21
    assert set(mandatory) <= set(header)
    for column in header:  # every column is the spec's or a custom x_ column
        assert column in FOCUS_1_2 or column.startswith("x_"), column
    for r in rows:
        for column, value in r.items():
            if column not in FOCUS_1_2:
                continue
            _level, kind, nulls = FOCUS_1_2[column]
            if value == "":
                assert nulls, f"{column} may not be null"
                continue
            if kind == "Decimal":
                Decimal(value)
            elif kind == "Date/Time":
                assert re.match(DATETIME_PATTERN, value), (column, value)
            elif kind == "JSON":
                assert isinstance(json.loads(value), dict)
        assert r["ChargeCategory"] in CHARGE_CATEGORIES
        assert r["ChargeFrequency"] in CHARGE_FREQUENCIES
        assert r["ServiceCategory"] == SERVICE_CATEGORIES_AI
        assert r["ServiceSubcategory"] in AI_SUBCATEGORIES
        assert r["BillingCurrency"] == "USD"
        assert r["ChargePeriodStart"] < r["ChargePeriodEnd"]
        assert r["BillingPeriodStart"] <= r["ChargePeriodStart"] < r["BillingPeriodEnd"]
    # One row per day × key × model; spend and tokens add up to the daily rows.
    assert len(rows) == 6
    assert sum(Decimal(r["BilledCost"]) for r in rows) == Decimal("87.5")
    a1 = next(
        r
        for r in rows
        if r["ResourceId"] == "hash-a1"
        and r["SkuId"] == "gpt-4o-mini"
        and r["ChargePeriodStart"].startswith("2026-11-10")
    )
    assert Decimal(a1["BilledCost"]) == Decimal("13")
    assert Decimal(a1["ConsumedQuantity"]) == 1515 and a1["ConsumedUnit"] == "Tokens"
    assert a1["SubAccountId"] == "alpha" and a1["SubAccountName"] == spend["a"].name
    assert json.loads(a1["Tags"])["cost_centre"] == "CC-42"
    assert a1["ChargePeriodStart"] == "2026-11-10T00:00:00Z"
    assert a1["ChargePeriodEnd"] == "2026-11-11T00:00:00Z"
    assert a1["BillingPeriodStart"] == "2026-11-01T00:00:00Z"
    assert a1["BillingPeriodEnd"] == "2026-12-01T00:00:00Z"
    assert a1["ResourceName"] == "key-hash-a1"
    ghost = next(r for r in rows if r["ResourceId"] == "hash-g")
    assert ghost["SubAccountId"] == "team-ghost" and ghost["SubAccountName"] == ""
    assert any(r["ResourceId"] == "hash-noteam" for r in rows)


def test_parquet_types_follow_the_spec(spend, client):
    client.force_login(spend["infra"])
    response = client.get(f"/costs/focus.parquet{Q}")
    assert response.status_code == 200
    table = pq.read_table(io.BytesIO(b"".join(response.streaming_content)))
    assert table.num_rows == 6
    arrow = {
        "Decimal": pa.types.is_decimal,
        "String": pa.types.is_string,
        "JSON": pa.types.is_string,
        "Date/Time": lambda t: pa.types.is_timestamp(t) and t.tz == "UTC",
    }
    for column, (level, kind, nulls) in FOCUS_1_2.items():
        if column not in table.schema.names:
            assert level != "Mandatory", column
            continue
        assert arrow[kind](table.schema.field(column).type), column
        if not nulls:
            assert table.column(column).null_count == 0, column
    data = table.to_pylist()
    assert sum(r["BilledCost"] for r in data) == Decimal("87.5")
    assert {r["ServiceCategory"] for r in data} == {"AI and Machine Learning"}


def test_lead_exports_own_department_only(spend, client):
    client.force_login(spend["lead_a"])
    rows = csv_rows(client.get(f"/costs/departments/alpha/focus.csv{Q}"))
    assert {r["SubAccountId"] for r in rows} == {"alpha"}
    assert len(rows) == 3
    assert client.get(f"/costs/departments/beta/focus.csv{Q}").status_code == 404
    assert client.get(f"/costs/focus.csv{Q}").status_code == 403
    assert client.get(f"/costs/departments/alpha/focus.xlsx{Q}").status_code == 404


# Every column of FOCUS 1.2, with its feature level, written out here from the specification
# itself and not from costs/focus.py: the FinOps Open Cost and Usage Specification v1.2
# (focus.finops.org/focus-specification/v1-2, section "Columns"; CC BY 4.0), which lists the
# columns alphabetically, each with its "Feature level".
FOCUS_1_2_COLUMNS = {
    "AvailabilityZone": "Recommended",
    "BilledCost": "Mandatory",
    "BillingAccountId": "Mandatory",
    "BillingAccountName": "Mandatory",
    "BillingAccountType": "Conditional",
    "BillingCurrency": "Mandatory",
    "BillingPeriodEnd": "Mandatory",
    "BillingPeriodStart": "Mandatory",
    "CapacityReservationId": "Conditional",
    "CapacityReservationStatus": "Conditional",
    "ChargeCategory": "Mandatory",
    "ChargeClass": "Mandatory",
    "ChargeDescription": "Mandatory",
    "ChargeFrequency": "Recommended",
    "ChargePeriodEnd": "Mandatory",
    "ChargePeriodStart": "Mandatory",
    "CommitmentDiscountCategory": "Conditional",
    "CommitmentDiscountId": "Conditional",
    "CommitmentDiscountName": "Conditional",
    "CommitmentDiscountQuantity": "Conditional",
    "CommitmentDiscountStatus": "Conditional",
    "CommitmentDiscountType": "Conditional",
    "CommitmentDiscountUnit": "Conditional",
    "ConsumedQuantity": "Conditional",
    "ConsumedUnit": "Conditional",
    "ContractedCost": "Mandatory",
    "ContractedUnitPrice": "Conditional",
    "EffectiveCost": "Mandatory",
    "InvoiceId": "Recommended",
    "InvoiceIssuerName": "Mandatory",
    "ListCost": "Mandatory",
    "ListUnitPrice": "Conditional",
    "PricingCategory": "Conditional",
    "PricingCurrency": "Conditional",
    "PricingCurrencyContractedUnitPrice": "Conditional",
    "PricingCurrencyEffectiveCost": "Conditional",
    "PricingCurrencyListUnitPrice": "Conditional",
    "PricingQuantity": "Mandatory",
    "PricingUnit": "Mandatory",
    "ProviderName": "Mandatory",
    "PublisherName": "Mandatory",
    "RegionId": "Conditional",
    "RegionName": "Conditional",
    "ResourceId": "Conditional",
    "ResourceName": "Conditional",
    "ResourceType": "Conditional",
    "ServiceCategory": "Mandatory",
    "ServiceName": "Mandatory",
    "ServiceSubcategory": "Recommended",
    "SkuId": "Conditional",
    "SkuMeter": "Conditional",
    "SkuPriceDetails": "Conditional",
    "SkuPriceId": "Conditional",
    "SubAccountId": "Conditional",
    "SubAccountName": "Conditional",
    "SubAccountType": "Conditional",
    "Tags": "Conditional",
}


@pytest.mark.parametrize("path", ["/costs/focus.csv", "/costs/focus.parquet"])
def test_exported_columns_are_focus_1_2_columns(spend, client, path):
    """The header the export writes, against the specification's list above: every column is
    a FOCUS 1.2 column with its exact name (case included) or a custom ``x_`` column, and every
    Mandatory column is there."""
    assert len(FOCUS_1_2_COLUMNS) == 57
    client.force_login(spend["infra"])
    body = b"".join(client.get(f"{path}{Q}").streaming_content)
    if path.endswith(".csv"):
        header = next(csv.reader(io.StringIO(body.decode())))
    else:
        header = pq.read_table(io.BytesIO(body)).schema.names
    assert len(header) == len(set(header)), "a column is written twice"
    custom = [c for c in header if c.startswith("x_")]
    unknown = [c for c in header if c not in custom and c not in FOCUS_1_2_COLUMNS]
    assert unknown == [], f"not FOCUS 1.2 column names: {unknown}"
    mandatory = {c for c, level in FOCUS_1_2_COLUMNS.items() if level == "Mandatory"}
    assert len(mandatory) == 21
    assert mandatory - set(header) == set(), "mandatory FOCUS 1.2 columns missing"
    # Custom columns follow the spec's naming rule: x_ then PascalCase.
    assert all(re.fullmatch(r"x_[A-Z][A-Za-z0-9]*", c) for c in custom), custom
    # The constraints table the other tests use agrees with the list on each column's level.
    for column, (level, _kind, _nulls) in FOCUS_1_2.items():
        assert FOCUS_1_2_COLUMNS[column] == level, column
