"""A developer requests a pipeline identity from the portal (the page and the API): the form
checks it against the department's policy, the approval workflow decides it, and the list
shows each person the identities they may see."""

from decimal import Decimal

import pytest

from pipelines import claims
from pipelines.models import PipelineIdentity
from portal.models import AuditEvent

from .approvals_helpers import make_policy
from .pipelines_support import new_identity

pytestmark = pytest.mark.django_db

FORM = {
    "name": "payments-ci",
    "issuer_kind": "github",
    "issuer_detail": "",
    "audience": "https://portal.example.com",
    "claim_rules": "repository = octo-org/payments\nref = refs/heads/main\n"
    "environment = production\njob_workflow_ref = octo-org/payments/.github/workflows/*@*",
    "llm_models": ["gpt-4o-mini"],
    "run_budget": "0.50",
    "run_lifetime_seconds": "900",
    "daily_budget": "5",
    "max_live_keys": "3",
    "lifetime_days": "90",
    "justification": "The evaluation workflow runs on every push to main.",
}
BODY = {
    **{k: v for k, v in FORM.items() if k not in ("claim_rules", "issuer_detail")},
    "department": "alpha",
    "claim_rules": {"repository": "octo-org/payments", "ref": "refs/heads/main"},
    "run_lifetime_seconds": 900,
    "max_live_keys": 3,
    "lifetime_days": 90,
}


def test_a_developer_requests_an_identity_and_the_lead_decides_it_seeing_its_trust(org, client):
    client.force_login(org["dev_a"])
    page = client.get("/keys/")
    assert b'href="/pipelines/"' in page.content
    page = client.get("/pipelines/new/")
    assert page.status_code == 200 and b"<title>Request a pipeline identity" in page.content
    response = client.post("/pipelines/new/", {**FORM, "department": org["a"].pk})
    identity = PipelineIdentity.objects.get()
    assert response.status_code == 302 and response.url == f"/pipelines/{identity.pk}/"
    assert identity.status == "submitted" and identity.requester == org["dev_a"]
    assert identity.issuer == claims.GITHUB and identity.department == org["a"]
    assert identity.claim_rules["job_workflow_ref"] == "octo-org/payments/.github/workflows/*@*"
    assert identity.run_lifetime_seconds == 900 and identity.max_live_keys == 3
    assert AuditEvent.objects.filter(action="pipelineidentity.submitted").count() == 1

    client.force_login(org["lead_a"])
    queue = client.get("/approvals/")
    assert identity.decide_url().encode() in queue.content
    decision = client.get(identity.decide_url())
    text = decision.content.decode()
    for fact in ("GitHub Actions", claims.GITHUB, "https://portal.example.com",
                 "repository = octo-org/payments", "Budget per run (USD)", "Daily budget (USD)",
                 "Key lifetime per run (seconds)", "Live keys at most"):  # fmt: skip
        assert fact in text, fact
    client.post(identity.decide_url(), {"decision": "approve", "comment": ""})
    identity.refresh_from_db()
    assert identity.status == "approved" and identity.decided_by == org["lead_a"]


def test_the_policy_s_auto_approval_applies_and_a_stage_condition_routes_it_on(org, api):
    dept = org["a"]
    dept.auto_approve_max_budget, dept.auto_approve_max_lifetime_days = Decimal("10"), 90
    dept.save()
    reply = api.post(org["dev_a"], "/pipelines", BODY)
    assert reply.status_code == 201, reply.content
    assert reply.json()["status"] == "approved"
    assert PipelineIdentity.objects.get(pk=reply.json()["id"]).auto_approved

    # Above the threshold: a lead decides.
    reply = api.post(org["dev_a"], "/pipelines", {**BODY, "daily_budget": "20"})
    assert reply.json()["status"] == "submitted"

    # A stage for service accounts (a pipeline is one) sends it to infra, threshold or not.
    make_policy(dept, {"name": "Platform", "approver": "infra", "condition": "service_account"})
    reply = api.post(org["dev_a"], "/pipelines", BODY)
    assert reply.json()["status"] == "submitted"
    identity = PipelineIdentity.objects.get(pk=reply.json()["id"])
    assert identity.can_decide(org["infra"]) and not identity.can_decide(org["lead_a"])


def test_each_issuer_kind_names_its_issuer(org, api, settings):
    cases = {
        ("azure_devops", "8b2c-org"): "https://vstoken.dev.azure.com/8b2c-org",
        ("entra", "0f1e2d3c-tenant"): "https://login.microsoftonline.com/0f1e2d3c-tenant/v2.0",
        ("gitlab", ""): "https://gitlab.com",
        (
            "kubernetes",
            "https://oidc.eks.example.com/id/ABC/",
        ): "https://oidc.eks.example.com/id/ABC",
    }
    pins = {"azure_devops": "sub", "entra": "oid", "gitlab": "project_path", "kubernetes": "sub"}
    for (kind, detail), issuer in cases.items():
        body = {**BODY, "issuer_kind": kind, "issuer_detail": detail,
                "claim_rules": {pins[kind]: "system:serviceaccount:ci:runner"}}  # fmt: skip
        reply = api.post(org["dev_a"], "/pipelines", body)
        assert reply.status_code == 201, reply.content
        assert reply.json()["issuer"] == issuer and reply.json()["issuer_kind"] == kind


