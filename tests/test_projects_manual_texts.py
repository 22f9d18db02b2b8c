"""What a project made by hand says: no promise of a retry, no claim of automatic fulfilment
before anyone knows, and the host infra handed over."""

import pytest

from portal.integrations.explain import explain
from projects.services import NO_LANGFUSE

from .approvals_helpers import LEADS, make_policy, submit_project

pytestmark = pytest.mark.django_db


def test_the_no_langfuse_reason_says_by_hand_not_retry():
    e = explain(NO_LANGFUSE)
    assert "by hand" in e.todo and not e.retried
    assert "retried" not in f"{e.what} {e.why} {e.todo}"


def test_before_it_is_made_the_project_does_not_claim_automatic_fulfilment(client, org):
    make_policy(org["a"], LEADS)
    project = submit_project(org)
    client.force_login(org["dev_a"])
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "automatic (Langfuse admin API)" not in page
    assert "decided when it is made" in page
