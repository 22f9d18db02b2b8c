"""Infra edits a department's approval policy in the admin: each change is a new version,
kept and audited with before/after; requests in flight keep their stages."""

import pytest

from approvals.models import Policy, PolicyVersion
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def stage_form(stages, initial=0, ids=()):
    data = {
        "stages-TOTAL_FORMS": str(len(stages)),
        "stages-INITIAL_FORMS": str(initial),
        "stages-MIN_NUM_FORMS": "0",
        "stages-MAX_NUM_FORMS": "1000",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000",
    }
    for i, stage in enumerate(stages):
        defaults = {
            "position": str(i + 1), "quorum": "any", "quorum_n": "1", "condition": "always",
            "premium_models": "[]", "reminder_hours": "0", "escalate_hours": "0",
            "expire_days": "0",
        }  # fmt: skip
        for key, value in {**defaults, **stage}.items():
            data[f"stages-{i}-{key}"] = value
        if i < len(ids):
            data[f"stages-{i}-id"] = str(ids[i])
    return data


def test_infra_creates_and_changes_a_policy_in_the_admin(client, org):
    client.force_login(org["infra"])
    data = {"department": str(org["a"].pk), **stage_form([{"name": "Lead", "approver": "leads"}])}
    response = client.post("/admin/approvals/policy/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    policy = Policy.objects.get(department=org["a"])
    assert policy.version == 1

    stage_id = policy.stages.get().pk
    data = {
        "department": str(org["a"].pk),
        **stage_form(
            [
                {"name": "Lead", "approver": "leads"},
                {
                    "name": "Infra",
                    "approver": "infra",
                    "condition": "premium_model",
                    "premium_models": '["claude-3-5-sonnet"]',
                },
            ],
            initial=1,
            ids=[stage_id],
        ),  # fmt: skip
    }
    response = client.post(f"/admin/approvals/policy/{policy.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    policy.refresh_from_db()
    assert policy.version == 2
    assert PolicyVersion.objects.filter(policy=policy).count() == 2
    event = AuditEvent.objects.filter(action="policy.changed").latest("pk")
    assert event.actor == org["infra"]
    assert [s["name"] for s in event.after["stages"]] == ["Lead", "Infra"]
    assert [s["name"] for s in event.before["stages"]] == ["Lead"]


def test_a_lead_cannot_edit_policies(client, org):
    org["lead_a"].is_staff = True
    org["lead_a"].save()
    client.force_login(org["lead_a"])
    response = client.post("/admin/approvals/policy/add/", {"department": str(org["a"].pk)})
    assert response.status_code == 403
    assert not Policy.objects.exists()


def test_switching_off_distinct_people_in_the_admin_is_a_new_audited_version(client, org):
    client.force_login(org["infra"])
    lead = [{"name": "Lead", "approver": "leads"}]
    data = {"department": str(org["a"].pk), "distinct_approvers": "on", **stage_form(lead)}
    assert client.post("/admin/approvals/policy/add/", data).status_code == 302
    policy = Policy.objects.get(department=org["a"])
    assert policy.distinct_approvers and policy.version == 1

    stage_id = policy.stages.get().pk
    data = {"department": str(org["a"].pk), **stage_form(lead, initial=1, ids=[stage_id])}
    response = client.post(f"/admin/approvals/policy/{policy.pk}/change/", data)  # unticked
    assert response.status_code == 302, response.content.decode()[:3000]
    policy.refresh_from_db()
    assert not policy.distinct_approvers and policy.version == 2
    event = AuditEvent.objects.filter(action="policy.changed").latest("pk")
    assert event.actor == org["infra"] and event.ip_address
    assert (event.before["distinct_approvers"], event.after["distinct_approvers"]) == (True, False)
    assert event.before["stages"] == event.after["stages"]
