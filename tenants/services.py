"""Mapping Entra groups to departments and roles."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest

from portal import audit

from . import languages
from .models import Department, Membership, User

SIGNED_IN = audit.action("user.signed_in")
GROUPS_FROM_GRAPH = audit.action("user.groups_from_graph")
INFRA_CHANGED = audit.action("user.infra_changed")
MEMBERSHIP_REMOVED = audit.action("membership.removed")
MEMBERSHIP_ROLE_CHANGED = audit.action("membership.role_changed")
MEMBERSHIP_ADDED = audit.action("membership.added")

log = logging.getLogger(__name__)


def apply_sign_in_claims(user: User, claims: dict, *, request: HttpRequest | None = None) -> None:
    """Refresh the user from an ID token's claims, then their roles from its groups claim.

    Without a ``groups`` claim but with ``_claim_names`` (more than 200 groups), the token
    cannot say which groups the user is in: look them up in Microsoft Graph
    (``getMemberObjects``, the call the token names). If Graph cannot answer, keep their
    roles and leave the user marked so the next directory sync fixes them.
    """
    before = audit.snapshot(user, ["email", "display_name", "entra_tenant_id", "groups_overage"])
    user.email = claims.get("email") or claims.get("preferred_username") or user.email
    user.display_name = claims.get("name", "") or user.display_name
    user.entra_tenant_id = claims.get("tid", "")
    user.entra_oid = claims.get("oid", user.entra_oid)
    overage = "groups" not in claims and "groups" in (claims.get("_claim_names") or {})
    user.groups_overage = overage
    user.save()
    # Entra's preferred language (the optional ``xms_pl`` claim), unless chosen in the portal.
    languages.fill_from_entra(user, claims.get("xms_pl") or claims.get("preferredLanguage"))
    after = audit.snapshot(user, ["email", "display_name", "entra_tenant_id", "groups_overage"])
    audit.record(SIGNED_IN, user, actor=user, request=request, before=before, after=after)
    if not overage:
        apply_groups(user, claims.get("groups") or [], request=request, actor=user)
        return
    groups = overage_groups(user.entra_oid)
    if groups is None:
        return  # roles kept; groups_overage stays True for the directory sync
    apply_groups(user, groups, request=request, actor=user)
    User.objects.filter(pk=user.pk).update(groups_overage=False)
    user.groups_overage = False
    audit.record(
        GROUPS_FROM_GRAPH,
        user,
        actor=user,
        request=request,
        before={"groups_overage": True},
        after={"groups_overage": False, "groups": len(groups)},
    )


def graph_configured() -> bool:
    return bool(
        settings.ENTRA_TENANT_ID and settings.ENTRA_CLIENT_ID and settings.ENTRA_CLIENT_SECRET
    )


def overage_groups(oid: str | None) -> list[str] | None:
    """The user's groups from Graph, or None when Graph is not configured or cannot answer."""
    from portal.integrations.errors import IntegrationError
    from portal.integrations.graph import GraphClient

    if not oid or not graph_configured():
        return None
    try:  # someone waits on the sign-in: one retry, short timeout
        with GraphClient.from_settings(max_retries=1, timeout=5, max_retry_after=5) as client:
            return client.user_transitive_groups(oid)
    except IntegrationError as exc:
        log.warning("group overage lookup failed", extra={"error": str(exc)})
        return None


def _change(changes: list | None, kind: str, user: User, department=None, **detail) -> None:
    if changes is None:
        return
    changes.append(
        {
            "kind": kind,
            "user": str(user),
            "user_id": user.pk,
            "email": user.email,
            "department": department.name if department is not None else "",
            **detail,
        }
    )


@transaction.atomic
def apply_groups(
    user: User,
    group_ids: list[str],
    *,
    request: HttpRequest | None = None,
    actor=None,
    changes: list | None = None,
) -> None:
    """Make the user's Entra-sourced memberships and infra flag match ``group_ids``.

    Memberships set by infra by hand (source=manual) are left alone. With ``changes``
    (the directory sync), each change is also appended there as a dict.
    """

    def note(action, obj, kind, department=None, *, was=None, now=None, **detail) -> None:
        """One change: audited (``was`` → ``now``) and listed in ``changes`` (``detail``)."""
        audit.record(
            audit.declared(action), obj, actor=actor, request=request, before=was, after=now
        )
        _change(changes, kind, user, department, **detail)

    groups = set(group_ids)
    user.entra_groups = sorted(groups)
    infra = bool(settings.ENTRA_INFRA_GROUP_ID) and settings.ENTRA_INFRA_GROUP_ID in groups
    if infra != user.is_infra:
        note(
            INFRA_CHANGED,
            user,
            "infra_change",
            was={"is_infra": user.is_infra},
            now={"is_infra": infra},
            before=user.is_infra,
            after=infra,
        )
        user.is_infra = infra
    # Infra administers the raw data in the Django admin, with the rights of
    # tenants.permissions (never superuser: the admin cannot bypass the workflow).
    user.is_staff = infra
    user.is_superuser = False  # break-glass superusers are local accounts, never Entra's
    user.save(update_fields=["entra_groups", "is_infra", "is_staff", "is_superuser"])

    wanted: dict[int, str] = {}
    if groups:
        for dept in Department.objects.filter(
            Q(member_group_id__in=groups) | Q(lead_group_id__in=groups)
        ):
            lead = bool(dept.lead_group_id) and dept.lead_group_id in groups
            wanted[dept.pk] = Membership.Role.LEAD if lead else Membership.Role.MEMBER

    current = {m.department_id: m for m in user.memberships.select_related("department")}
    for dept_id, membership in current.items():
        if membership.source != Membership.Source.ENTRA:
            continue
        dept = membership.department
        if dept_id not in wanted:
            was = {"role": membership.role}
            note(MEMBERSHIP_REMOVED, membership, "leaver", dept, was=was, role=membership.role)
            membership.delete()
        elif membership.role != wanted[dept_id]:
            before = membership.role
            membership.role = wanted[dept_id]
            membership.save(update_fields=["role"])
            note(
                MEMBERSHIP_ROLE_CHANGED,
                membership,
                "role_change",
                dept,
                was={"role": before},
                now={"role": membership.role},
                before=before,
                after=membership.role,
            )
    for dept_id, role in wanted.items():
        if dept_id in current:
            continue
        membership = Membership.objects.create(
            user=user, department_id=dept_id, role=role, source=Membership.Source.ENTRA
        )
        joined = membership.department
        note(MEMBERSHIP_ADDED, membership, "joiner", joined, now={"role": role}, role=role)
