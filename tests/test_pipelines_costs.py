"""Pipeline spend in the chargeback (a line per identity, out of its LiteLLM line) and in the
FOCUS export (identity and repository tags), from spend rows built directly."""

import csv
import datetime
import io
import json

import pytest

from costs.ingest import upsert_daily
from pipelines.claims import GITHUB
from pipelines.models import PipelineExchange

from . import test_costs_support as support
from .pipelines_support import make_identity
from .test_costs_support import DAY, row

pytestmark = pytest.mark.django_db
costs_org = support.costs_org
NOV = "?from=2026-11&to=2026-11"


@pytest.fixture
def runs(costs_org):
    identity = make_identity(costs_org, GITHUB, active=False, name="payments-ci")
    user = f"pipeline-{identity.pk}"
    upsert_daily(
        [
            row(key="hash-a1", spend="10", prompt=1000, completion=500, requests=10),
            row(user=user, key="hash-run1", spend="2.50", prompt=300, completion=100, requests=3),
            row(
                day=DAY + datetime.timedelta(days=1),
                user=user,
                key="hash-run2",
                spend="1.25",
                prompt=200,
                completion=50,
                requests=2,
            ),
            # A key neither the portal nor a pipeline made: stays unattributed.
            row(user="", key="hash-other", spend="0.75", prompt=10, completion=5, requests=1),
        ]
    )
    for key_hash, repository, day in [
        ("hash-run1", "octo-org/octo-repo", DAY),
        ("hash-run2", "octo-org/other", DAY + datetime.timedelta(days=1)),
    ]:
        PipelineExchange.objects.create(
            identity=identity,
            outcome=PipelineExchange.Outcome.ISSUED,
            created_at=datetime.datetime.combine(day, datetime.time(9), datetime.UTC),
            repository=repository,
            key_hash=key_hash,
            key_alias=f"pipeline-{identity.pk}-{key_hash}",
        )
    return costs_org


def read(response) -> list[dict]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.DictReader(io.StringIO(body.decode().removeprefix("\ufeff"))))


def test_chargeback_has_a_line_per_pipeline_identity_taken_out_of_litellm(runs, client):
    client.force_login(runs["infra"])
    lines = [
        r for r in read(client.get(f"/costs/chargeback.csv{NOV}")) if r["department"] == "Alpha"
    ]
    fields = ("source", "pipeline_identity", "spend", "prompt_tokens", "completion_tokens",
              "tokens", "requests", "unattributed")  # fmt: skip
    assert [tuple(r[f] for f in fields) for r in lines] == [
        # 14.50 in all: 10 (portal key) + 3.75 (two runs) + 0.75 (a foreign key).
        ("LiteLLM", "", "10.750000", "1010", "505", "1515", "11", "0.750000"),
        ("LiteLLM pipeline identity", "payments-ci", "3.750000", "500", "150", "650", "5",
         "0.000000"),
    ]  # fmt: skip


def test_focus_tags_carry_the_pipeline_identity_and_repository(runs, client):
    client.force_login(runs["infra"])
    rows = read(client.get(f"/costs/focus.csv{NOV}"))
    tags = {r["ResourceId"]: json.loads(r["Tags"]) for r in rows}
    assert tags["hash-run1"]["x_pipeline"] == "payments-ci"
    assert tags["hash-run1"]["repository"] == "octo-org/octo-repo"
    assert tags["hash-run2"]["x_pipeline"] == "payments-ci"
    assert tags["hash-run2"]["repository"] == "octo-org/other"
    assert tags["hash-run1"]["department"] == "alpha"
    assert "x_pipeline" not in tags["hash-a1"] and "repository" not in tags["hash-other"]
    costs = {r["ResourceId"]: r["BilledCost"] for r in rows}
    assert (costs["hash-run1"], costs["hash-run2"]) == ("2.50000000", "1.25000000")
