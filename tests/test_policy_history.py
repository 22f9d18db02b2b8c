"""A department's page answers "who changed this policy last, and what changed": each version
with its author and its differences in words; the audit log links policy events there."""

from decimal import Decimal

import pytest

from approvals.models import PolicyStage

from .approvals_helpers import INFRA_OVER_50, LEADS, make_policy

pytestmark = pytest.mark.django_db


def versions_section(client, slug="alpha") -> str:
    page = client.get(f"/departments/{slug}/").content.decode()
    start = page.index('id="policy-versions"')
    return page[start : page.index("</section>", start)]


def test_versions_name_their_author_and_changes(client, org):
    make_policy(org["a"], LEADS, actor=org["infra"])
    policy = make_policy(org["a"], LEADS, INFRA_OVER_50, actor=org["infra"])
    stage = PolicyStage.objects.get(policy=policy, name="Infra")
    stage.threshold = Decimal("100")
    stage.save()
    from approvals import policies

    policies.record_version(policy, actor=org["lead_a"])
    client.force_login(org["lead_a"])
    text = versions_section(client)
    assert text.index("Version 3") < text.index("Version 2") < text.index("Version 1")
    assert "Stage “Infra”: threshold 50.00 → 100.00." in text
    assert "Stage “Infra” added: infra, budget above a threshold." in text
    assert "First version: 1 stage(s)." in text
    assert str(org["lead_a"]) in text and str(org["infra"]) in text


def test_without_a_policy_the_page_says_who_decides(client, org):
    client.force_login(org["lead_a"])
    assert "the department's leads decide every request" in versions_section(client)


def test_the_audit_log_links_a_policy_change_to_the_department(client, org):
    make_policy(org["a"], LEADS, actor=org["infra"])
    client.force_login(org["infra"])
    page = client.get("/audit/?object_type=approvals.policy").content.decode()
    assert 'href="/departments/alpha/#policy-versions"' in page


def test_the_page_in_japanese_has_no_english_left_in_the_versions(client, org):
    make_policy(org["a"], LEADS, actor=org["infra"])
    make_policy(org["a"], LEADS, INFRA_OVER_50, actor=org["infra"])
    client.force_login(org["lead_a"])
    page = client.get("/departments/alpha/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    start = page.index('id="policy-versions"')
    text = page[start : page.index("</section>", start)]
    for english in ("Version", "added", "First version", "budget above"):
        assert english not in text
