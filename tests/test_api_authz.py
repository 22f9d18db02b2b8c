"""Every API operation × every role × service principals: who gets what status.

A fresh organisation per operation; each role's call runs in a savepoint that is rolled back,
so one role's change never decides another's answer. Every answer is also checked against the
OpenAPI document, and the matrix must cover every documented operation.
"""

from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from approvals.lifecycle import Status
from catalogue.models import CatalogueModel
from keys.models import VirtualKey
from modelaccess.models import ModelAccessRequest

from .api_support import KEY_BODY
from .factories import make_budget_request, make_project
from .pipelines_support import new_identity
from .test_api_openapi import check_response, openapi_document, operations

pytestmark = pytest.mark.django_db

ROLES = ["anon", "dev_a", "lead_a", "dev_b", "lead_b", "infra", "sp_keys", "sp_costs", "sp_none"]
PEOPLE = ["dev_a", "lead_a", "dev_b", "lead_b", "infra"]
PROJECT_BODY = {
    "department": "alpha",
    "name": "rag-eval",
    "purpose": "evaluate",
    "lifetime_days": 7,
    "justification": "tuning",
}


def expect(default: int, **overrides: int) -> dict[str, int]:
    """Statuses per role: ``default`` for everyone signed in, anonymous always 401."""
    table = {role: default for role in ROLES}
    table.update(overrides)
    table["anon"] = 401
    return table


SP_403 = {"sp_keys": 403, "sp_costs": 403, "sp_none": 403}
SP_KEYS_404 = {"sp_keys": 404, "sp_costs": 403, "sp_none": 403}
OTHER_DEPT_404 = {"dev_b": 404, "lead_b": 404}
VIEWERS_ONLY = {"dev_a": 200, "lead_a": 200, "infra": 200}
ONLY_INFRA = expect(403, infra=200)
LEAD_OR_INFRA = expect(404, lead_a=200, infra=200, sp_costs=200, sp_keys=403, sp_none=403)
COSTS_ME = expect(200, sp_keys=403, sp_none=403)
DECIDE = {"decision": "approve"}
PIPELINE_BODY = {
    "department": "alpha",
    "name": "payments-ci",
    "issuer_kind": "github",
    "audience": "https://portal.example.com",
    "claim_rules": {"repository": "octo-org/payments", "ref": "refs/heads/main"},
    "llm_models": ["gpt-4o-mini"],
    "run_budget": "1",
    "daily_budget": "5",
    "lifetime_days": 30,
    "justification": "CI evaluation",
}

ACCESS_BODY = {
    "department": "alpha",
    "model_name": "gpt-4o",
    "change": "add",
    "expected_monthly_spend": "20",
    "justification": "longer answers",
}

