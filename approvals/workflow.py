"""Submit, decide, cancel, retry and reveal: the same for every kind of request."""

from __future__ import annotations

from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from portal import audit
from tenants.models import User

from . import engine, mail
from .decisions import expire_pending, finish_approval, finish_rejection, record_stand_in
from .lifecycle import REVEALED, Request, Status, action_for

__all__ = [
    "approve", "cancel", "expire_pending", "finish_approval", "finish_rejection",
    "record_stand_in", "reject", "retry_failed", "reveal", "submit",
]  # fmt: skip


def submit(obj: Request, *, request=None) -> Request:
    """Save a validated request; auto-approve when the policy allows; else tell the deciders.

    With the department's "manager" approver rule, the requester's Entra manager (looked up
    in Graph before the transaction) becomes the approver; without one, the leads decide.
    """
    manager = None
    if not obj.auto_approvable():
        from tenants import directory

        manager = directory.lookup_manager(obj.requester, obj.department)
    return _submit(obj, manager, request=request)


@transaction.atomic
def _submit(obj: Request, manager, *, request=None) -> Request:
    obj.status = Status.SUBMITTED
    if manager is not None:
        from tenants import directory

        approver = directory.ensure_user(manager, actor=obj.requester)
        if approver.pk != obj.requester_id and approver.is_active:
            obj.approver = approver
    obj.save()
    audit.record(
        action_for(obj, Status.SUBMITTED),
        obj,
        actor=obj.requester,
        request=request,
        after=audit.snapshot(obj),
    )
    if obj.auto_approvable():  # the policy's first rule; never past a conditional stage
        approve(obj, actor=obj.requester, auto=True, request=request)
    elif not engine.start(obj):  # the department's approval stages, if its policy has any
        mail.request_submitted(obj)
    return obj


@transaction.atomic
def approve(
    obj: Request,
    *,
    actor: User,
    comment: str = "",
    auto: bool = False,
    request=None,
    via: str = "web",
    shown: engine.Shown | None = None,
    **lowered,
) -> str:
    """Approve under the row lock; of two deciders at once, the second is told it is decided.
    With approval stages this is one vote in the current stage; the request is approved when
    the last stage is. Returns what happened (see ``approvals.engine.decide``)."""
    if not auto and engine.is_staged(obj):
        return engine.decide(
            obj, actor=actor, approve=True, comment=comment, request=request, via=via,
            lowered=lowered, shown=shown,
        )  # fmt: skip
    finish_approval(obj, actor=actor, comment=comment, auto=auto, request=request, **lowered)
    return "approved"


@transaction.atomic
def reject(
    obj: Request,
    *,
    actor: User,
    comment: str,
    request=None,
    via: str = "web",
    shown: engine.Shown | None = None,
) -> str:
    """Reject; with stages, a rejection in any stage rejects the request (only the stage
    ``shown``, when given)."""
    if engine.is_staged(obj):
        return engine.decide(
            obj, actor=actor, approve=False, comment=comment, request=request, via=via,
            shown=shown,
        )  # fmt: skip
    finish_rejection(obj, actor=actor, comment=comment, request=request)
    return "rejected"


@transaction.atomic
def cancel(obj: Request, *, actor: User, request=None) -> None:
    obj.cancel(actor, request=request)


@transaction.atomic
def retry_failed(obj: Request, *, actor: User, request=None) -> None:
    """Infra's retry button: back to approved; the worker continues from the last done step."""
    obj.transition(
        Status.APPROVED, allowed_from=[Status.FAILED], actor=actor, request=request, attempts=0
    )
    obj.enqueue_provisioning()


@sensitive_variables("secret")
@transaction.atomic
def reveal(model: type[Request], pk: int, *, user: User, request=None) -> str | None:
    """The secret, once, to its owner only; wiped in the same transaction that returns it.
    None when there is nothing to reveal (already shown, not ready, not this user's, or the
    owner is no longer a member of the department)."""
    obj = model.objects.select_for_update(of=("self",)).get(pk=pk)
    if obj.requester_id != user.pk or not obj.secret_waiting or obj.requester_left():
        return None
    secret = obj.take_secret()
    obj.save(update_fields=["secret_encrypted", "secret_revealed_at", "updated_at"])
    audit.record(action_for(obj, REVEALED), obj, actor=user, request=request)
    return secret
