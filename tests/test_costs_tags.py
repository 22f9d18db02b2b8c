"""Budget against actual per tag (the keys' labels) and per model for a department, and per
cost centre for finance; tags travel from the key request to LiteLLM's key metadata."""

import csv
import io
import uuid

import pytest
from django.core import mail

from approvals.lifecycle import Status
from costs import alerts
from costs.ingest import upsert_daily
from costs.models import SoftBudget
from keys import services
from keys.forms import KeyRequestForm
from portal.integrations.litellm import LiteLLMClient

from . import test_costs_support as support
from .test_costs_support import DAY, make_key, row

pytestmark = pytest.mark.django_db
costs_org = support.costs_org
M = "?month=2026-11"
SOFT = "/costs/departments/alpha/soft-budget/"


def read_csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode().removeprefix("\ufeff")
    return list(csv.DictReader(io.StringIO(body)))


@pytest.fixture
def tagged(costs_org):
    key_a = costs_org["key_a"]
    key_a.tags = ["project-x", "app:chat"]
    key_a.save()
    make_key(costs_org["lead_a"], costs_org["a"], "hash-a2", tags=["project-x"])
    upsert_daily(
        [
            row(key="hash-a1", spend="10", requests=3),
            row(key="hash-a2", user="oid-lead_a", spend="4", requests=2),
            row(key="hash-a3", user="oid-lead_a", spend="1"),  # not a portal key: no tag
            row(team="team-beta", user="oid-dev_b", key="hash-b1", spend="40"),
        ]
    )
    return costs_org


KEY_FORM = {
    "name": "tagged",
    "kind": "personal",
    "llm_models": ["gpt-4o-mini"],
    "max_budget": "10",
    "budget_duration": "30d",
    "rpm_limit": "10",
    "tpm_limit": "100",
    "lifetime_days": "10",
    "justification": "because",
}


def test_request_form_reads_and_checks_tags(costs_org):
    data = {**KEY_FORM, "department": costs_org["a"].pk}
    costs_org["a"].allowed_models = ["gpt-4o-mini"]
    costs_org["a"].save()
    tags = "Project-X, app:chat、project-x"
    form = KeyRequestForm({**data, "tags": tags}, user=costs_org["dev_a"])
    assert form.is_valid(), form.errors
    key = form.save(commit=False)
    assert key.tags == ["project-x", "app:chat"]
    key.requester = costs_org["dev_a"]
    assert key.litellm_tags()[-2:] == ["project-x", "app:chat"]
    assert "department:alpha" in key.litellm_tags()
    bad = KeyRequestForm({**data, "tags": "ok, not ok!"}, user=costs_org["dev_a"])
    assert not bad.is_valid() and "tags" in bad.errors
    many = KeyRequestForm({**data, "tags": "a,b,c,d,e,f"}, user=costs_org["dev_a"])
    assert not many.is_valid() and "tags" in many.errors
    # The API sends a list.
    listed = KeyRequestForm({**data, "tags": ["api-tag"]}, user=costs_org["dev_a"])
    assert listed.is_valid(), listed.errors
    assert listed.cleaned_data["tags"] == ["api-tag"]


@pytest.mark.litellm
def test_tags_from_the_request_form_reach_the_keys_metadata_in_litellm(org, litellm):
    """Request with tags, provision into the real proxy, then read the key back from LiteLLM
    (``/key/info``): the tags are in the key's metadata there, beside the portal's own."""
    form = KeyRequestForm(
        {**KEY_FORM, "department": org["a"].pk, "tags": "Project-X, app:chat、project-x"},
        user=org["dev_a"],
    )
    assert form.is_valid(), form.errors
    key = form.save(commit=False)
    key.requester = org["dev_a"]
    key.name = f"tagged-{uuid.uuid4().hex[:6]}"
    key.status = Status.APPROVED
    key.save()
    services.provision(key.pk)
    key.refresh_from_db()
    assert key.status == Status.ACTIVE, key.last_error

    client = LiteLLMClient(litellm.base_url, litellm.master_key)
    info = client.key_info(key.litellm_key_id)["info"]
    assert info["key_alias"] == key.alias
    metadata = info["metadata"]
    assert metadata["tags"] == [
        "department:alpha",
        f"cost-centre:{org['a'].cost_centre}",
        "project-x",
        "app:chat",
    ]
    assert str(metadata["portal_request_id"]) == str(key.pk)


def test_spend_per_tag_with_soft_budgets_and_alerts(
    tagged, client, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFY_WEBHOOK_URL = ""
    client.force_login(tagged["lead_a"])
    assert client.post(SOFT, {"scope": "tag", "tag": "Project-X", "monthly_budget": "10"})
    assert client.post(SOFT, {"scope": "model", "model": "gpt-4o-mini", "monthly_budget": "60"})
    assert client.post(SOFT, {"scope": "tag", "monthly_budget": "5"}).status_code == 302
    assert SoftBudget.objects.count() == 2  # a tag budget needs a tag
    tags = read_csv(client.get(f"/costs/departments/alpha/tags.csv{M}"))
    by_tag = {t["name"]: (t["spend"], t["budget"], t["pct"]) for t in tags}
    # A key with two tags counts in both; keys without a tag are one row.
    assert by_tag == {
        "project-x": ("14.000000", "10.000000", "140"),
        "app:chat": ("10.000000", "", ""),
        "(no tag)": ("1.000000", "", ""),
    }
    models = read_csv(client.get(f"/costs/departments/alpha/models.csv{M}"))
    assert [(m["model"], m["spend"], m["pct"]) for m in models] == [
        ("gpt-4o-mini", "15.000000", "25")
    ]
    html = client.get(f"/costs/departments/alpha/{M}").content.decode()
    assert 'id="table-tags"' in html and "project-x" in html
    japanese = client.get(f"/costs/departments/alpha/{M}", headers={"accept-language": "ja"})
    assert "タグ別" in japanese.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        fired = alerts.evaluate(DAY)
    tag_alerts = [a for a in fired if a.scope == "tag"]
    assert sorted(a.threshold for a in tag_alerts if a.kind == "actual") == [80, 100]
    assert tag_alerts[0].subject == f"soft:tag:{tagged['a'].pk}:project-x"
    assert any("tag project-x (Alpha) (soft budget)" in m.body for m in mail.outbox)


def test_cost_centres_budget_against_actual_for_finance(tagged, client):
    a, b = tagged["a"], tagged["b"]
    a.cost_centre, a.monthly_budget = "CC-100", 100
    a.save()
    b.cost_centre, b.monthly_budget = "CC-100", 60
    b.save()
    client.force_login(tagged["infra"])
    rows = read_csv(client.get(f"/costs/org/cost_centres.csv{M}"))
    assert [
        (r["cost_centre"], r["departments"], r["spend"], r["budget"], r["pct"]) for r in rows
    ] == [
        ("CC-100", "2", "55.000000", "160.000000", "34"),
    ]
    assert client.get(f"/costs/departments/alpha/tags.csv{M}").status_code == 200
    client.force_login(tagged["lead_a"])
    assert client.get(f"/costs/org/cost_centres.csv{M}").status_code == 403
