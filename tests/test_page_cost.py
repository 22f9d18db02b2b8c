"""What a page costs does not grow with its rows, and the navigation count is cached but right."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals.lifecycle import Status
from keys.models import VirtualKey
from projects.models import TuningProject

pytestmark = pytest.mark.django_db


def make_keys(org, n, **extra):
    fields = {"requester": org["dev_a"], "status": Status.ACTIVE, **extra}
    for i in range(n):
        VirtualKey.objects.create(
            department=org["a"], name=f"k{i}", llm_models=["gpt-4o-mini"], max_budget=5,
            rpm_limit=1, tpm_limit=1, lifetime_days=7, justification="x", **fields,
        )  # fmt: skip


def make_projects(org, n):
    for i in range(n):
        TuningProject.objects.create(
            requester=org["dev_a"], department=org["a"], name=f"p{i}", purpose="x",
            retention_days=30, lifetime_days=7, justification="x", status=Status.SUBMITTED,
        )  # fmt: skip


def queries(client, path) -> int:
    client.get(path)  # navigation cache warm, as on every page after the first
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    ("who", "path", "add"),
    [
        ("dev_a", "/keys/", lambda org, n: make_keys(org, n)),
        ("dev_a", "/projects/", make_projects),
        ("lead_a", "/approvals/", lambda org, n: make_keys(org, n, status=Status.SUBMITTED)),
        ("lead_a", "/approvals/", make_projects),
    ],
)
def test_list_pages_make_the_same_queries_for_2_rows_as_for_20(client, org, who, path, add):
    client.force_login(org[who])
    add(org, 2)
    few = queries(client, path)
    add(org, 18)
    assert queries(client, path) == few


def test_navigation_count_is_cached_and_follows_decisions(client, org):
    make_keys(org, 2, status=Status.SUBMITTED)
    client.force_login(org["lead_a"])
    first = client.get("/keys/")
    assert '<span class="badge" id="pending-count">2</span>' in first.content.decode()
    with CaptureQueriesContext(connection) as cached:
        client.get("/keys/")
    counts = [q["sql"] for q in cached if "COUNT(" in q["sql"].upper()]
    # Not the navigation's three (cached), nor the paginator's: the list fits on its page.
    assert counts == []

    key = VirtualKey.objects.filter(status=Status.SUBMITTED).first()
    response = client.post(f"/approvals/keys/{key.pk}/", {"decision": "reject", "comment": "no"})
    assert response.status_code == 302
    page = client.get("/keys/").content.decode()
    assert '<span class="badge" id="pending-count">1</span>' in page


def test_home_is_cached_per_user_and_follows_a_new_request(client, org):
    make_keys(org, 1, status=Status.FAILED)
    client.force_login(org["dev_a"])
    client.get("/")  # panels and navigation cached
    with CaptureQueriesContext(connection) as cached:
        html = client.get("/").content.decode()
    assert len(cached) <= 2  # the user and their memberships; no panel query
    assert ">k0</a>" in html
    VirtualKey.objects.create(
        requester=org["dev_a"], department=org["a"], name="fresh-one", llm_models=["m"],
        max_budget=5, rpm_limit=1, tpm_limit=1, lifetime_days=7, justification="x",
        status=Status.SUBMITTED,
    )  # fmt: skip
    assert ">fresh-one</a>" in client.get("/").content.decode()  # at once, not seconds later


def test_approval_queue_is_one_query_for_what_waits_and_follows_a_delegation(client, org):
    import datetime

    from django.utils import timezone

    from approvals import delegation

    make_keys(org, 3, status=Status.SUBMITTED)
    client.force_login(org["lead_b"])
    assert ">k0 (portal-" not in client.get("/approvals/").content.decode()
    with CaptureQueriesContext(connection) as cached:
        client.get("/approvals/")
    # The user; the keys' departments, count and page; the projects. What waits for whom is
    # cached with the navigation (no stage, delegation or led-department subqueries).
    assert len(cached) <= 5
    assert not [q for q in cached if "approvals_delegation" in q["sql"]]
    today = timezone.localdate()
    delegation.create(
        delegator=org["lead_a"], delegate=org["lead_b"], starts_on=today,
        ends_on=today + datetime.timedelta(days=3), actor=org["lead_a"],
    )  # fmt: skip
    page = client.get("/approvals/").content.decode()  # at once: the delegation bumped it
    assert ">k0 (portal-" in page and '<span class="badge" id="pending-count">3</span>' in page


def test_a_new_lead_sees_the_queue_at_once(client, org):
    from tenants.models import Membership

    make_keys(org, 2, status=Status.SUBMITTED)
    client.force_login(org["dev_b"])
    assert 'id="home-queue"' not in client.get("/").content.decode()
    Membership.objects.create(user=org["dev_b"], department=org["a"], role="lead")
    assert ">k1 (portal-" in client.get("/approvals/").content.decode()
    assert 'id="home-queue"' in client.get("/").content.decode()


def list_counts(captured) -> list[str]:
    """The COUNT queries on the keys' table (the navigation's own count is not the list's)."""
    return [
        q["sql"]
        for q in captured
        if q["sql"].upper().startswith('SELECT COUNT(*) AS "__COUNT" FROM "KEYS_VIRTUALKEY"')
    ]


