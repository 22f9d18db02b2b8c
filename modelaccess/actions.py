"""Model access requests: ask, and apply once approved (the department's allowed models, then
its LiteLLM team's ``models``). Applying is idempotent: a retry finds its work done."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from approvals import department_changes, workflow
from keys.services import ensure_team, team_id_for
from portal import audit
from portal.integrations.litellm import LiteLLMClient
from tenants.models import Department

from .models import ModelAccessRequest

log = logging.getLogger(__name__)

MODELS_CHANGED = audit.action("department.models_changed")


def request_change(obj: ModelAccessRequest, *, request=None) -> ModelAccessRequest:
    """Submit a validated request (from the form or the API). Two requests about the same
    model for one department at once: the second is refused."""
    obj.lifetime_days = 0  # a change of the allowed models does not expire
    obj.allowed_when_asked = sorted(obj.department.allowed_models or [])
    try:
        return workflow.submit(obj, request=request)
    except IntegrityError as exc:
        raise ValidationError(
            _("A request about this model for %(dept)s is open.") % {"dept": obj.department}
        ) from exc


def push_models(department_id: int) -> str:
    """Make the LiteLLM team's ``models`` the department's allowed models, under the
    department's row lock: of two pushes, the later one sends what the portal holds then."""
    with transaction.atomic():
        department = Department.objects.select_for_update().get(pk=department_id)
        models = sorted(department.allowed_models or [])
        if not models:  # LiteLLM reads an empty list as "every model": never send one
            return "skipped: no models"
        client = LiteLLMClient.from_settings(changed_by="portal:model-access")
        created = ensure_team(client, department)
        client.update_team(team_id_for(department), models=models)
        return f"team {created}, models {','.join(models)}"


def change_models(obj: ModelAccessRequest, department: Department) -> dict[str, str] | None:
    """The department's allowed models with the approved change (audited if they change);
    None when it would leave none (the request fails)."""
    before = sorted(department.allowed_models or [])
    after = obj.allowed_after(before)
    if not after:
        obj.mark_failed("A department keeps at least one model.")
        return None
    if after != before:
        department.allowed_models = after
        department.save(update_fields=["allowed_models", "updated_at"])
        audit.record(
            MODELS_CHANGED,
            department,
            actor=obj.decided_by,
            before={"allowed_models": before},
            after={"allowed_models": after, "request": obj.pk},
        )
    return {"policy": "changed" if after != before else "unchanged"}


def apply(request_id: int) -> None:
    """The approved change: the department's allowed models (audited), then LiteLLM's team."""
    obj = department_changes.apply(
        ModelAccessRequest, request_id, change_models, lambda d: push_models(d.pk)
    )
    if obj is None:
        return
    log.info("model access applied", extra={"request": request_id, "model": obj.model_name})
