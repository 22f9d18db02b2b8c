"""The audit log: append-only, before/after, written by admin changes too."""

import pytest

from portal import audit
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_record_keeps_who_what_before_after(org, rf):
    request = rf.post("/x", REMOTE_ADDR="10.1.2.3")
    request.user = org["infra"]
    event = audit.record(
        "department.budget_changed", org["a"], request=request, before={"b": 1}, after={"b": 2}
    )
    assert event.actor == org["infra"]
    assert event.actor_label == "infra@example.com"
    assert event.object_type == "tenants.department"
    assert event.object_id == str(org["a"].pk)
    assert event.department_id == org["a"].pk
    assert (event.before, event.after, event.ip_address) == ({"b": 1}, {"b": 2}, "10.1.2.3")


def test_audit_log_is_append_only(org):
    event = audit.record("x.happened", org["a"])
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.all().delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.update(action="y")


def test_snapshot_leaves_out_secrets(org):
    data = audit.snapshot(org["infra"])
    assert "password" not in data
    assert data["email"] == "infra@example.com"


def test_admin_change_is_audited(org, client):
    client.force_login(org["infra"])
    dept = org["a"]
    url = f"/admin/tenants/department/{dept.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update(
        {
            "name": dept.name,
            "slug": dept.slug,
            "monthly_budget": "2500.00",
            "allowed_models": '["gpt-4o-mini"]',
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.content[:2000]
    event = AuditEvent.objects.get(action="department.changed_in_admin")
    assert event.before["monthly_budget"] == "1000.00"
    assert event.after["monthly_budget"] == "2500.00"
    assert event.actor == org["infra"]


def test_infra_browses_and_filters_the_audit_log(org, client):
    audit.record("department.budget_changed", org["a"], actor=org["infra"])
    audit.record("user.signed_in", org["dev_a"], actor=org["dev_a"])
    client.force_login(org["infra"])
    page = client.get("/audit/", {"action": "department."})
    assert page.status_code == 200
    rows = page.content.split(b'id="audit-rows"')[1]  # the filter lists name every action
    assert b"department.budget_changed" in rows
    assert b"user.signed_in" not in rows


def test_only_infra_sees_the_audit_log(org, client):
    client.force_login(org["lead_a"])
    assert client.get("/audit/").status_code == 403


def test_spoofed_forwarded_for_is_ignored_without_trusted_proxies(org, rf, settings):
    """Nobody in front of the portal: X-Forwarded-For is whatever the client wrote."""
    settings.TRUSTED_PROXY_COUNT = 0
    request = rf.post("/x", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="203.0.113.66")
    request.user = org["dev_a"]
    event = audit.record("x.happened", org["a"], request=request)
    assert event.ip_address == "10.1.2.3"


def test_one_trusted_proxy_gives_the_address_it_appended(org, rf, settings):
    """Behind one proxy the right-most entry is the one the proxy wrote; the client's own
    entries to its left are not believed."""
    settings.TRUSTED_PROXY_COUNT = 1
    request = rf.post(
        "/x", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.66, 198.51.100.7"
    )
    request.user = org["dev_a"]
    assert audit.record("x.happened", org["a"], request=request).ip_address == "198.51.100.7"
    # Two proxies: the second entry from the right.
    settings.TRUSTED_PROXY_COUNT = 2
    request.META["HTTP_X_FORWARDED_FOR"] = "203.0.113.66, 198.51.100.7, 10.0.0.9"
    assert audit.record("x.happened", org["a"], request=request).ip_address == "198.51.100.7"


def test_garbage_in_forwarded_for_is_not_a_server_error(org, client, settings):
    """A header that is not an address falls back to REMOTE_ADDR instead of failing the insert."""
    settings.TRUSTED_PROXY_COUNT = 1
    client.force_login(org["infra"])
    response = client.post("/directory/sync/", HTTP_X_FORWARDED_FOR="not-an-address")
    assert response.status_code == 302
    assert AuditEvent.objects.latest("pk").ip_address == "127.0.0.1"


def test_member_budget_admin_changes_are_audited(org, client):
    from decimal import Decimal

    from costs.models import MemberBudget
    from tenants.models import User

    admin = User.objects.create_superuser("breakglass", "breakglass@example.com", None)
    budget = MemberBudget.objects.create(
        department=org["a"], user=org["dev_a"], monthly_budget=Decimal("10")
    )
    client.force_login(admin)
    url = f"/admin/costs/memberbudget/{budget.pk}/change/"
    data = {"department": org["a"].pk, "user": org["dev_a"].pk, "monthly_budget": "40.00"}
    response = client.post(url, data)
    assert response.status_code == 302, response.content[:2000]
    event = AuditEvent.objects.get(action="memberbudget.changed_in_admin")
    assert (event.before["monthly_budget"], event.after["monthly_budget"]) == ("10.00", "40.00")
    assert event.actor == admin and event.department_id == org["a"].pk
    client.post(f"/admin/costs/memberbudget/{budget.pk}/delete/", {"post": "yes"})
    assert AuditEvent.objects.filter(action="memberbudget.deleted_in_admin").exists()
