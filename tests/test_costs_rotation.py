"""A rotated key keeps its spend: LiteLLM reports each call under the token that made it, and
every earlier token of a key stays the key's (its owner's, its department's), also once LiteLLM
has deleted that token."""

import contextlib
import datetime
import uuid
from decimal import Decimal

import pytest

from costs import litellm_source
from costs.attribution import reattribute
from costs.ingest import upsert_daily
from costs.models import DailySpend, MonthlyKeySpend, MonthlySpend
from costs.tasks import run_ingestion
from keys import services
from keys.models import KeyToken, VirtualKey
from portal.integrations.errors import Conflict
from portal.integrations.litellm import LiteLLMClient
from portal.templatetags.portal_ui import exact_text

from . import test_costs_support as support
from .integration import chat, keys_with_alias, wait_for
from .test_costs_views import read_csv

pytestmark = pytest.mark.django_db
costs_org = support.costs_org


def litellm_rows(team_id: str, requests: int) -> list:
    """The team's rows as LiteLLM reports them, once its daily tables show ``requests`` calls:
    the ground truth (LiteLLM's own figures, not the portal's)."""
    today = datetime.datetime.now(datetime.UTC).date()

    def ours():  # LiteLLM writes its daily tables in batches, a second or so after the calls
        rows, _pages = litellm_source.fetch_rows(today - datetime.timedelta(days=1), today)
        mine = [r for r in rows if r.team_id == team_id]
        return mine if sum(r.requests for r in mine) >= requests else None

    return wait_for(ours, timeout=90, message=f"LiteLLM never showed {requests} calls")


@pytest.mark.litellm
def test_spend_before_and_after_a_rotation_stays_the_keys(costs_org, litellm, client):
    run = uuid.uuid4().hex[:8]
    team_id, dev = f"portal-rot-{run}", costs_org["dev_a"]
    department = costs_org["a"]
    department.litellm_team_id = team_id
    department.save()
    remote = LiteLLMClient(litellm.base_url, litellm.master_key)
    remote.new_team(team_id, f"rotation {run}")
    with contextlib.suppress(Conflict):  # made by an earlier test on the same proxy
        remote.new_user(dev.entra_oid, dev.email)
    remote.team_member_add(team_id, dev.entra_oid)
    key = support.make_key(dev, department, "", name=f"coding-agent-{run}")
    made = remote.generate_key(
        key_alias=key.alias, team_id=team_id, user_id=dev.entra_oid, models=["gpt-4o-mini"]
    )
    VirtualKey.objects.filter(pk=key.pk).update(litellm_key_id=made["token"])
    old_token = made["token"]

    for _ in range(2):
        assert chat(litellm.base_url, made["key"]).status_code == 200
    litellm_rows(team_id, 2)
    run_ingestion(2)

    services.rotate(key, actor=dev)
    key = VirtualKey.objects.get(pk=key.pk)
    assert key.litellm_key_id != old_token
    assert keys_with_alias(litellm, f"{key.alias}-rotating") == []  # the old token is deleted
    new_secret = key.take_secret()
    assert chat(litellm.base_url, new_secret).status_code == 200
    assert chat(litellm.base_url, made["key"]).status_code in (400, 401, 403)

    rows = litellm_rows(team_id, 3)
    by_token: dict[str, Decimal] = {}
    for r in rows:
        spend = round(r.spend, 8)  # as a daily row stores it
        by_token[r.key_hash] = by_token.get(r.key_hash, Decimal(0)) + spend
    assert set(by_token) == {old_token, key.litellm_key_id}  # both tokens made spend
    assert all(spend > 0 for spend in by_token.values())
    total = sum(by_token.values())
    run_ingestion(2)  # re-reads the days before and after the rotation

    stored = DailySpend.objects.filter(team_id=team_id)
    assert {(r.key_hash, r.key_id, r.user_id) for r in stored} == {
        (old_token, key.pk, dev.pk),
        (key.litellm_key_id, key.pk, dev.pk),
    }
    months = {r.day.replace(day=1) for r in rows}
    assert sum(
        m.unattributed_spend for m in MonthlySpend.objects.filter(team_id=team_id)
    ) == Decimal(0)
    assert {m.key_id for m in MonthlyKeySpend.objects.filter(team_id=team_id)} == {key.pk}

    # The key's page: the spend of both tokens, in the budget period and the last 30 days.
    client.force_login(dev)
    page = client.get(f"/keys/{key.pk}/").content.decode()
    assert "No use in the last 30 days" not in page
    assert f'title="{exact_text(total)}"' in page

    # The department's pages (the lead's): the owner's total and the key's rows, by name.
    client.force_login(costs_org["lead_a"])
    members, key_rows = Decimal(0), Decimal(0)
    for month in months:
        q = f"?month={month:%Y-%m}"
        for m in read_csv(client.get(f"/costs/departments/alpha/members.csv{q}")):
            if m["name"] == dev.display_name:
                members += Decimal(m["spend"])
        for k in read_csv(client.get(f"/costs/departments/alpha/keys.csv{q}")):
            assert k["name"] == key.name and k["owner"] == dev.display_name
            key_rows += Decimal(k["spend"])
    assert members == total and key_rows == total

    # The organisation's page: nothing of it is unattributed.
    client.force_login(costs_org["infra"])
    for month in months:
        q = f"?month={month:%Y-%m}"
        for u in read_csv(client.get(f"/costs/org/unattributed.csv{q}")):
            assert u["team_id"] != team_id, u
        [alpha] = [
            d
            for d in read_csv(client.get(f"/costs/org/departments.csv{q}"))
            if d["name"] == department.name
        ]
        assert Decimal(alpha["unattributed"] or 0) == 0


