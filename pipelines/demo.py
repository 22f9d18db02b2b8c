"""The demo's pipeline identity (``seed_demo``): ``demo-org/demo-repo`` on ``main``, trusting
the demo's CI issuer (scripts/demo_ci_issuer.py), requested, approved by the department's lead
through the approval workflow and provisioned in LiteLLM, like any identity."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from approvals import workflow

from . import services
from .models import PipelineIdentity
from .requests import Status

NAME = "demo-ci"
REPOSITORY = "demo-org/demo-repo"
ENDED = (Status.REJECTED, Status.CANCELLED, Status.EXPIRED, Status.REVOKED, Status.FAILED)


def seed_identity(department, requester, lead, *, issuer: str, audience: str) -> PipelineIdentity:
    """The demo identity, made once and kept (the issuer's port may move between runs: the
    issuer and audience are refreshed); provisioned when LiteLLM is configured."""
    identity = (
        PipelineIdentity.objects.filter(department=department, name=NAME).order_by("-pk").first()
    )
    if identity is None or identity.status in ENDED:
        identity = PipelineIdentity(
            requester=requester,
            department=department,
            name=NAME,
            issuer=issuer,
            audience=audience,
            claim_rules={"repository": REPOSITORY, "ref": "refs/heads/main"},
            llm_models=["gpt-4o-mini"],
            run_budget=Decimal("0.50"),
            run_lifetime_seconds=3600,
            daily_budget=Decimal("5"),
            max_live_keys=5,
            lifetime_days=365,
            justification="The demo repository's evaluation workflow.",
        )
        workflow.submit(identity)
    elif (identity.issuer, identity.audience) != (issuer, audience):
        PipelineIdentity.objects.filter(pk=identity.pk).update(issuer=issuer, audience=audience)
    identity.refresh_from_db()
    if identity.status == Status.SUBMITTED:
        workflow.approve(identity, actor=lead, comment="Demo pipeline.")
    if settings.LITELLM_BASE_URL:
        services.provision(identity.pk)
    identity.refresh_from_db()
    return identity
