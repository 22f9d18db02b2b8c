"""Who is told what about stages, after the transaction commits: e-mail to the people
concerned, and the chat channels (Slack buttons, a Teams card) where configured."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.mail import send_mail
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from portal import audit, audit_display
from portal.models import AuditEvent
from portal.templatetags.portal_ui import when
from tenants import languages

from .models import StageDecision

log = logging.getLogger(__name__)

# What an approval itself writes; any other field it changed, a decider lowered.
DECISION_FIELDS = {
    "status", "updated_at", "decided_by", "decided_at", "decision_comment", "auto_approved",
}  # fmt: skip


def lowered_changes(obj) -> list[audit_display.Change]:
    """What the approval of ``obj`` changed from what was asked (old → new), read from its
    audit event, so the page, the e-mail and the chat reply say the same."""
    event = (
        AuditEvent.objects.filter(
            action=f"{obj._meta.model_name}.approved",
            object_type__in=audit.labels_of(type(obj)),
            object_id=str(obj.pk),
        )
        .order_by("-created_at")
        .first()
    )
    if event is None:
        return []
    return [c for c in audit_display.changes(event) if c.field not in DECISION_FIELDS]


def lowered_reasons(obj) -> list[str]:
    """Why: the comments of the stage votes that lowered something (an earlier stage's
    reason outlives the last vote's), then the decision's own comment."""
    reasons = list(
        StageDecision.objects.filter(
            stage__content_type=ContentType.objects.get_for_model(obj),
            stage__object_id=obj.pk,
            decision=StageDecision.APPROVE,
        )
        .exclude(lowered={})
        .exclude(comment="")
        .order_by("created_at")
        .values_list("comment", flat=True)
    )
    if obj.decision_comment and obj.decision_comment not in reasons:
        reasons.append(obj.decision_comment)
    return reasons


def lowered_text(obj, changes: list | None = None) -> str:
    """ "budget (USD): 50.00 → 20.00 · start small": what approval lowered, and why."""
    changes = lowered_changes(obj) if changes is None else changes
    parts = [f"{c.label}: {c.old} → {c.new}" for c in changes]
    if parts:
        parts += lowered_reasons(obj)
    return " · ".join(parts)


def _link(obj) -> str:
    url = obj.decide_url() if hasattr(obj, "decide_url") else obj.get_absolute_url()
    return f"{settings.SITE_URL}{url}"


def mail_on_commit(recipients: list[str], compose: Callable[[], tuple[str, str]]) -> None:
    """Send ``compose()`` (subject, body) after the commit: one e-mail per language among the
    recipients, each composed in that language."""
    recipients = sorted({r for r in recipients if r})
    if not recipients:
        return

    def send() -> None:
        try:
            for language, group in languages.by_language(recipients).items():
                with translation.override(language):
                    subject, body = compose()
                send_mail(subject, body, None, group, fail_silently=False)
                log.info("approval mail sent", extra={"recipients": len(group), "lang": language})
        except Exception:  # a mail outage must not undo the decision it reports
            log.exception("approval mail failed")

    transaction.on_commit(send, robust=True)


def stage_started(obj, stage, approvers) -> None:
    from . import chat

    def compose() -> tuple[str, str]:
        subject = _("Approval needed: %(name)s") % {"name": obj}
        body = _(
            "%(requester)s asked for %(name)s in %(department)s. Stage: %(stage)s.\n"
            "Decide here: %(link)s"
        ) % {
            "requester": obj.requester,
            "name": obj,
            "department": obj.department,
            "stage": stage.name,
            "link": _link(obj),
        }
        return subject, body

    mail_on_commit([u.email for u in approvers], compose)
    chat.announce_on_commit(obj, stage)


def reminder(obj, stage, approvers) -> None:
    def compose() -> tuple[str, str]:
        subject = _("Reminder: %(name)s still waits for your approval") % {"name": obj}
        body = _("Stage %(stage)s has waited since %(since)s.\nDecide here: %(link)s") % {
            "stage": stage.name,
            "since": when(stage.started_at),
            "link": _link(obj),
        }
        return subject, body

    mail_on_commit([u.email for u in approvers], compose)


def escalated(obj, stage, fallback) -> None:
    def compose() -> tuple[str, str]:
        subject = _("Escalated to you: %(name)s") % {"name": obj}
        body = _(
            "Nobody decided stage %(stage)s in time, so it now waits for you too.\n"
            "Decide here: %(link)s"
        ) % {"stage": stage.name, "link": _link(obj)}
        return subject, body

    mail_on_commit([u.email for u in fallback], compose)


def expired(obj, stage) -> None:
    def compose() -> tuple[str, str]:
        subject = _("Your request %(name)s expired") % {"name": obj}
        body = _(
            "Nobody decided stage %(stage)s in time, so your request has expired. "
            "You can submit it again.\n%(link)s"
        ) % {"stage": stage.name, "link": f"{settings.SITE_URL}{obj.get_absolute_url()}"}
        return subject, body

    mail_on_commit([obj.requester.email], compose)


def review_reminder(campaign, reviewers: list[str]) -> None:
    def compose() -> tuple[str, str]:
        subject = _("Access review %(name)s: items wait for you") % {"name": campaign}
        body = _("Keep or revoke each item before %(deadline)s:\n%(link)s") % {
            "deadline": campaign.deadline,
            "link": f"{settings.SITE_URL}{campaign.get_absolute_url()}",
        }
        return subject, body

    mail_on_commit(reviewers, compose)