BAD = [
    ({"name": "payments\x00ci"}, "name"),
    ({"audience": "https://portal\x00.example.com"}, "audience"),
    ({"audience": "=HYPERLINK(1)"}, "audience"),
    ({"justification": "why\x00"}, "justification"),
    ({"claim_rules": {"repository": "octo-org/\x00payments"}}, "claim_rules"),
    ({"claim_rules": {}}, "claim_rules"),
    ({"claim_rules": {"ref": "refs/heads/main"}}, "claim_rules"),  # no repository pinned
    ({"claim_rules": {"repository": "*"}}, "claim_rules"),
    ({"claim_rules": {"bad name!": "x"}}, "claim_rules"),
    ({"issuer_kind": "jenkins"}, "issuer_kind"),
    ({"issuer_kind": "azure_devops", "issuer_detail": "org/../x",
      "claim_rules": {"sub": "p://o/p/d"}}, "issuer_detail"),
    ({"issuer_kind": "kubernetes", "issuer_detail": "http://10.0.0.1",
      "claim_rules": {"sub": "system:serviceaccount:ci:x"}}, "issuer_detail"),
    ({"issuer_detail": "https://token.example.com"}, "issuer_detail"),
    ({"llm_models": ["gpt-5-secret"]}, "llm_models"),
    ({"run_lifetime_seconds": 3601}, "run_lifetime_seconds"),
    ({"run_budget": "6"}, "run_budget"),  # more than the daily budget
    ({"daily_budget": "1000"}, "daily_budget"),  # over the department's key budget
    ({"max_live_keys": 0}, "max_live_keys"),
    ({"max_live_keys": 500}, "max_live_keys"),
    ({"lifetime_days": 9999}, "lifetime_days"),
    ({"department": "beta"}, "department"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "field"), BAD, ids=[f for _, f in BAD])
def test_bad_input_is_refused_by_the_form(org, api, change, field):
    reply = api.post(org["dev_a"], "/pipelines", {**BODY, **change})
    assert reply.status_code in (400, 422), reply.content
    if reply.status_code == 422 and "errors" in reply.json():
        errors = reply.json()["errors"]
        assert field in errors or isinstance(errors, list), errors
    assert not PipelineIdentity.objects.exists()


def test_the_page_shows_form_errors_and_refuses_nul(org, client):
    client.force_login(org["dev_a"])
    form = {**FORM, "department": org["a"].pk, "claim_rules": "repository = *\x00"}
    response = client.post("/pipelines/new/", form)
    assert response.status_code == 200 and b"has-error" in response.content
    response = client.post("/pipelines/new/", {**form, "claim_rules": "just-a-line"})
    assert b"claim = pattern" in response.content
    assert not PipelineIdentity.objects.exists()


def _identity(org, who: str, name: str, dept: str = "a") -> PipelineIdentity:
    return new_identity(org[who], org[dept], name, f"o/{name}", issuer=claims.GITHUB)


def test_the_list_shows_own_identities_the_lead_s_department_and_all_to_infra(org, client, api):
    _identity(org, "dev_a", "mine")
    _identity(org, "lead_a", "leads")
    _identity(org, "dev_b", "theirs", dept="b")
    seen = {
        "dev_a": {"mine"},
        "lead_a": {"mine", "leads"},
        "dev_b": {"theirs"},
        "lead_b": {"theirs"},
        "infra": {"mine", "leads", "theirs"},
    }
    for who, names in seen.items():
        client.force_login(org[who])
        page = client.get("/pipelines/").content.decode()
        shown = {n for n in ("mine", "leads", "theirs") if f">{n}</a>" in page}
        assert shown == names, (who, shown)
        reply = api.get(org[who], "/pipelines?scope=visible")
        assert {i["name"] for i in reply.json()["results"]} == names, who
    mine = api.get(org["lead_a"], "/pipelines").json()["results"]
    assert [i["name"] for i in mine] == ["leads"]


def test_the_list_is_paginated(org, client, settings):
    settings.PAGE_SIZE = 5
    for i in range(12):
        _identity(org, "dev_a", f"ci-{i:02d}")
    client.force_login(org["dev_a"])
    first = client.get("/pipelines/").content.decode()
    assert "Page 1 of 3" in first and "ci-11" in first and "ci-00" not in first
    last = client.get("/pipelines/?page=3").content.decode()
    assert "ci-00" in last and "ci-11" not in last


def test_someone_else_s_identity_answers_404(org, client, api):
    identity = _identity(org, "dev_a", "mine")
    for who in ("dev_b", "lead_b", "nobody"):
        client.force_login(org[who])
        assert client.get(f"/pipelines/{identity.pk}/").status_code == 404
        assert client.post(f"/pipelines/{identity.pk}/disable/").status_code == 404
        assert api.get(org[who], f"/pipelines/{identity.pk}").status_code == 404
        assert api.post(org[who], f"/pipelines/{identity.pk}/disable").status_code == 404
    identity.refresh_from_db()
    assert identity.status == "submitted"
