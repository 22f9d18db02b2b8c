"""What a page costs does not grow with its rows, and the navigation count is cached but right."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from keys.lifecycle import Status
from keys.models import TuningProject, VirtualKey

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
    assert len(counts) == 1  # the page's own paginator, not the navigation's three

    key = VirtualKey.objects.filter(status=Status.SUBMITTED).first()
    response = client.post(f"/approvals/keys/{key.pk}/", {"decision": "reject", "comment": "no"})
    assert response.status_code == 302
    page = client.get("/keys/").content.decode()
    assert '<span class="badge" id="pending-count">1</span>' in page
