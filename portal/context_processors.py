"""What every page's navigation needs, cached per user for a few seconds.

The pending-approval count takes several queries; a page view must not pay for them each time.
The cache entry is keyed by user and by a version that goes up whenever something that decides
what waits for whom is saved (``forget_pending``: a request, and what the approvals app
registers: stages, votes, delegations, memberships), so a decision shows at once;
NAV_CACHE_SECONDS bounds what a change outside the ORM (a bulk update) can leave stale.
The same version keys the menu, each person's memberships, the home panels and the rendered
rows of the key, project and approval lists.
The count itself comes from the approvals app (``PENDING_COUNT``, set in its ``ready()``).
"""

from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

VERSION_KEY = "nav:version"
# (user) -> int: how many requests wait for the user's decision. Set by the approvals app.
PENDING_COUNT: list[Callable] = []


def version() -> int:
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, 1, timeout=None)
        version = cache.get(VERSION_KEY, 1)
    return version


# Bumps made in this process: a version read on a user object before one is read again.
_bumps = 0


def version_for(user) -> int:
    """``version()``, read once per user object (i.e. per request: the navigation, the
    memberships, what waits for whom and the home panels all key their caches with it)."""
    memo = getattr(user, "_nav_version", None)
    if memo is None or memo[0] != _bumps:
        memo = user._nav_version = (_bumps, version())
    return memo[1]


def bump() -> None:
    """What waits for whom may have changed: now, and again when the transaction commits (a
    page read from the rows before the commit, under the new version, is not kept past it)."""
    bump_now()
    transaction.on_commit(bump_now)


def bump_now() -> None:
    global _bumps
    _bumps += 1
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # not set yet (or evicted): the next read starts a new version
        cache.add(VERSION_KEY, 1, timeout=None)


def forget_pending(sender, instance=None, **kwargs) -> None:
    """post_save/post_delete receiver: a request that can be pending for someone changed."""
    if hasattr(getattr(sender, "objects", None), "pending_for"):
        bump()


def forget_memberships(sender, **kwargs) -> None:
    """post_save/post_delete receiver: a membership or a department changed."""
    bump()


def navigation(request):
    """Role flags and the pending-approval count for the navigation."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"DEMO_MODE": settings.DEMO_MODE, "SUPPORT_CONTACT": settings.SUPPORT_CONTACT}
    nav_version = version_for(user)
    key = f"nav:pending:{user.pk}:{int(user.is_infra)}:{nav_version}"
    pending = cache.get(key)
    if pending is None:
        pending = sum(count(user) for count in PENDING_COUNT)
        cache.set(key, pending, timeout=settings.NAV_CACHE_SECONDS)
    memberships = user.memberships_once()  # cached under the same version (the view's, if read)
    return {
        "nav_pending": pending,
        "nav_memberships": memberships,
        "nav_is_lead": any(m.role == "lead" for m in memberships),
        "DEMO_MODE": settings.DEMO_MODE,
        "SUPPORT_CONTACT": settings.SUPPORT_CONTACT,
        "nav_is_infra": user.is_infra,
        "nav_version": f"{nav_version}:{int(user.is_infra)}",  # base.html caches the menu
        "nav_seconds": settings.NAV_CACHE_SECONDS,
    }
