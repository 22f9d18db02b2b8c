"""A request's notifications, for every kind: e-mail (console in the demo) and an optional
Teams/Slack webhook. Templates are named by path without the suffix (``approvals/email/ready``).

Never include a key's secret. Sent after the transaction commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from portal import webhook as infra_webhook
from tenants import languages

from . import notify as approval_notify

log = logging.getLogger(__name__)


def _send(recipients: list[str], template: str, context) -> None:
    """One e-mail per language among the recipients, each rendered in that language.
    ``context``: a dict, or a function returning one (called in each language, for values
    that are text themselves)."""
    for language, group in languages.by_language(recipients).items():
        with translation.override(language):
            values = context() if callable(context) else context
            values = {"site_url": settings.SITE_URL, **values}
            subject = render_to_string(f"{template}_subject.txt", values).strip()
            body = render_to_string(f"{template}.txt", values)
        send_mail(subject, body, None, group, fail_silently=False)
        log.info(
            "mail sent", extra={"template": template, "recipients": len(group), "lang": language}
        )


def webhook_text(department, text: Callable[[], str] | str) -> str:
    """``text()`` in the department's language (the portal's default when it has none)."""
    if isinstance(text, str):
        return text
    with translation.override(languages.of_department(department)):
        return text()


def on_commit(
    template: str, recipients: list[str], context, webhook: Callable[[], str] | str | None = None,
    department=None,
) -> None:  # fmt: skip
    """Send after the commit; ``webhook()`` is the chat text, written in ``department``'s
    language."""

    def send():
        try:
            _send(recipients, template, context)
        except Exception:  # a mail outage must not undo or block the change it reports
            log.exception("mail failed", extra={"template": template})
        if webhook is not None:
            infra_webhook.post(webhook_text(department, webhook), about=template)

    transaction.on_commit(send, robust=True)


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
        webhook=lambda: (
            _("New request '%(name)s' from %(who)s in %(dept)s waits for approval.")
            % {"name": obj, "who": obj.requester, "dept": obj.department}
        ),
        department=obj.department,
    )


def request_decided(obj) -> None:
    """Tell the requester; an approval that lowered values says old → new, and why."""
    decided = bool(obj.decided_at)

    def context() -> dict:  # the changed fields' labels in each reader's language
        changes = approval_notify.lowered_changes(obj) if decided else []
        reasons = approval_notify.lowered_reasons(obj) if changes else []
        return {"obj": obj, "changes": changes, "reasons": reasons}

    on_commit("approvals/email/decided", [obj.requester.email], context)


def key_ready(obj) -> None:
    on_commit("approvals/email/ready", [obj.requester.email], {"obj": obj})


def provisioning_failed(obj) -> None:
    on_commit(
        "approvals/email/failed",
        [obj.requester.email],
        {"obj": obj},
        webhook=lambda: (
            _("Provisioning of '%(name)s' failed: %(error)s")
            % {"name": obj, "error": obj.last_error}
        ),
        department=obj.department,
    )


def expiring_soon(obj) -> None:
    on_commit("approvals/email/expiring", [obj.requester.email], {"obj": obj})


def ended(obj) -> None:
    on_commit("approvals/email/ended", [obj.requester.email], {"obj": obj})
