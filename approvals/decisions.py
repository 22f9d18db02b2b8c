"""The end of a decision, the same for every kind of request: the request's own transition,
the stand-in's audit row, the requester's e-mail, and provisioning after the commit.

The engine calls these when a request without stages is decided, or its last stage is."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType

from portal import audit

from . import delegation, mail
from .models import RequestStage


def finish_approval(obj, *, actor, comment: str = "", auto: bool = False, request=None, **lowered):
    """The request's own approval (after its last stage): status, audit, provisioning."""
    obj.approve(actor, comment=comment, auto=auto, request=request, **lowered)
    if not auto:
        record_stand_in(obj, actor, request)
    mail.request_decided(obj)
    obj.enqueue_provisioning()


def finish_rejection(obj, *, actor, comment: str, request=None) -> None:
    obj.reject(actor, comment=comment, request=request)
    record_stand_in(obj, actor, request)
    mail.request_decided(obj)


def record_stand_in(obj, actor, request=None) -> None:
    """A request without stages decided by a delegate: say for whom, in the audit log (staged
    requests record it on the vote)."""
    if obj.decides_alone(actor) or has_stages(obj):
        return
    for_whom = [
        person.email
        for person in delegation.delegators_of(actor)
        if person.pk != obj.requester_id and obj.decides_alone(person)
    ]
    audit.record(
        delegation.USED, obj, actor=actor, request=request, after={"on_behalf_of": for_whom}
    )


def has_stages(obj) -> bool:
    ct = ContentType.objects.get_for_model(type(obj))
    return RequestStage.objects.filter(content_type=ct, object_id=obj.pk).exists()


def expire_pending(obj, *, reason: str) -> None:
    """The approval SLA ran out: the request ends (the engine tells the requester)."""
    obj.expire_pending(reason=reason)
