"""What every page's navigation needs, cached per user for a few seconds.

The pending-approval count is one query over every kind of request; a page view need not pay
for it each time.
The cache entry is keyed by user and by the user's *version*: the versions of the scopes whose
changes can alter what the user sees, read together once per request:

- ``org``: memberships, departments, delegations, policies (rare; they move everyone);
- ``user:<id>``: a request the person made or is the named approver of, a stage that lists
  them (or someone they stand in for) as an approver, spend on their keys;
- ``department:<id>``, for each department the person leads: a request, a stage or a vote of
  the department (its leads decide its requests without stages), its spend (their home page's
  department panels). A member's pages show their own requests and what waits for them by
  name (``user:<id>``), so the department's other requests leave them cached;
- ``infra`` (infra only): any request anywhere (infra's queue is everyone's).

Spend has versions of its own (``spend_version_for``: the person's keys, the departments they
lead, the organisation's for infra), which only the home page's money panels read: an ingestion
moves those of the departments and people its rows are about and leaves every list cached.

A saved request moves its department's, its requester's, its approvers' and infra's versions
(``forget_pending``; the approvals app adds the stage approvers and delegates through
``AFFECTED``), so a decision shows at once to everyone it concerns, and the pages of the rest of
the organisation stay cached. NAV_CACHE_SECONDS bounds what a change outside the ORM (a bulk
update) can leave stale. The same version keys the menu, each person's memberships (those under
``org`` and ``user:<id>`` only), the home panels and the rendered rows of the key, project and
approval lists. The count itself comes from the approvals app (``PENDING_COUNT``, set in its
``ready()``).
"""

import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

PREFIX = "nav:v:"
ORG = "org"
INFRA = "infra"
# (user) -> int: how many requests wait for the user's decision. Set by the approvals app.
PENDING_COUNT: list[Callable] = []
# (request) -> scopes: who else a saved request concerns (stage approvers, their delegates).
AFFECTED: list[Callable[[object], Iterable[str]]] = []


def user_scope(user_id) -> str:
    return f"user:{user_id}"


def department_scope(department_id) -> str:
    return f"department:{department_id}"


def versions(scopes: list[str]) -> list:
    """The current version of each scope (a scope never moved starts one now)."""
    keys = [PREFIX + s for s in scopes]
    found = cache.get_many(keys)
    missing = [k for k in keys if k not in found]
    for key in missing:  # add: a version another process started meanwhile is kept
        cache.add(key, time.time_ns(), timeout=None)
    if missing:
        found.update(cache.get_many(missing))
    return [found.get(k, 0) for k in keys]


def version(scope: str = ORG):
    return versions([scope])[0]


# Bumps made in this process: a version read on a user object before one is read again.
_bumps = 0


def _memo(user, attr: str, make: Callable[[], str]) -> str:
    memo = getattr(user, attr, None)
    if memo is None or memo[0] != _bumps:
        memo = (_bumps, make())
        setattr(user, attr, memo)
    return memo[1]


def base_scopes(user) -> list[str]:
    return [ORG, user_scope(user.pk), *([INFRA] if user.is_infra else [])]


def base_version_for(user) -> str:
    """The versions of the scopes that do not depend on the user's memberships (those key the
    memberships themselves), read once per user object."""
    return _memo(user, "_nav_base", lambda: ".".join(map(str, versions(base_scopes(user)))))


def version_for(user) -> str:
    """The user's version (see above), read once per user object (i.e. per request: the
    navigation, the memberships, what waits for whom and the home panels all key their caches
    with it)."""

    def make() -> str:
        departments = sorted({m.department_id for m in user.memberships_once() if m.role == "lead"})
        own = versions([department_scope(d) for d in departments])
        pairs = zip(departments, own, strict=True)
        return ".".join([base_version_for(user), *(f"{d}-{v}" for d, v in pairs)])

    return _memo(user, "_nav_version", make)


def spend_scope(scope: str) -> str:
    """The money version of a scope: moved by spend ingestion, read by the home page's money
    panels only, so an ingestion leaves the lists and the approval queue cached."""
    return f"spend:{scope}"


def spend_version_for(user) -> str:
    """The versions of the spend the user's home panels show: their own keys', the
    departments they lead and, for infra, the organisation's."""

    def make() -> str:
        led = sorted({m.department_id for m in user.memberships_once() if m.role == "lead"})
        scopes = [user_scope(user.pk), *(department_scope(d) for d in led)]
        scopes += [ORG] if user.is_infra else []
        return ".".join(map(str, versions([spend_scope(s) for s in scopes])))

    return _memo(user, "_nav_spend", make)


class Bump:
    """Move the versions of ``scopes``: called at once and again after commit (a page read
    from the rows before the commit, under the new version, is not kept past it)."""

    def __init__(self, scopes: Iterable[str]):
        self.scopes = tuple(dict.fromkeys(scopes))

    def __call__(self) -> None:
        global _bumps
        _bumps += 1
        now = time.time_ns()
        cache.set_many({PREFIX + s: now for s in self.scopes}, timeout=None)


def bump(*scopes: str) -> None:
    """What waits for whom, or what a page shows, may have changed for ``scopes`` (the whole
    organisation without any): now, and again when the transaction commits."""
    change = Bump(scopes or (ORG,))
    change()
    transaction.on_commit(change, robust=True)


def bump_now(*scopes: str) -> None:
    Bump(scopes or (ORG,))()


def request_scopes(instance) -> set[str]:
    """The scopes a saved request concerns: its department, requester, named approver, infra,
    and what the approvals app adds (its stages' approvers and their delegates)."""
    scopes = {INFRA, department_scope(instance.department_id), user_scope(instance.requester_id)}
    if getattr(instance, "approver_id", None):
        scopes.add(user_scope(instance.approver_id))
    for affected in AFFECTED:
        scopes.update(affected(instance))
    return scopes


def forget_pending(sender, instance=None, **kwargs) -> None:
    """post_save/post_delete receiver: a request that can be pending for someone changed."""
    if hasattr(getattr(sender, "objects", None), "pending_for"):
        if instance is not None and getattr(instance, "department_id", None):
            bump(*request_scopes(instance))
        else:
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