def test_a_list_longer_than_a_page_is_counted_and_one_page_long_is_not(client, org, settings):
    import re

    def rows(html):
        return len(re.findall(r'<a href="/keys/\d+/">', html))

    settings.PAGE_SIZE = 5
    client.force_login(org["dev_a"])
    make_keys(org, 5)
    client.get("/keys/")
    with CaptureQueriesContext(connection) as one_page:
        html = client.get("/keys/").content.decode()
    assert rows(html) == 5 and "Page 1 of" not in html
    assert not list_counts(one_page)

    make_keys(org, 1)  # six: two pages, counted as Django does
    with CaptureQueriesContext(connection) as two_pages:
        html = client.get("/keys/").content.decode()
    assert "Page 1 of 2" in html and rows(html) == 5
    assert len(list_counts(two_pages)) == 1
    second = client.get("/keys/?page=2").content.decode()
    assert "Page 2 of 2" in second and rows(second) == 1
    assert "Page 2 of 2" in client.get("/keys/?page=99").content.decode()  # the last page


def test_memberships_are_cached_and_follow_a_new_membership_and_a_rename(client, org):
    from tenants.models import Membership

    make_keys(org, 1)
    client.force_login(org["dev_a"])
    client.get("/keys/")
    with CaptureQueriesContext(connection) as cached:
        html = client.get("/keys/").content.decode()
    assert not [q for q in cached if "tenants_membership" in q["sql"]]
    assert ">Alpha</option>" in html and ">Beta</option>" not in html
    Membership.objects.create(user=org["dev_a"], department=org["b"], role="member")
    assert ">Beta</option>" in client.get("/keys/").content.decode()  # at once
    org["b"].name = "Beta renamed"
    org["b"].save()
    assert ">Beta renamed</option>" in client.get("/keys/").content.decode()


def test_list_rows_are_cached_and_follow_every_saved_request(client, org):
    make_keys(org, 2, status=Status.SUBMITTED)
    client.force_login(org["dev_a"])
    client.get("/keys/")
    with CaptureQueriesContext(connection) as cached:
        html = client.get("/keys/").content.decode()
    assert not [q for q in cached if "keys_virtualkey" in q["sql"]]  # rows from the cache
    assert html.count('<span class="status submitted">') == 2
    key = VirtualKey.objects.get(name="k0")
    key.transition(Status.APPROVED, allowed_from={Status.SUBMITTED}, actor=org["lead_a"])
    html = client.get("/keys/").content.decode()
    assert html.count('<span class="status submitted">') == 1 and "status approved" in html
    # Another query string (a filter, a page) is its own entry.
    assert ">k0</a>" not in client.get("/keys/?status=submitted").content.decode()


def test_the_queue_drops_a_request_another_approver_decided_at_once(client, org):
    from django.test import Client

    make_keys(org, 2, status=Status.SUBMITTED)
    client.force_login(org["lead_a"])
    assert ">k0 (portal-" in client.get("/approvals/").content.decode()
    infra = Client()
    infra.force_login(org["infra"])
    key = VirtualKey.objects.get(name="k0")
    response = infra.post(f"/approvals/keys/{key.pk}/", {"decision": "reject", "comment": "no"})
    assert response.status_code == 302
    queue = client.get("/approvals/").content.decode()
    assert ">k0 (portal-" not in queue and ">k1 (portal-" in queue


def test_a_saved_request_moves_the_version_again_when_it_commits(
    org, django_capture_on_commit_callbacks
):
    from portal import context_processors

    make_keys(org, 1)
    key = VirtualKey.objects.get()
    with django_capture_on_commit_callbacks() as callbacks:
        key.name = "renamed"
        key.save()
    scope = context_processors.department_scope(key.department_id)
    before = context_processors.version(scope)
    bumps = [c for c in callbacks if isinstance(c, context_processors.Bump)]
    assert bumps and scope in bumps[0].scopes  # a page read before the commit is dropped
    for callback in callbacks:
        callback()
    assert context_processors.version(scope) != before
