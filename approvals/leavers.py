"""Leavers, for every kind of request: a person who left has their open requests cancelled.

``ApprovalsConfig`` connects :func:`on_member_left` to ``tenants.signals.member_left``; the
directory sync sends it inside its transaction. Each kind's app connects its own receiver
for what is live (keys are suspended, tuning projects end)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from . import registry
from .lifecycle import OPEN_STATUSES


def cancel_open(user, *, reason: str, actor=None) -> list:
    """Cancel the person's open requests of every registered kind; whatever already reached
    LiteLLM or Langfuse is removed after the commit (the kind's ``cleanup`` task)."""
    cancelled = []
    for model in registry.request_models():
        for obj in model.objects.filter(requester=user, status__in=OPEN_STATUSES):
            try:
                obj.cancel_for_leaver(actor=actor, reason=f"requester left: {reason}")
            except ValidationError:
                continue  # moved on meanwhile (checked under the row lock)
            obj.enqueue_cleanup()
            cancelled.append(obj)
    return cancelled


def on_member_left(sender, *, user, reason: str, actor=None, **kwargs) -> dict:
    cancelled = cancel_open(user, reason=reason, actor=actor)
    return {"requests": [f"{obj._meta.model_name} {obj.pk}" for obj in cancelled]}
