"""Notifications: e-mail (console in the demo) and an optional Teams/Slack webhook.

Never include a key's secret. Sent after the transaction commits.
"""

from __future__ import annotations

import logging

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation

from approvals import notify as approval_notify

log = logging.getLogger(__name__)


def _send(recipients: list[str], template: str, context: dict) -> None:
    recipients = [r for r in recipients if r]
    if not recipients:
        return
    context = {"site_url": settings.SITE_URL, **context}
    with translation.override(settings.LANGUAGE_CODE):
        subject = render_to_string(f"keys/email/{template}_subject.txt", context).strip()
        body = render_to_string(f"keys/email/{template}.txt", context)
    send_mail(subject, body, None, recipients, fail_silently=False)
    log.info("mail sent", extra={"template": template, "recipients": len(recipients)})


def _webhook(text: str) -> None:
    if not settings.NOTIFY_WEBHOOK_URL:
        return
    try:  # Teams and Slack incoming webhooks both accept {"text": ...}
        httpx.post(settings.NOTIFY_WEBHOOK_URL, json={"text": text}, timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("webhook failed", extra={"error": str(exc)})


def on_commit(template: str, recipients: list[str], context: dict, webhook: str = "") -> None:
    def send():
        try:
            _send(recipients, template, context)
        except Exception:  # a mail outage must not undo or block the change it reports
            log.exception("mail failed", extra={"template": template})
        if webhook:
            _webhook(webhook)

    transaction.on_commit(send)


def request_submitted(obj) -> None:
    """Tell whoever decides: a kind with its own deciders (budget requests: infra) names
    them; else the requester's manager when the department's rule names one, else the leads."""
    if hasattr(obj, "deciders"):
        deciders = [u.email for u in obj.deciders()]
    elif obj.approver_id and obj.approver_id != obj.requester_id:
        deciders = [obj.approver.email]  # the requester's manager (department rule)
    else:
        deciders = [u.email for u in obj.department.leads().exclude(pk=obj.requester_id)]
    on_commit(
        "submitted",
        deciders,
        {"obj": obj},
        webhook=f"New request '{obj}' from {obj.requester} in {obj.department} waits for approval.",
    )


def request_decided(obj) -> None:
    """Tell the requester; an approval that lowered values says old → new, and why."""
    with translation.override(settings.LANGUAGE_CODE):
        changes = approval_notify.lowered_changes(obj) if obj.decided_at else []
    reasons = approval_notify.lowered_reasons(obj) if changes else []
    context = {"obj": obj, "changes": changes, "reasons": reasons}
    on_commit("decided", [obj.requester.email], context)


def key_ready(obj) -> None:
    on_commit("ready", [obj.requester.email], {"obj": obj})


def provisioning_failed(obj) -> None:
    on_commit(
        "failed",
        [obj.requester.email],
        {"obj": obj},
        webhook=f"Provisioning of '{obj}' failed: {obj.last_error}",
    )


def expiring_soon(obj) -> None:
    on_commit("expiring", [obj.requester.email], {"obj": obj})


def ended(obj) -> None:
    on_commit("ended", [obj.requester.email], {"obj": obj})


def manual_fulfilment_needed(obj) -> None:
    from tenants.models import User

    infra = list(User.objects.filter(is_infra=True, is_active=True).values_list("email", flat=True))
    on_commit(
        "manual", infra, {"obj": obj}, webhook=f"Tuning project '{obj}' needs manual fulfilment."
    )


def owner_left(user, keys, projects, departments, *, reason: str) -> None:
    """Tell the leads of the affected departments and infra that a leaver's keys are suspended
    and their tuning projects ended."""
    from tenants.models import User

    leads = User.objects.filter(
        memberships__department__in=departments, memberships__role="lead", is_active=True
    )
    infra = User.objects.filter(is_infra=True, is_active=True)
    recipients = sorted({u.email for u in [*leads, *infra] if u.pk != user.pk})
    on_commit(
        "owner_left",
        recipients,
        {
            "person": user,
            "keys": keys,
            "projects": projects,
            "reason": reason,
            "grace_days": getattr(settings, "LEAVER_GRACE_DAYS", 30),
        },
        webhook=f"{user} left ({reason}): {len(keys)} key(s) suspended, "
        f"{len(projects)} tuning project(s) ended.",
    )
