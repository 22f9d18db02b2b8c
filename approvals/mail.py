"""A request's notifications, for every kind: e-mail (console in the demo) and an optional
Teams/Slack webhook. Templates are named by path without the suffix (``approvals/email/ready``).

Never include a key's secret. Sent after the transaction commits.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation

from portal import webhook as infra_webhook

from . import notify as approval_notify

log = logging.getLogger(__name__)


def _send(recipients: list[str], template: str, context: dict) -> None:
    recipients = [r for r in recipients if r]
    if not recipients:
        return
    context = {"site_url": settings.SITE_URL, **context}
    with translation.override(settings.LANGUAGE_CODE):
        subject = render_to_string(f"{template}_subject.txt", context).strip()
        body = render_to_string(f"{template}.txt", context)
    send_mail(subject, body, None, recipients, fail_silently=False)
    log.info("mail sent", extra={"template": template, "recipients": len(recipients)})


def on_commit(template: str, recipients: list[str], context: dict, webhook: str = "") -> None:
    def send():
        try:
            _send(recipients, template, context)
        except Exception:  # a mail outage must not undo or block the change it reports
            log.exception("mail failed", extra={"template": template})
        if webhook:
            infra_webhook.post(webhook, about=template)

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
        "approvals/email/submitted",
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
    on_commit("approvals/email/decided", [obj.requester.email], context)


def key_ready(obj) -> None:
    on_commit("approvals/email/ready", [obj.requester.email], {"obj": obj})


def provisioning_failed(obj) -> None:
    on_commit(
        "approvals/email/failed",
        [obj.requester.email],
        {"obj": obj},
        webhook=f"Provisioning of '{obj}' failed: {obj.last_error}",
    )


def expiring_soon(obj) -> None:
    on_commit("approvals/email/expiring", [obj.requester.email], {"obj": obj})


def ended(obj) -> None:
    on_commit("approvals/email/ended", [obj.requester.email], {"obj": obj})
