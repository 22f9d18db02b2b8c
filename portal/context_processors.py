"""What every page's navigation needs, cached per user for a few seconds.

The pending-approval count takes several queries; a page view must not pay for them each time.
The cache entry is keyed by user and by a version that goes up whenever an approvable request
is saved (``forget_pending``), so a decision shows at once; NAV_CACHE_SECONDS bounds what a
change outside the ORM (a bulk update, a new membership) can leave stale.
"""

from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache

VERSION_KEY = "nav:version"

# How many requests wait for a user's decision: the approval engine registers its counter
# (every kind of request it decides) from ``AppConfig.ready()``; portal imports none of them.
PENDING_COUNTERS: list[Callable] = []


def register_pending_counter(counter: Callable) -> None:
    if counter not in PENDING_COUNTERS:
        PENDING_COUNTERS.append(counter)


def pending_version() -> int:
    """Goes up whenever a request that can be pending for someone is saved or deleted."""
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, 1, timeout=None)
        version = cache.get(VERSION_KEY, 1)
    return version


def forget_pending(sender, instance, **kwargs) -> None:
    """post_save/post_delete receiver: a request that can be pending for someone changed."""
    if hasattr(getattr(type(instance), "objects", None), "pending_for"):
        try:
            cache.incr(VERSION_KEY)
        except ValueError:  # not set yet (or evicted): the next read starts a new version
            cache.add(VERSION_KEY, 1, timeout=None)


def _compute(user) -> dict:
    memberships = list(user.memberships.select_related("department"))
    # Anyone may have something to decide: leads, infra, and managers named as approvers.
    pending = sum(counter(user) for counter in PENDING_COUNTERS)
    return {
        "nav_pending": pending,
        "nav_memberships": memberships,
        "nav_is_lead": any(m.role == "lead" for m in memberships),
    }


def navigation(request):
    """Role flags and the pending-approval count for the navigation."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"DEMO_MODE": settings.DEMO_MODE, "SUPPORT_CONTACT": settings.SUPPORT_CONTACT}
    key = f"nav:{user.pk}:{int(user.is_infra)}:{pending_version()}"
    nav = cache.get(key)
    if nav is None:
        nav = _compute(user)
        cache.set(key, nav, timeout=settings.NAV_CACHE_SECONDS)
    return {
        **nav,
        "DEMO_MODE": settings.DEMO_MODE,
        "SUPPORT_CONTACT": settings.SUPPORT_CONTACT,
        "nav_is_infra": user.is_infra,
    }