# (method, documented path, concrete path, body, expected statuses)
MATRIX = [
    ("GET", "/api/v1/me", "/me", None, expect(200)),
    ("GET", "/api/v1/keys", "/keys", None, expect(200, sp_costs=403, sp_none=403)),
    ("GET", "/api/v1/keys/{key_id}", "/keys/{live}", None,
     expect(404, **VIEWERS_ONLY, **SP_KEYS_404)),
    ("POST", "/api/v1/keys", "/keys", KEY_BODY,
     expect(422, dev_a=201, lead_a=201, sp_keys=201, sp_costs=403, sp_none=403)),
    ("POST", "/api/v1/keys/{key_id}/extend", "/keys/{live}/extend",
     {"lifetime_days": 7, "justification": "more"},
     expect(404, dev_a=201, lead_a=403, infra=403, **SP_KEYS_404)),
    ("POST", "/api/v1/keys/{key_id}/reveal", "/keys/{live}/reveal", None,
     expect(404, dev_a=200, lead_a=410, infra=410, **SP_KEYS_404)),
    ("POST", "/api/v1/keys/{key_id}/rotate", "/keys/{pending}/rotate", None,
     expect(404, dev_a=409, lead_a=403, infra=403, **SP_KEYS_404)),
    ("POST", "/api/v1/keys/{key_id}/revoke", "/keys/{pending}/revoke", None,
     expect(404, dev_a=409, lead_a=409, infra=409, **SP_KEYS_404)),
    ("POST", "/api/v1/keys/{key_id}/cancel", "/keys/{pending}/cancel", None,
     expect(404, dev_a=200, lead_a=403, infra=403, **SP_KEYS_404)),
    ("GET", "/api/v1/projects", "/projects", None, expect(200, **SP_403)),
    ("GET", "/api/v1/projects/{project_id}", "/projects/{project}", None,
     expect(404, **VIEWERS_ONLY, **SP_403)),
    ("POST", "/api/v1/projects", "/projects", PROJECT_BODY,
     expect(422, dev_a=201, lead_a=201, **SP_403)),
    ("POST", "/api/v1/projects/{project_id}/reveal", "/projects/{project}/reveal", None,
     expect(404, dev_a=410, lead_a=410, infra=410, **SP_403)),
    ("POST", "/api/v1/projects/{project_id}/end", "/projects/{project}/end", None,
     expect(404, dev_a=409, lead_a=403, infra=409, **SP_403)),
    ("POST", "/api/v1/projects/{project_id}/cancel", "/projects/{project}/cancel", None,
     expect(404, dev_a=200, lead_a=403, infra=403, **SP_403)),
    ("GET", "/api/v1/model-access", "/model-access", None, expect(200, **SP_403)),
    ("GET", "/api/v1/model-access/{request_id}", "/model-access/{model}", None,
     expect(404, **VIEWERS_ONLY, **SP_403)),
    # Members of alpha ask; anyone else's department field is refused by the form.
    ("POST", "/api/v1/model-access", "/model-access", ACCESS_BODY,
     expect(422, dev_a=201, lead_a=201, **SP_403)),
    ("POST", "/api/v1/model-access/{request_id}/cancel", "/model-access/{model}/cancel", None,
     expect(404, dev_a=200, lead_a=403, infra=403, **SP_403)),
    ("GET", "/api/v1/requests/mine", "/requests/mine?kind=project", None, expect(200, **SP_403)),
    ("GET", "/api/v1/requests/queue", "/requests/queue?kind=budget", None, expect(200, **SP_403)),
    ("POST", "/api/v1/requests/{kind}/{request_id}/decision", "/requests/key/{pending}/decision",
     DECIDE, expect(404, dev_a=403, lead_a=200, infra=200, **SP_403)),
    ("POST", None, "/requests/project/{project}/decision",
     DECIDE, expect(404, dev_a=403, lead_a=200, infra=200, **SP_403)),
    ("POST", None, "/requests/budget/{budget}/decision",
     DECIDE, expect(404, lead_a=403, infra=200, **SP_403)),
    # Model access without stages: infra decides; dev_a asked, alpha's lead sees it.
    ("POST", None, "/requests/model/{model}/decision",
     DECIDE, expect(404, dev_a=403, lead_a=403, infra=200, **SP_403)),
    ("GET", "/api/v1/costs/me", "/costs/me", None, COSTS_ME),
    ("GET", "/api/v1/costs/me/daily", "/costs/me/daily", None, COSTS_ME),
    ("GET", "/api/v1/costs/departments/{slug}", "/costs/departments/alpha", None, LEAD_OR_INFRA),
    ("GET", "/api/v1/costs/departments/{slug}/daily", "/costs/departments/alpha/daily", None,
     LEAD_OR_INFRA),
    ("GET", "/api/v1/costs/departments/{slug}/monthly", "/costs/departments/alpha/monthly",
     None, LEAD_OR_INFRA),
    ("GET", "/api/v1/costs/org", "/costs/org", None, ONLY_INFRA),
    ("GET", "/api/v1/costs/org/monthly", "/costs/org/monthly", None, ONLY_INFRA),
    ("GET", "/api/v1/costs/chargeback", "/costs/chargeback", None, ONLY_INFRA),
    ("GET", "/api/v1/costs/focus", "/costs/focus", None, ONLY_INFRA),
    ("GET", "/api/v1/costs/departments/{slug}/focus", "/costs/departments/alpha/focus", None,
     expect(404, lead_a=200, infra=200, **SP_403)),
    ("GET", "/api/v1/departments", "/departments", None, expect(200)),
    ("GET", "/api/v1/departments/{slug}", "/departments/alpha", None,
     expect(200, **OTHER_DEPT_404)),
    ("PATCH", "/api/v1/departments/{slug}/policy", "/departments/alpha/policy", {"max_rpm": 30},
     ONLY_INFRA),
    ("GET", "/api/v1/audit", "/audit", None, ONLY_INFRA),
    # Infra or a service identity with the "policies" right (none of these three has it); an
    # invalid file gets as far as validation: 422.
    ("POST", "/api/v1/policies/plan", "/policies/plan", {"files": {"alpha": "x: [1"}},
     expect(403, infra=422)),
    ("POST", "/api/v1/policies/apply", "/policies/apply",
     {"files": {"alpha": "x: [1"}, "commit": "0" * 40}, expect(403, infra=422)),
    # Pipeline identities: people only; the owner, alpha's lead and infra see and disable
    # dev_a's; a request names one of the caller's departments (infra and beta have not alpha).
    ("GET", "/api/v1/pipelines", "/pipelines", None, expect(200, **SP_403)),
    ("GET", "/api/v1/pipelines/{identity_id}", "/pipelines/{pipeline}", None,
     expect(404, **VIEWERS_ONLY, **SP_403)),
    ("POST", "/api/v1/pipelines", "/pipelines", PIPELINE_BODY,
     expect(422, dev_a=201, lead_a=201, **SP_403)),
    ("POST", "/api/v1/pipelines/{identity_id}/disable", "/pipelines/{pipeline}/disable", None,
     expect(404, **VIEWERS_ONLY, **SP_403)),
    ("POST", None, "/requests/pipeline/{pipeline_pending}/decision",
     DECIDE, expect(404, dev_a=403, lead_a=200, infra=200, **SP_403)),
    # The CI's OIDC token is the credential, not an Entra token: everyone, anonymous included,
    # gets the same answer (a JSON body instead of the form: 422).
    ("POST", "/api/v1/token-exchange", "/token-exchange", {"grant_type": "x"},
     dict.fromkeys(ROLES, 422)),
]  # fmt: skip


