"""Submit, decide and retry: the same for virtual keys and tuning projects."""

from __future__ import annotations

from django.db import transaction

from portal import audit
from tenants.models import User

from . import notify
from .lifecycle import Request, Status


@transaction.atomic
def submit(obj: Request, *, request=None) -> Request:
    """Save a validated request; auto-approve when the policy allows; else tell the leads."""
    obj.status = Status.SUBMITTED
    obj.save()
    audit.record(
        f"{obj._meta.model_name}.submitted",
        obj,
        actor=obj.requester,
        request=request,
        after=audit.snapshot(obj),
    )
    if obj.auto_approvable():
        approve(obj, actor=obj.requester, auto=True, request=request)
    else:
        notify.request_submitted(obj)
    return obj


@transaction.atomic
def approve(
    obj: Request, *, actor: User, comment: str = "", auto: bool = False, request=None, **lowered
) -> None:
    obj.approve(actor, comment=comment, auto=auto, request=request, **lowered)
    notify.request_decided(obj)
    obj.enqueue_provisioning()


@transaction.atomic
def reject(obj: Request, *, actor: User, comment: str, request=None) -> None:
    obj.reject(actor, comment=comment, request=request)
    notify.request_decided(obj)


@transaction.atomic
def retry_failed(obj: Request, *, actor: User, request=None) -> None:
    """Infra's retry button: back to approved; the worker continues from the last done step."""
    obj._transition(
        Status.APPROVED, allowed_from=[Status.FAILED], actor=actor, request=request, attempts=0
    )
    obj.enqueue_provisioning()
