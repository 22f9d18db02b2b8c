"""The home page's approver panel: what waits for my decision, every kind, read as the
navigation's count and the approval queue read it."""

from __future__ import annotations

from django.db.models import Count

from . import pending, reviews
from .review_models import ReviewItem

SHOWN = 5


def approver(user) -> dict | None:
    """Every kind of request the approvals pages list (the engine's registry: keys, tuning
    projects, budget requests…), counted as the navigation badge counts them."""
    count = pending.nav_count(user)
    leads = any(m.role == m.Role.LEAD for m in user.memberships_once())
    if not (count or user.is_infra or leads):
        return None
    waiting = pending.first(user, SHOWN) if count else []
    return {"waiting": waiting, "count": count, "reviews": open_reviews(user)}


def open_reviews(user) -> list[dict]:
    """The open access reviews with items waiting for this lead (or infra), and how many."""
    pending = reviews.items_for(user).filter(decision=ReviewItem.Decision.PENDING)
    rows = pending.values("campaign", "campaign__name", "campaign__deadline").annotate(
        items=Count("pk")
    )
    return list(rows.order_by("campaign__deadline")[:SHOWN])
