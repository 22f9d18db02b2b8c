"""Registering service principals as service identities: infra's action, audited."""

from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from portal import audit
from tenants.models import Membership, User

from .models import ServiceIdentity

SAVED = audit.action("serviceidentity.saved")
REGISTERED = audit.action("serviceidentity.registered")

FIELDS = [
    "name",
    "app_id",
    "tenant_id",
    "department",
    "can_request_keys",
    "can_read_costs",
    "can_manage_policies",
]


@transaction.atomic
def save_service_identity(identity: ServiceIdentity, *, actor: User, request=None) -> None:
    """Create or change a service identity with its portal user and department membership.

    The portal user has no Entra object id (the directory sync ignores it) and no password;
    it is active only while the identity is, and a member of exactly its department.
    """
    before = None
    if identity.pk:
        previous = ServiceIdentity.objects.select_for_update().get(pk=identity.pk)
        before = audit.snapshot(previous, FIELDS + ["is_active"])
    else:
        username = f"svc-{slugify(identity.name)[:40]}-{identity.app_id[:8]}"
        user = User(
            username=username,
            email=f"{username}@service.invalid",
            display_name=f"{identity.name} (service)",
        )
        user.set_unusable_password()
        user.save()
        identity.user = user
    user = identity.user
    user.is_active = identity.is_active
    user.display_name = f"{identity.name} (service)"
    user.save(update_fields=["is_active", "display_name"])
    identity.save()
    Membership.objects.filter(user=user).exclude(department=identity.department).delete()
    Membership.objects.get_or_create(
        user=user,
        department=identity.department,
        defaults={"role": Membership.Role.MEMBER, "source": Membership.Source.MANUAL},
    )
    audit.record(
        SAVED if before else REGISTERED,
        identity,
        actor=actor,
        request=request,
        before=before,
        after=audit.snapshot(identity, FIELDS + ["is_active"]),
    )
