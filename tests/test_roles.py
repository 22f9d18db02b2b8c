"""Entra groups → departments and roles."""

import pytest

from portal.models import AuditEvent
from tenants.models import Membership
from tenants.services import apply_groups, apply_sign_in_claims

from .conftest import make_user

pytestmark = pytest.mark.django_db


def roles(user):
    return {m.department.slug: m.role for m in user.memberships.select_related("department")}


def test_groups_map_to_member_and_lead_roles(org):
    user = make_user("newcomer")
    apply_groups(user, ["grp-alpha-members", "grp-beta-members", "grp-beta-leads", "unrelated"])
    assert roles(user) == {"alpha": "member", "beta": "lead"}
    assert user.entra_groups == sorted(
        ["grp-alpha-members", "grp-beta-members", "grp-beta-leads", "unrelated"]
    )


def test_leaving_a_group_removes_or_demotes(org):
    user = make_user("mover")
    apply_groups(user, ["grp-alpha-leads", "grp-beta-members"])
    apply_groups(user, ["grp-alpha-members"])
    assert roles(user) == {"alpha": "member"}
    actions = set(
        AuditEvent.objects.filter(object_type="tenants.membership").values_list("action", flat=True)
    )
    assert {"membership.added", "membership.removed", "membership.role_changed"} <= actions


def test_manual_memberships_survive_group_changes(org):
    user = make_user("pinned")
    Membership.objects.create(user=user, department=org["a"], role="lead", source="manual")
    apply_groups(user, [])
    assert roles(user) == {"alpha": "lead"}


def test_infra_group_grants_infra_and_admin(org, settings):
    settings.ENTRA_INFRA_GROUP_ID = "grp-platform"
    user = make_user("ops")
    apply_groups(user, ["grp-platform"])
    user.refresh_from_db()
    # Staff with infra's admin rights, never superuser: the admin cannot bypass the workflow.
    assert user.is_infra and user.is_staff and not user.is_superuser
    assert user.has_perm("keys.view_virtualkey") and user.has_perm("tenants.change_department")
    assert not user.has_perm("keys.change_virtualkey")
    apply_groups(user, [])
    user.refresh_from_db()
    assert not (user.is_infra or user.is_staff or user.is_superuser)
    assert not user.has_perm("keys.view_virtualkey")


def test_overage_claims_keep_roles_and_flag_user(org):
    user = make_user("manygroups")
    apply_groups(user, ["grp-alpha-members"])
    claims = {
        "oid": user.entra_oid,
        "tid": "t1",
        "email": "manygroups@example.com",
        "name": "Many Groups",
        "_claim_names": {"groups": "src1"},
        "_claim_sources": {
            "src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}
        },
    }
    apply_sign_in_claims(user, claims)
    user.refresh_from_db()
    assert user.groups_overage is True
    assert roles(user) == {"alpha": "member"}


def test_sign_in_claims_refresh_profile(org):
    user = make_user("renamed")
    apply_sign_in_claims(
        user,
        {
            "oid": user.entra_oid,
            "tid": "t1",
            "email": "new@example.com",
            "name": "New Name",
            "groups": ["grp-beta-leads"],
        },
    )
    user.refresh_from_db()
    assert (user.email, user.display_name, user.entra_tenant_id) == (
        "new@example.com",
        "New Name",
        "t1",
    )
    assert roles(user) == {"beta": "lead"}
