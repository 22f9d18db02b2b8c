"""The demo's model access request: a developer of a department asks for a model it lacks."""

from __future__ import annotations

from decimal import Decimal

from approvals.lifecycle import OPEN_STATUSES
from tenants.models import Department, User

from . import actions
from .models import ModelAccessRequest


def seed_request(department: Department, requester: User, model: str) -> ModelAccessRequest:
    """Waiting for infra; safe to run twice (an open request about the model is kept)."""
    open_ = ModelAccessRequest.objects.filter(
        department=department, model_name=model, status__in=OPEN_STATUSES
    ).first()
    if open_ is not None or model in (department.allowed_models or []):
        return open_
    obj = ModelAccessRequest(
        requester=requester,
        department=department,
        model_name=model,
        expected_monthly_spend=Decimal("35"),
        justification="Proposals for large customers need longer, more careful drafts.",
    )
    return actions.request_change(obj)
