"""Who may see what. Every view goes through one of these."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from portal.access import infra_required

from .models import Department

__all__ = ["department_for_lead", "infra_required", "require_member", "visible_departments"]


def visible_departments(user):
    """Departments whose data the user may see: all for infra, else those they lead."""
    if user.is_infra:
        return Department.objects.all()
    return user.departments_led()


def department_for_lead(user, slug: str) -> Department:
    """The department if the user leads it (or is infra); 404 otherwise, so nothing leaks."""
    return get_object_or_404(visible_departments(user), slug=slug)


def require_member(user, department: Department) -> None:
    if not (user.is_infra or user.is_member_of(department)):
        raise PermissionDenied