def world(org) -> dict[str, int]:
    """dev_a's live key (a secret waiting), pending key and project; lead_a's budget request."""
    common = {
        "requester": org["dev_a"],
        "department": org["a"],
        "llm_models": ["gpt-4o-mini"],
        "max_budget": Decimal("10"),
        "rpm_limit": 10,
        "tpm_limit": 1000,
        "lifetime_days": 30,
        "justification": "work",
    }
    live = VirtualKey(name="live", status=Status.ACTIVE, **common)
    live.store_secret("sk-live-0000")
    live.save()
    pending = VirtualKey.objects.create(name="pending", **common)
    project = make_project(org, name="eval")
    budget = make_budget_request(org)
    ci = (org["dev_a"], org["a"])
    active = new_identity(*ci, "app-ci", "octo-org/app", status=Status.ACTIVE)
    waiting = new_identity(*ci, "app-ci-2", "octo-org/app")
    CatalogueModel.objects.create(name="gpt-4o", seen_at=timezone.now())
    model = ModelAccessRequest.objects.create(
        requester=org["dev_a"],
        department=org["a"],
        model_name="gemini-1.5-flash",
        expected_monthly_spend=Decimal("5"),
        lifetime_days=0,
        justification="cheap",
    )
    return {
        "live": live.pk,
        "pending": pending.pk,
        "project": project.pk,
        "budget": budget.pk,
        "pipeline": active.pk,
        "pipeline_pending": waiting.pk,
        "model": model.pk,
    }


def test_the_matrix_covers_every_documented_operation():
    documented = operations(openapi_document())
    covered = {(m, p) for m, p, *_ in MATRIX if p}
    assert covered == documented


@pytest.mark.parametrize(
    "method,documented,path,body,expected",
    MATRIX,
    ids=[f"{m} {p}" for m, _, p, _, _ in MATRIX],
)
def test_who_may_call_what(api, org, method, documented, path, body, expected):
    ids = world(org)
    concrete = path.format(**ids)
    doc = openapi_document()
    template = documented or "/api/v1/requests/{kind}/{request_id}/decision"
    seen = {}
    for role in ROLES:
        who = None if role == "anon" else org[role]
        with transaction.atomic():
            response = api.call(who, method, concrete, body)
            transaction.set_rollback(True)
        seen[role] = response.status_code
        assert response["Content-Type"].split(";")[0] in (
            "application/json",
            "application/problem+json",
            "text/csv",
        ), (role, response.content[:200])
        check_response(doc, method, template, response)
    assert seen == expected
