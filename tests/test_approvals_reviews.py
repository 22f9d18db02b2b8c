"""Access reviews against the real LiteLLM proxy: infra starts a campaign; the lead keeps one
key and revokes another (deleted in LiteLLM); the deadline suspends the unreviewed one
(blocked in LiteLLM); progress per department and the CSV report; the quarterly schedule."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from approvals import reviews, tasks
from approvals.lifecycle import Status
from approvals.review_models import ReviewCampaign, ReviewItem
from keys import services
from keys.models import VirtualKey
from portal import crypto
from portal.models import AuditEvent

from .integration import chat, keys_with_alias

D = ReviewItem.Decision


def live_key(org, name: str, requester="dev_a", department="a") -> tuple[VirtualKey, str]:
    key = VirtualKey.objects.create(
        requester=org[requester], department=org[department], name=name,
        llm_models=["gpt-4o-mini"], max_budget=Decimal("5"), rpm_limit=50, tpm_limit=100000,
        lifetime_days=30, justification="x", status=Status.APPROVED,
    )  # fmt: skip
    services.provision(key.pk)
    key.refresh_from_db()
    assert key.status == Status.ACTIVE
    return key, crypto.decrypt(key.secret_encrypted)


def works(litellm, secret) -> bool:
    return chat(litellm.base_url, secret).status_code == 200


@pytest.mark.litellm
@pytest.mark.django_db(transaction=True)
def test_campaign_keep_revoke_and_deadline_suspends_the_rest_in_litellm(org, litellm, client):
    kept, kept_secret = live_key(org, "kept")
    unneeded, unneeded_secret = live_key(org, "unneeded")
    forgotten, forgotten_secret = live_key(org, "forgotten")
    other, _ = live_key(org, "other", requester="dev_b", department="b")
    assert works(litellm, unneeded_secret)

    # Infra starts a quarterly-style campaign over department alpha.
    client.force_login(org["infra"])
    deadline = timezone.now() + datetime.timedelta(days=14)
    response = client.post(
        "/reviews/",
        {
            "name": "2026 Q1",
            "departments": [org["a"].pk],
            "deadline": timezone.localtime(deadline).strftime("%Y-%m-%dT%H:%M"),
            "at_deadline": "suspend",
        },
    )
    campaign = ReviewCampaign.objects.get()
    assert response.status_code == 302
    labels = set(campaign.items.values_list("object_id", flat=True))
    assert labels == {kept.pk, unneeded.pk, forgotten.pk}  # beta's key is not in it

    # The lead of alpha reviews: keep one, revoke one (with reasons); beta's lead sees nothing.
    client.force_login(org["lead_b"])
    assert client.get(campaign.get_absolute_url()).status_code == 404
    client.force_login(org["lead_a"])
    page = client.get(campaign.get_absolute_url()).content.decode()
    assert "unneeded" in page
    item = {i.object_id: i for i in campaign.items.all()}
    response = client.post(
        f"/reviews/items/{item[kept.pk].pk}/", {"decision": "keep", "reason": "support uses it"}
    )
    assert response.status_code == 302
    client.post(f"/reviews/items/{item[unneeded.pk].pk}/", {"decision": "revoke",
                                                           "reason": "project ended"})  # fmt: skip
    # Bad input is a message, not a 500; nobody reviews their own grant.
    response = client.post(f"/reviews/items/{item[forgotten.pk].pk}/", {"decision": "maybe"})
    assert response.status_code == 302
    client.force_login(org["dev_a"])
    assert (
        client.post(
            f"/reviews/items/{item[forgotten.pk].pk}/", {"decision": "keep", "reason": "mine"}
        ).status_code
        == 404
    )

    unneeded.refresh_from_db()
    assert unneeded.status == Status.REVOKED
    assert keys_with_alias(litellm, unneeded.alias) == []  # deleted in the real proxy
    assert not works(litellm, unneeded_secret)
    assert works(litellm, kept_secret)

    # Reminder before the deadline, to the leads with items left.
    mail.outbox.clear()
    assert tasks.sweep_reviews((deadline - datetime.timedelta(days=2)).isoformat())["reminded"] == 1
    assert any("lead_a@example.com" in m.to for m in mail.outbox)

    # The deadline: the unreviewed key is suspended and blocked in LiteLLM; kept stays.
    counts = tasks.sweep_reviews((deadline + datetime.timedelta(minutes=1)).isoformat())
    assert counts["closed"] == 1
    forgotten.refresh_from_db()
    assert forgotten.status == Status.SUSPENDED and forgotten.blocked_at
    [remote] = keys_with_alias(litellm, forgotten.alias)
    assert remote["blocked"] is True
    assert not works(litellm, forgotten_secret)
    assert works(litellm, kept_secret)
    assert VirtualKey.objects.get(pk=other.pk).status == Status.ACTIVE
    campaign.refresh_from_db()
    assert campaign.state == "closed"

    outcomes = dict(campaign.items.values_list("object_id", "outcome"))
    assert outcomes == {kept.pk: "kept", unneeded.pk: "revoked", forgotten.pk: "suspended"}
    assert AuditEvent.objects.filter(action="reviewitem.decided").count() == 2
    assert AuditEvent.objects.filter(action="reviewcampaign.closed").count() == 1

    # Infra: progress per department and the CSV for auditors.
    [row] = reviews.progress(campaign)
    assert (row["total"], row["kept"], row["revoked"], row["pending"]) == (3, 1, 1, 1)
    client.force_login(org["lead_a"])
    assert client.get(f"/reviews/{campaign.pk}/report.csv").status_code == 403
    client.force_login(org["infra"])
    assert 'id="progress"' in client.get(campaign.get_absolute_url()).content.decode()
    body = b"".join(client.get(f"/reviews/{campaign.pk}/report.csv").streaming_content)
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    by_outcome = {r["outcome"]: r for r in rows}
    assert set(by_outcome) == {"kept", "revoked", "suspended"}
    assert by_outcome["revoked"]["reason"] == "project ended"
    assert by_outcome["revoked"]["decided_by"] == "lead_a@example.com"
    assert by_outcome["suspended"]["decision"] == "pending"


@pytest.mark.django_db
def test_quarterly_campaign_starts_once_per_quarter(org, settings):
    VirtualKey.objects.create(
        requester=org["dev_a"], department=org["a"], name="k", llm_models=["gpt-4o-mini"],
        max_budget=Decimal("5"), rpm_limit=5, tpm_limit=5, lifetime_days=30,
        justification="x", status=Status.ACTIVE,
    )  # fmt: skip
    april = datetime.datetime(2026, 4, 1, 9, tzinfo=datetime.UTC)
    settings.ACCESS_REVIEW_QUARTERLY = False
    assert reviews.sweep(april)["started"] == 0
    settings.ACCESS_REVIEW_QUARTERLY = True
    assert reviews.sweep(april)["started"] == 1
    assert reviews.sweep(april + datetime.timedelta(days=1))["started"] == 0
    campaign = ReviewCampaign.objects.get()
    assert campaign.name == "2026 Q2" and campaign.items.count() == 1
    assert campaign.started_by is None


@pytest.mark.django_db
def test_only_infra_starts_a_campaign(org, client):
    client.force_login(org["lead_a"])
    response = client.post("/reviews/", {"name": "x", "departments": [org["a"].pk]})
    assert response.status_code == 403
    assert not ReviewCampaign.objects.exists()


@pytest.mark.litellm
@pytest.mark.django_db(transaction=True)
def test_a_revocation_while_litellm_is_down_is_recorded_and_its_deletion_retried(
    org, litellm, fault_proxy
):
    key, secret = live_key(org, "retry-me")
    campaign = reviews.start(
        name="retry", departments=[org["a"]], actor=org["infra"],
        deadline=timezone.now() + datetime.timedelta(days=7),
    )  # fmt: skip
    item = campaign.items.get()
    fault_proxy.down = True
    reviews.decide(item, actor=org["lead_a"], keep=False, reason="not needed")
    item.refresh_from_db()
    key.refresh_from_db()
    # The lead's revocation is recorded at once, never lost with LiteLLM's error; the
    # deletion in LiteLLM waits (purge_key, resumed by the stalled-work sweep).
    assert item.outcome == "revoked" and key.status == Status.REVOKED
    assert key.steps["purge"] == services.PURGE_PENDING
    fault_proxy.down = False
    services.purge(key.pk)
    key.refresh_from_db()
    assert key.steps["purge"] == "done"
    assert keys_with_alias(litellm, key.alias) == []
    assert not works(litellm, secret)
