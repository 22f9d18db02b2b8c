"""Access reviews (recertification): a campaign over live grants (active keys and tuning
projects) of some departments; each department's leads keep or revoke each one with a reason;
reminders; at the deadline what nobody reviewed is suspended or revoked, as the campaign says.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal import audit
from tenants.models import Department, User

from . import notify, registry
from .review_models import ReviewCampaign, ReviewItem

log = logging.getLogger(__name__)

STARTED = audit.action("reviewcampaign.started")
CLOSED = audit.action("reviewcampaign.closed")
ITEM_DECIDED = audit.action("reviewitem.decided")
ITEM_APPLIED = audit.action("reviewitem.applied")

D, OUT = ReviewItem.Decision, ReviewItem.Outcome

# What a reviewer needs beside each item (its expiry, last use, spend): each function takes the
# page's items and sets attributes on them in a bounded number of queries. The kinds' apps and
# ``costs`` register theirs from their ``AppConfig.ready()``.
ITEM_FACTS: list = []


def register_facts(add) -> None:
    if add not in ITEM_FACTS:
        ITEM_FACTS.append(add)


def with_facts(items: list[ReviewItem]) -> list[ReviewItem]:
    for add in ITEM_FACTS:
        add(items)
    return items


def grant_facts(items: list[ReviewItem]) -> None:
    """Every grant's expiry, read in one query per kind."""
    by_type: dict[int, list[ReviewItem]] = {}
    for item in items:
        item.last_used = item.spend_30d = None  # known only where a kind's app says
        by_type.setdefault(item.content_type_id, []).append(item)
    for type_id, group in by_type.items():
        model = ContentType.objects.get_for_id(type_id).model_class()
        grants = model._default_manager.in_bulk([i.object_id for i in group])
        for item in group:
            grant = grants.get(item.object_id)
            item.expires_at = getattr(grant, "expires_at", None)


register_facts(grant_facts)


@transaction.atomic
def start(
    *,
    name: str,
    departments,
    deadline: datetime.datetime,
    at_deadline: str = ReviewCampaign.AtDeadline.SUSPEND,
    actor: User | None,
    request=None,
) -> ReviewCampaign:
    if actor is not None and not actor.is_infra:
        raise PermissionDenied
    departments = list(departments)
    campaign = ReviewCampaign.objects.create(
        name=name, deadline=deadline, at_deadline=at_deadline, started_by=actor
    )
    campaign.departments.set(departments)
    for reviewable in registry.REVIEWABLES.values():
        ct = ContentType.objects.get_for_model(reviewable.model)
        live = reviewable.live(departments).select_related("department", "requester")
        ReviewItem.objects.bulk_create(
            [
                ReviewItem(
                    campaign=campaign,
                    content_type=ct,
                    object_id=obj.pk,
                    label=str(obj)[:200],  # the kind is shown beside it, translated
                    department=obj.department,
                    owner=obj.requester,
                )
                for obj in live
            ]
        )
    audit.record(
        STARTED,
        campaign,
        actor=actor,
        request=request,
        after={"departments": [d.slug for d in departments], "items": campaign.items.count()},
    )
    return campaign


def can_review(item: ReviewItem, user: User) -> bool:
    """A lead of the item's department (or infra); never one's own grant."""
    if user.pk == item.owner_id:
        return False
    return user.is_infra or user.is_lead_of(item.department)


def items_for(user: User) -> models.QuerySet[ReviewItem]:
    qs = ReviewItem.objects.filter(campaign__state=ReviewCampaign.State.OPEN).exclude(owner=user)
    if not user.is_infra:
        qs = qs.filter(department__in=user.departments_led())
    return qs.select_related("campaign", "department", "owner")


def decide(item: ReviewItem, *, actor: User, keep: bool, reason: str, request=None) -> None:
    if not reason.strip():
        raise ValidationError(_("Give a reason."))
    with transaction.atomic():
        item = ReviewItem.objects.select_for_update().select_related("campaign").get(pk=item.pk)
        if item.campaign.state != ReviewCampaign.State.OPEN:
            raise ValidationError(_("This review is closed."))
        if not can_review(item, actor):
            raise PermissionDenied
        before = audit.snapshot(item)
        item.decision = D.KEEP if keep else D.REVOKE
        item.reason = reason
        item.decided_by = actor
        item.decided_at = timezone.now()
        item.outcome = OUT.KEPT if keep else OUT.NONE
        item.save(update_fields=["decision", "reason", "decided_by", "decided_at", "outcome"])
        audit.record(
            ITEM_DECIDED, item, actor=actor, request=request, before=before,
            after=audit.snapshot(item), department_id=item.department_id,
        )  # fmt: skip
    if not keep:
        apply(item, revoke=True, actor=actor)


def keep_remaining(campaign: ReviewCampaign, *, actor: User, reason: str, request=None) -> int:
    """Keep every item of ``campaign`` the actor may still review, each decided on its own
    (its lock, its checks, its audit row). Returns how many were kept."""
    pending = items_for(actor).filter(campaign=campaign, decision=D.PENDING)
    kept = 0
    for item in pending.order_by("pk"):
        try:
            decide(item, actor=actor, keep=True, reason=reason, request=request)
        except ValidationError:
            continue  # decided meanwhile, or the campaign closed: left as it is
        kept += 1
    return kept