def test_rows_of_an_earlier_token_on_days_no_longer_reread_are_reattributed(costs_org):
    """Spend stored as unattributed under a token (an old day, outside the days ingestion
    re-reads), then found to be an earlier token of a key: all of it moves to the key, and
    the rollups with it."""
    old_day = support.DAY - datetime.timedelta(days=40)
    upsert_daily(
        [
            support.row(day=old_day, key="hash-old", spend="4.00"),
            support.row(key="hash-old", spend="1.50"),
            support.row(key="hash-a1", spend="2.00"),
        ]
    )
    month = old_day.replace(day=1)
    assert MonthlySpend.objects.get(month=month, team_id="team-alpha").unattributed_spend == 4
    key = costs_org["key_a"]
    KeyToken.objects.create(key=key, token="hash-old")

    assert reattribute(["hash-old"]) == 2
    assert reattribute(["hash-old"]) == 0  # nothing left to move
    assert set(DailySpend.objects.filter(key_hash="hash-old").values_list("key", flat=True)) == {
        key.pk
    }
    for m in MonthlySpend.objects.filter(team_id="team-alpha"):
        assert m.unattributed_spend == 0
    keyed = MonthlyKeySpend.objects.filter(key=key).values_list("month", "key_hash", "spend")
    assert sorted(keyed) == [
        (month, "hash-old", Decimal("4")),
        (support.DAY.replace(day=1), "hash-a1", Decimal("2")),
        (support.DAY.replace(day=1), "hash-old", Decimal("1.5")),
    ]
    # Ingestion resolves the earlier token by itself from then on (the row re-read unchanged).
    upsert_daily([support.row(key="hash-old", spend="1.75")])
    assert DailySpend.objects.get(day=support.DAY, key_hash="hash-old").key_id == key.pk


def test_past_rotations_are_recovered_from_the_audit_log(costs_org):
    """Rotations made before the table existed: the migration reads their earlier tokens from
    the audit log (a new rotation writes the row itself: the real-proxy test above)."""
    import importlib

    from django.apps import apps

    from portal import audit

    key = costs_org["key_a"]
    audit.record(
        "virtualkey.rotated",
        key,
        before={"litellm_key_id": "hash-a0"},
        after={"litellm_key_id": "hash-a1"},
    )
    migration = importlib.import_module("keys.migrations.0004_key_token")
    migration.tokens_of_past_rotations(apps, None)
    migration.tokens_of_past_rotations(apps, None)  # again: nothing twice
    assert list(KeyToken.objects.values_list("key", "token")) == [(key.pk, "hash-a0")]
    assert VirtualKey.of_token("hash-a0") == key and VirtualKey.of_token("hash-a1") == key
    assert VirtualKey.of_token("") is None and VirtualKey.of_token("nobody") is None
