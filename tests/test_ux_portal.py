"""Pages around the product (issue: "a console people enjoy"): the sign-in page's language
picker, the favicon, error pages with navigation, CSVs Excel reads, the readable audit log."""

from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.test import override_settings

from keys.models import VirtualKey
from portal import audit
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_language_picker_works_before_sign_in(client):
    response = client.post("/i18n/setlang/", {"language": "ja", "next": "/accounts/login/"})
    assert response.status_code == 302 and response.url == "/accounts/login/"
    assert response.cookies["django_language"].value == "ja"
    page = client.get("/accounts/login/").content.decode()
    assert 'lang="ja"' in page


def test_sign_in_page_does_not_show_setting_names(client):
    page = client.get("/accounts/login/").content.decode()
    assert "ENTRA_" not in page


def test_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    icon = client.get(response.url)
    assert icon.status_code == 200
    assert b"<svg" in b"".join(icon.streaming_content)


@override_settings(DEBUG=False)
def test_404_and_403_have_navigation_and_a_title(org, client):
    client.force_login(org["dev_a"])
    missing = client.get("/keys/999999/")
    assert missing.status_code == 404
    html = missing.content.decode()
    assert "<title>Page not found" in html and 'href="/"' in html and "nav" in html
    denied = client.get("/audit/")
    assert denied.status_code == 403
    assert 'href="/"' in denied.content.decode() and "<title>Not allowed" in denied.content.decode()


def test_500_page_renders_without_a_request_and_links_home():
    html = render_to_string("500.html")
    assert 'href="/"' in html and "Something went wrong" in html


def test_audit_log_shows_only_what_changed_in_one_time_zone(org, client):
    audit.record(
        "virtualkey.approved",
        org["a"],
        actor=org["lead_a"],
        before={"status": "submitted", "max_budget": "50.00", "decided_at": None},
        after={
            "status": "approved",
            "max_budget": "50.00",
            "decided_at": "2026-12-01T23:30:00+00:00",
        },
    )
    client.force_login(org["infra"])
    html = client.get("/audit/").content.decode()
    rows = html.split('id="audit-rows"')[1]
    assert "submitted" in rows and "approved" in rows
    assert "max_budget" not in rows and "50.00" not in rows  # unchanged: not shown
    assert "{" not in rows  # no Python dicts
    assert "2 Dec 2026 08:30" in rows  # 23:30 UTC shown in Tokyo time, like the When column
    assert "Asia/Tokyo" in html
    assert '<select id="f-type" name="object_type">' in html
    assert 'value="tenants.department"' in html  # object types offered from a list


def test_audit_log_exports_csv_with_a_byte_order_mark(org, client):
    audit.record("department.budget_changed", org["a"], actor=org["infra"], before={"x": 1})
    client.force_login(org["infra"])
    response = client.get("/audit/", {"format": "csv", "action": "department."})
    body = b"".join(response.streaming_content).decode()
    assert body.startswith("\ufeffwhen,who,action")
    assert "department.budget_changed" in body and "x: 1 → —" in body
    assert AuditEvent.objects.count() == 1


def test_audit_diff_names_related_objects_and_the_csv_keeps_the_id(org, client):
    key = VirtualKey.objects.create(
        requester=org["dev_a"], department=org["a"], name="named", llm_models=["m"],
        max_budget=Decimal("5"), rpm_limit=1, tpm_limit=1, lifetime_days=1, justification="j",
    )  # fmt: skip
    audit.record(
        "virtualkey.approved",
        key,
        actor=org["lead_a"],
        before={"department": org["b"].pk, "decided_by": None},
        after={"department": org["a"].pk, "decided_by": org["lead_a"].pk},
    )
    client.force_login(org["infra"])
    rows = client.get("/audit/").content.decode().split('id="audit-rows"')[1]
    diff = rows.split('class="diff"')[1].split("</ul>")[0]
    assert f"<code>{org['b'].name}</code>" in diff and f"<code>{org['a'].name}</code>" in diff
    assert str(org["lead_a"]) in diff
    assert f"<code>{org['a'].pk}</code>" not in diff  # no bare ids
    response = client.get("/audit/", {"format": "csv"})
    body = b"".join(response.streaming_content).decode()
    assert (
        f"department: {org['b'].name} (#{org['b'].pk}) → {org['a'].name} (#{org['a'].pk})" in body
    )