def apply(item: ReviewItem, *, revoke: bool, actor: User | None) -> str:
    """Take the grant back (revoke, or suspend); record the outcome. A failure (LiteLLM down)
    is recorded and retried by the sweep."""
    reviewable = registry.REVIEWABLES[item.content_type.app_label + "." + item.content_type.model]
    obj = reviewable.model._default_manager.filter(pk=item.object_id).first()
    outcome = OUT.REVOKED if revoke else OUT.SUSPENDED
    error = ""
    if obj is None or getattr(obj, "status", "active") != "active":
        outcome = OUT.GONE
    else:
        try:
            (reviewable.revoke if revoke else reviewable.suspend)(obj, actor=actor)
        except ValidationError:
            outcome = OUT.GONE  # ended meanwhile (checked under its lock)
        except Exception as exc:  # LiteLLM or Langfuse failed: recorded, retried
            log.warning("review outcome failed", extra={"item": item.pk, "error": str(exc)})
            outcome, error = OUT.FAILED, str(exc)[:2000]
    with transaction.atomic():
        ReviewItem.objects.filter(pk=item.pk).update(outcome=outcome, error=error)
        audit.record(
            ITEM_APPLIED, item, actor=actor, after={"outcome": outcome},
            department_id=item.department_id,
        )  # fmt: skip
    item.outcome, item.error = outcome, error
    return outcome


def sweep(now: datetime.datetime | None = None) -> dict:
    """Remind before the deadline, close at the deadline, retry failed outcomes, and start
    the quarterly campaign where configured."""
    now = now or timezone.now()
    counts = {"reminded": 0, "closed": 0, "applied": 0, "started": 0}
    counts["started"] = start_quarterly(now)
    for campaign in ReviewCampaign.objects.filter(state=ReviewCampaign.State.OPEN):
        remind_at = campaign.deadline - datetime.timedelta(days=campaign.remind_days_before)
        due = remind_at <= now < campaign.deadline and campaign.reminded_at is None
        if due and claim_reminder(campaign, now):
            pending = campaign.items.filter(decision=D.PENDING)
            leads = User.objects.filter(
                is_active=True,
                memberships__role="lead",
                memberships__department__in=pending.values("department"),
            ).distinct()
            notify.review_reminder(campaign, [u.email for u in leads])
            counts["reminded"] += 1
        if now >= campaign.deadline:
            counts["applied"] += close(campaign, now)
            counts["closed"] += 1
        else:  # a lead's revocation that failed (LiteLLM down) is tried again
            for item in campaign.items.filter(decision=D.REVOKE, outcome=OUT.FAILED):
                counts["applied"] += apply(item, revoke=True, actor=item.decided_by) != OUT.FAILED
    return counts


def claim_reminder(campaign: ReviewCampaign, now) -> bool:
    """One reminder per campaign, even with two sweeps at once."""
    qs = ReviewCampaign.objects.filter(pk=campaign.pk, reminded_at__isnull=True)
    return bool(qs.update(reminded_at=now))


def close(campaign: ReviewCampaign, now) -> int:
    """At the deadline: unreviewed items suspended or revoked; failed revocations retried."""
    applied = 0
    revoke = campaign.at_deadline == ReviewCampaign.AtDeadline.REVOKE
    for item in campaign.items.filter(decision=D.PENDING, outcome__in=[OUT.NONE, OUT.FAILED]):
        applied += apply(item, revoke=revoke, actor=campaign.started_by) != OUT.FAILED
    for item in campaign.items.filter(decision=D.REVOKE, outcome__in=[OUT.NONE, OUT.FAILED]):
        applied += apply(item, revoke=True, actor=campaign.started_by) != OUT.FAILED
    if not campaign.items.filter(outcome__in=[OUT.NONE, OUT.FAILED]).exclude(decision=D.KEEP):
        with transaction.atomic():
            if ReviewCampaign.objects.filter(pk=campaign.pk, state="open").update(
                state=ReviewCampaign.State.CLOSED, closed_at=now
            ):
                audit.record(CLOSED, campaign, after={"closed_at": now})
    return applied


def start_quarterly(now) -> int:
    if not settings.ACCESS_REVIEW_QUARTERLY:
        return 0
    local = timezone.localtime(now)
    quarter = (local.month - 1) // 3 + 1
    name = f"{local.year} Q{quarter}"
    if ReviewCampaign.objects.filter(name=name).exists():
        return 0
    start(
        name=name,
        departments=Department.objects.all(),
        deadline=now + datetime.timedelta(days=settings.ACCESS_REVIEW_DAYS),
        at_deadline=settings.ACCESS_REVIEW_AT_DEADLINE,
        actor=None,
    )
    return 1


def progress(campaign: ReviewCampaign) -> list[dict]:
    rows = (
        campaign.items.values("department__name")
        .annotate(
            total=models.Count("pk"),
            kept=models.Count("pk", filter=models.Q(decision=D.KEEP)),
            revoked=models.Count("pk", filter=models.Q(decision=D.REVOKE)),
            pending=models.Count("pk", filter=models.Q(decision=D.PENDING)),
        )
        .order_by("department__name")
    )
    return [{**r, "done_pct": round(100 * (r["total"] - r["pending"]) / r["total"])} for r in rows]


CSV_HEADER = [
    "campaign", "department", "item", "owner", "decision", "reason", "decided_by",
    "decided_at", "outcome",
]  # fmt: skip


def csv_rows(campaign: ReviewCampaign):
    items = campaign.items.select_related("department", "owner", "decided_by", "content_type")
    items = items.order_by("pk")
    for item in items.iterator():
        yield [
            campaign.name,
            item.department.name,
            f"{item.content_type.model_class()._meta.verbose_name}: {item.label}",
            item.owner.email,
            item.decision,
            item.reason,
            item.decided_by.email if item.decided_by else "",
            item.decided_at.isoformat() if item.decided_at else "",
            item.outcome,
        ]
