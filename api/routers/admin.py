"""Who am I, departments and their policies (read; infra writes), the audit log (infra)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import get_object_or_404
from ninja import Query, Router
from ninja.decorators import decorate_view
from ninja.pagination import paginate

from portal.models import AuditEvent
from tenants.models import Department

from .. import policies
from ..common import form_problem, identity, people_only
from ..idempotency import idempotent
from ..pagination import PortalCursor
from ..schemas import AuditOut, DepartmentOut, MeOut, PolicyIn

router = Router()


@router.get("/me", response=MeOut, tags=["me"], summary="Who the token belongs to")
def me(request):
    who = identity(request)
    user = who.user
    rights = []
    if who.service is not None:
        rights = [
            r
            for r, ok in (
                ("request_keys", who.service.can_request_keys),
                ("read_costs", who.service.can_read_costs),
                ("policies", who.service.can_manage_policies),
            )
            if ok
        ]
    return {
        "email": user.email,
        "name": str(user),
        "is_infra": user.is_infra,
        "member_of": list(user.memberships.values_list("department__slug", flat=True)),
        "lead_of": list(user.departments_led().values_list("slug", flat=True)),
        "service": who.service.name if who.service else None,
        "rights": rights,
    }


def _departments(user):
    if user.is_infra:
        return Department.objects.all()
    return Department.objects.filter(memberships__user=user).distinct()


@router.get("/departments", response=list[DepartmentOut], tags=["departments"])
@paginate(PortalCursor, ordering=("name",))
def list_departments(request):
    """Your departments with their policies (infra: all)."""
    return _departments(request.user)


@router.get("/departments/{slug}", response=DepartmentOut, tags=["departments"])
def get_department(request, slug: str):
    return get_object_or_404(_departments(request.user), slug=slug)


@router.patch(
    "/departments/{slug}/policy",
    response=DepartmentOut,
    tags=["departments"],
    summary="Change a department's policy (infra)",
)
@decorate_view(idempotent)
def set_policy(request, slug: str, payload: PolicyIn):
    people_only(request)
    if not request.user.is_infra:
        raise PermissionDenied
    dept = get_object_or_404(Department, slug=slug)
    changes = payload.model_dump(exclude_unset=True)
    form = policies.set_policy(dept, changes, actor=request.user, request=request)
    if form.errors:
        raise form_problem(form)
    return Department.objects.get(pk=dept.pk)


@router.get("/audit", response=list[AuditOut], tags=["audit"], summary="Audit log (infra)")
@paginate(PortalCursor, ordering=("-created_at", "-id"))
def audit_log(
    request,
    action: str | None = Query(None, description="Prefix, e.g. virtualkey."),
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = Query(None, description="E-mail (contains)"),
):
    people_only(request)
    if not request.user.is_infra:
        raise PermissionDenied
    qs = AuditEvent.objects.all()
    if action:
        qs = qs.filter(action__startswith=action)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    if actor:
        qs = qs.filter(Q(actor_label__icontains=actor))
    return qs
