"""A request's life in order: requested, decided, provisioned, revealed, rotated, ended or
expiring. Read from the request's own fields and its rotation audit events."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from approvals.notify import lowered_text
from portal.models import AuditEvent

from .lifecycle import Status


@dataclass(frozen=True)
class Step:
    label: str
    when: object
    who: str = ""
    future: bool = False
    note: str = ""  # what the decider changed, and why


def steps(obj) -> list[Step]:
    out = [Step(_("Requested"), obj.created_at, str(obj.requester))]
    if obj.decided_at:
        if obj.auto_approved:
            out.append(Step(_("Approved automatically by policy"), obj.decided_at))
        elif obj.status == Status.REJECTED:
            out.append(Step(_("Rejected"), obj.decided_at, str(obj.decided_by or "")))
        else:
            who = str(obj.decided_by or "")
            out.append(Step(_("Approved"), obj.decided_at, who, note=lowered_text(obj)))
    if obj.activated_at:
        out.append(Step(_("Provisioned"), obj.activated_at))
    if getattr(obj, "secret_revealed_at", None):
        out.append(Step(_("Secret revealed"), obj.secret_revealed_at, str(obj.requester)))
    rotations = AuditEvent.objects.filter(
        action=f"{obj._meta.model_name}.rotated", object_id=str(obj.pk)
    ).select_related("actor")
    # The person by name, as in every other step (the label, an e-mail, if they are gone).
    out += [Step(_("Rotated"), e.created_at, str(e.actor or e.actor_label)) for e in rotations]
    if obj.ended_at:
        out.append(Step(obj.get_status_display(), obj.ended_at))
    elif obj.expires_at:
        future = obj.expires_at > timezone.now()
        out.append(Step(_("Expires") if future else _("Expired"), obj.expires_at, "", future))
    return sorted(out, key=lambda s: s.when)
