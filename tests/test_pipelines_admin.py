"""Infra registers a pipeline identity in the admin: it is submitted like any request, never
active before the department's lead approves it."""

import pytest

from pipelines.models import PipelineIdentity
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_infra_registers_an_identity_that_waits_for_the_lead(org, client):
    client.force_login(org["infra"])
    response = client.post("/admin/pipelines/pipelineidentity/add/", {
        "name": "payments-ci", "department": org["a"].pk,
        "issuer": "https://token.actions.githubusercontent.com",
        "audience": "https://portal.example.com",
        "claim_rules": '{"repository": "octo-org/app", "ref": "refs/heads/main"}',
        "llm_models": '["gpt-4o-mini"]', "run_budget": "1", "run_lifetime_seconds": "3600",
        "daily_budget": "10", "max_live_keys": "3", "lifetime_days": "365",
        "justification": "Nightly evaluation.", "decision_comment": "", "last_error": "",
        "attempts": "0",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    identity = PipelineIdentity.objects.get()
    assert identity.status == "submitted" and identity.requester == org["infra"]
    assert AuditEvent.objects.filter(action="pipelineidentity.submitted").exists()
    assert identity.can_decide(org["lead_a"]) and not identity.can_decide(org["infra"])
