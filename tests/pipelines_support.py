"""Fixtures for pipeline identities: CI issuer doubles, an approved and provisioned identity,
and calls to the token exchange."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from django.test import Client

from approvals import workflow
from pipelines import services
from pipelines.models import PipelineIdentity

from .doubles.ci_oidc import AzureDevOpsIssuer, GitHubActionsIssuer

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
AUDIENCE = "https://genai-portal.example.com"


@pytest.fixture
def pipeline_settings(settings):
    settings.PIPELINES_ALLOW_HTTP_ISSUERS = True  # the doubles serve plain HTTP on 127.0.0.1
    settings.PIPELINES_RATE_LIMIT = "10000/m"
    return settings


@pytest.fixture
def github(pipeline_settings):
    with GitHubActionsIssuer() as issuer:
        yield issuer


@pytest.fixture
def ado(pipeline_settings):
    with AzureDevOpsIssuer() as issuer:
        yield issuer


def new_identity(requester, department, name: str, repository: str, **fields) -> PipelineIdentity:
    """A pipeline identity row as it stands (pending unless ``fields`` say otherwise), for
    GitHub Actions runs of ``repository``: no workflow, nothing in LiteLLM."""
    defaults = {
        "issuer": "https://token.actions.githubusercontent.com",
        "audience": "https://portal.example.com",
        "lifetime_days": 30,
        "justification": "ci",
    }
    return PipelineIdentity.objects.create(
        requester=requester,
        department=department,
        name=name,
        claim_rules={"repository": repository},
        **{**defaults, **fields},
    )


def make_identity(org, issuer: str, *, active: bool = True, **fields) -> PipelineIdentity:
    """Requested by ``dev_a`` for department ``a``, approved by ``lead_a`` and provisioned in
    LiteLLM (the provisioning function run here, as a worker would)."""
    defaults = {
        "name": "payments-ci",
        "audience": AUDIENCE,
        "claim_rules": {"repository": "octo-org/octo-repo", "ref": "refs/heads/main"},
        "llm_models": ["gpt-4o-mini"],
        "run_budget": Decimal("1"),
        "run_lifetime_seconds": 600,
        "daily_budget": Decimal("5"),
        "max_live_keys": 5,
        "lifetime_days": 365,
        "justification": "CI evaluates the assistant on every push.",
    }
    identity = PipelineIdentity(
        requester=org["dev_a"], department=org["a"], issuer=issuer, **{**defaults, **fields}
    )
    workflow.submit(identity)
    if active:
        workflow.approve(identity, actor=org["lead_a"])
        services.provision(identity.pk)
        identity.refresh_from_db()
    return identity


def exchange(token: str, client: Client | None = None, **extra):
    body = {"grant_type": GRANT, "subject_token": token, "subject_token_type": JWT_TYPE}
    return (client or Client()).post("/api/v1/token-exchange", body, **extra)


def litellm_keys(proxy, identity: PipelineIdentity) -> list[dict]:
    response = httpx.get(
        f"{proxy.base_url}/key/list",
        params={"user_id": identity.litellm_user_id, "return_full_object": "true"},
        headers={"Authorization": f"Bearer {proxy.master_key}"},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["keys"]
