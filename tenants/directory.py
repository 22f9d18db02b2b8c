"""Directory sync with Microsoft Graph: joiners, leavers, leads, infra and approver groups.

:func:`sync` first reads everything it needs from Graph (the transitive members of every
department's member and lead group, of the infra group, and of every group another app watches:
the approval engine registers the groups its policies and requests in flight name as
approvers, :func:`watch_groups`). Each person's ``entra_groups`` becomes the groups read that
hold them, so a group approver keeps the group until the directory says otherwise. A watched
group the directory does not know (404) counts as empty. If any other call fails, the run is
recorded as failed and nothing changes. Then, in one transaction, it creates pending portal
users for people who have not signed in yet (so leads see their whole team), reconciles
Entra-sourced memberships, roles and the infra flag with the same mapping as sign-in
(:func:`tenants.services.apply_groups`), deactivates disabled accounts, and offboards leavers
(:func:`keys.leavers.offboard`: keys suspended and blocked, tuning projects ended). Manual
memberships are left alone. Every change is audited and listed on the :class:`SyncRun`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from portal import audit
from portal.integrations.errors import IntegrationError, NotFound
from portal.integrations.graph import GraphClient, GraphUser

from . import languages
from .models import Department, Membership, SyncRun, User
from .services import INFRA_CHANGED, SIGNED_IN, _change, apply_groups, graph_configured
from .signals import member_left

SYNC_REQUESTED = audit.action("directory.sync_requested")
SYNCED = audit.action("directory.synced")
SYNC_FAILED = audit.action("directory.sync_failed")
CREATED_FROM_DIRECTORY = audit.action("user.created_from_directory")
ENABLED_IN_ENTRA = audit.action("user.enabled_in_entra")
DISABLED_IN_ENTRA = audit.action("user.disabled_in_entra")

log = logging.getLogger(__name__)


class SyncRefused(Exception):
    """The directory answered, but applying it would be unsafe (e.g. nobody at all)."""


@dataclass
class Snapshot:
    users: dict[str, GraphUser] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)  # oid -> mapped group ids
    group_count: int = 0
    mapped_users: set[str] = field(default_factory=set)  # in a department or infra group
    watched: list[str] = field(default_factory=list)
    missing_groups: list[str] = field(default_factory=list)  # watched, unknown to Graph
    # People the portal knows only through manual memberships, looked up one by one so a
    # disabled or deleted account is offboarded too (None: deleted from the directory).
    others: dict[str, GraphUser | None] = field(default_factory=dict)


# Callables returning group ids whose members the portal needs beyond the mapped groups (the
# approval engine's group approvers), registered from the app's ``ready()``.
WATCHED_GROUPS: list[Callable[[], Iterable[str]]] = []


def watch_groups(source: Callable[[], Iterable[str]]) -> None:
    if source not in WATCHED_GROUPS:
        WATCHED_GROUPS.append(source)


def watched_groups() -> list[str]:
    ids = [g for source in WATCHED_GROUPS for g in source() if g]
    return list(dict.fromkeys(ids))


def mapped_groups() -> list[str]:
    ids: list[str] = []
    for member, lead in Department.objects.values_list("member_group_id", "lead_group_id"):
        ids.extend(g for g in (member, lead) if g)
    if settings.ENTRA_INFRA_GROUP_ID:
        ids.append(settings.ENTRA_INFRA_GROUP_ID)
    return list(dict.fromkeys(ids))


def read_directory(client: GraphClient) -> Snapshot:
    """Every mapped and watched group's users, nested groups expanded. Raises
    IntegrationError (a watched group that does not exist is only noted)."""
    snapshot = Snapshot()
    mapped = mapped_groups()
    snapshot.watched = [g for g in watched_groups() if g not in mapped]
    for group_id in mapped + snapshot.watched:
        snapshot.group_count += 1
        try:
            members = list(client.group_transitive_members(group_id))
        except NotFound:
            if group_id in mapped:
                raise
            snapshot.missing_groups.append(group_id)
            log.warning("approver group not found in the directory", extra={"group": group_id})
            continue
        for person in members:
            snapshot.users[person.id] = person
            snapshot.groups.setdefault(person.id, set()).add(group_id)
            if group_id in mapped:
                snapshot.mapped_users.add(person.id)
    manual_only = (
        User.objects.filter(is_active=True, entra_oid__isnull=False, is_infra=False)
        .exclude(entra_oid="")
        .exclude(entra_oid__in=list(snapshot.users))
        .filter(memberships__source=Membership.Source.MANUAL)
        .values_list("entra_oid", flat=True)
        .distinct()
    )
    for oid in manual_only:
        try:
            snapshot.others[oid] = client.get_user(oid)
        except NotFound:
            snapshot.others[oid] = None
    return snapshot


def sync(
    client: GraphClient | None = None, *, actor: User | None = None, run: SyncRun | None = None
) -> SyncRun:
    """Read the directory, then apply it in one transaction. Returns the recorded run."""
    if run is None:
        run = SyncRun.objects.create(triggered_by=actor)
    own_client = client is None
    try:
        if client is None:
            if not graph_configured():
                raise SyncRefused("Microsoft Graph is not configured (ENTRA_* settings).")
            client = GraphClient.from_settings()
        snapshot = read_directory(client)
        if not snapshot.mapped_users and _entra_roles_exist():
            raise SyncRefused(
                "The directory returned nobody in any mapped group; refusing to remove "
                "every Entra-sourced role. Check the group ids."
            )
    except (IntegrationError, SyncRefused) as exc:
        return _failed(run, str(exc), actor)
    finally:
        if own_client and client is not None:
            client.close()

    try:
        with transaction.atomic():
            changes = apply(snapshot, actor=actor)
            counts = Counter(c["kind"] for c in changes)
            run.counts = {
                "users": len(snapshot.users),
                "groups": snapshot.group_count,
                **dict(sorted(counts.items())),
            }
            if snapshot.missing_groups:
                run.counts["missing_groups"] = len(snapshot.missing_groups)
            run.changes = changes
            run.status = SyncRun.Status.OK
            run.finished_at = timezone.now()
            run.error = ""
            run.save()
            audit.record(SYNCED, run, actor=actor, after=run.counts)
    except Exception as exc:  # rolled back: nothing changed
        log.exception("directory sync failed while applying")
        run.changes, run.counts = [], {}
        return _failed(run, f"{type(exc).__name__}: {exc}", actor)
    log.info("directory synced", extra={"run": run.pk, **run.counts})
    return run


def _failed(run: SyncRun, error: str, actor) -> SyncRun:
    with transaction.atomic():
        run.status = SyncRun.Status.FAILED
        run.error = error[:4000]
        run.finished_at = timezone.now()
        run.save()
        audit.record(SYNC_FAILED, run, actor=actor, after={"error": run.error})
    log.warning("directory sync failed", extra={"run": run.pk, "error": error})
    return run


def _entra_roles_exist() -> bool:
    return Membership.objects.filter(source=Membership.Source.ENTRA).exists()


def apply(snapshot: Snapshot, *, actor: User | None = None) -> list[dict]:
    """Make the portal match ``snapshot``. Call inside a transaction."""
    list(Department.objects.select_for_update())  # one sync applies at a time
    changes: list[dict] = []
    existing = {u.entra_oid: u for u in User.objects.filter(entra_oid__in=list(snapshot.users))}
    people: list[tuple[User, GraphUser | None]] = []
    for oid, person in snapshot.users.items():
        user = existing.get(oid)
        if user is None:
            if person.account_enabled is False:
                continue  # nobody to offboard, nobody to show
            user = _create_pending(person, actor, changes)
        people.append((user, person))
    # People the directory no longer puts in any group read but who still hold Entra roles,
    # or a watched group (an approver group they were removed from).
    held = Q(memberships__source=Membership.Source.ENTRA) | Q(is_infra=True)
    for group_id in snapshot.watched:
        held |= Q(entra_groups__contains=[group_id])
    gone = (
        User.objects.filter(entra_oid__isnull=False)
        .exclude(entra_oid__in=list(snapshot.users))
        .filter(held)
        .distinct()
    )
    people.extend((user, None) for user in gone)

    for user, person in people:
        before = [m.department for m in user.memberships.select_related("department")]
        disabled = person is not None and person.account_enabled is False
        groups = set() if disabled or person is None else snapshot.groups.get(person.id, set())
        entra_roles = user.is_infra or any(
            m.source == Membership.Source.ENTRA for m in user.memberships.all()
        )
        if person is not None or entra_roles or set(user.entra_groups) & set(snapshot.watched):
            apply_groups(user, sorted(groups), actor=actor, changes=changes)
        if person is not None:
            languages.fill_from_entra(user, person.preferred_language)
        if person is not None and user.groups_overage:
            User.objects.filter(pk=user.pk).update(groups_overage=False)
        if disabled and user.is_active:
            _set_active(user, False, actor, changes)
        elif person is not None and not disabled and not user.is_active and _disabled_by_sync(user):
            _set_active(user, True, actor, changes)
        if disabled or (before and not user.memberships.exists()):
            reason = "account disabled in Entra ID" if disabled else "removed from every group"
            done = _offboard(user, reason=reason, departments=before, actor=actor)
            if any(done.values()):
                _change(changes, "offboarded", user, reason=reason, **done)
    for oid, person in snapshot.others.items():
        if person is not None and person.account_enabled is not False:
            continue
        user = User.objects.get(entra_oid=oid)
        reason = "account disabled in Entra ID" if person else "account deleted from Entra ID"
        if user.is_active:
            _set_active(user, False, actor, changes)
        departments = [m.department for m in user.memberships.select_related("department")]
        done = _offboard(user, reason=reason, departments=departments, actor=actor)
        if any(done.values()):
            _change(changes, "offboarded", user, reason=reason, **done)
    return changes


def _offboard(user: User, **details) -> dict:
    """Tell the apps that hold things for people that this one left; what they did, merged."""
    done: dict[str, list] = {}
    for _receiver, response in member_left.send(sender=User, user=user, **details):
        for name, items in (response or {}).items():
            done.setdefault(name, []).extend(items)
    return done


def _create_pending(person: GraphUser, actor, changes: list) -> User:
    username = (person.user_principal_name or person.email or person.id)[:150]
    if User.objects.filter(username=username).exists():
        username = person.id[:150]
    user = User(
        username=username,
        email=person.email,
        display_name=person.display_name,
        entra_oid=person.id,
    )
    user.set_unusable_password()
    user.save()
    audit.record(
        CREATED_FROM_DIRECTORY,
        user,
        actor=actor,
        after=audit.snapshot(user, ["username", "email", "display_name", "entra_oid"]),
    )
    _change(changes, "new_user", user, oid=person.id)
    return user


def _set_active(user: User, active: bool, actor, changes: list) -> None:
    User.objects.filter(pk=user.pk).update(is_active=active)
    user.is_active = active
    audit.record(
        ENABLED_IN_ENTRA if active else DISABLED_IN_ENTRA,
        user,
        actor=actor,
        before={"is_active": not active},
        after={"is_active": active},
    )
    _change(changes, "enabled" if active else "disabled", user)


def _disabled_by_sync(user: User) -> bool:
    """Reactivate only people the sync deactivated, never those infra switched off by hand."""
    from portal.models import AuditEvent

    last = (
        AuditEvent.objects.filter(object_type="tenants.user", object_id=str(user.pk))
        .filter(action__startswith="user.")
        .exclude(action__in=[SIGNED_IN, INFRA_CHANGED])
        .order_by("-pk")
        .values_list("action", flat=True)
        .first()
    )
    return last == DISABLED_IN_ENTRA


# --- people the portal needs before they sign in -----------------------------------------------
def ensure_user(person: GraphUser, *, actor=None) -> User:
    """The portal user for a directory person, created pending (never signed in) if missing."""
    user = User.objects.filter(entra_oid=person.id).first()
    if user is not None:
        return user
    return _create_pending(person, actor, [])


def lookup_manager(requester: User, department: Department) -> GraphUser | None:
    """The requester's Entra manager when the department's rule says the manager approves;
    None (the leads decide) when the rule is the lead group or the manager is unknown."""
    if department.approver_rule != Department.ApproverRule.MANAGER:
        return None
    if not requester.entra_oid or not graph_configured():
        return None
    try:  # someone waits on the form: one retry, short timeout
        with GraphClient.from_settings(max_retries=1, timeout=5, max_retry_after=5) as client:
            manager = client.user_manager(requester.entra_oid)
    except IntegrationError as exc:
        log.warning("manager lookup failed, the leads decide", extra={"error": str(exc)})
        return None
    if manager is None or manager.account_enabled is False or manager.id == requester.entra_oid:
        return None
    return manager
