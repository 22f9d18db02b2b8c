"""Helpers every resource uses: who may call, form errors as problems, fetch-and-authorize."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404

from .auth import Identity
from .problems import Problem

RIGHT_KEYS = "request_keys"
RIGHT_COSTS = "read_costs"
RIGHT_POLICIES = "policies"


def identity(request) -> Identity:
    return request.auth


def people_only(request) -> Identity:
    """Operations for people only: a service identity has no rights beyond those chosen."""
    who = identity(request)
    if who.service is not None:
        raise Problem(403, "Not for service identities", "This operation is for people only.")
    return who


def require_right(request, right: str) -> Identity:
    """People pass (their web roles decide); a service identity needs the chosen right."""
    who = identity(request)
    if who.service is None:
        return who
    granted = {
        RIGHT_KEYS: who.service.can_request_keys,
        RIGHT_COSTS: who.service.can_read_costs,
        RIGHT_POLICIES: who.service.can_manage_policies,
    }
    if not granted.get(right):
        raise Problem(403, "Right not granted", f"This service identity may not {right}.")
    return who


def form_problem(form) -> Problem:
    errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
    detail = " ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items())
    return Problem(422, "Invalid request", detail, type_="invalid-request", errors=errors)


def visible(model, pk: int, user, *related: str):
    """The object if the user may see it, else 404 (never confirm that it exists)."""
    obj = get_object_or_404(model.objects.select_related(*related), pk=pk)
    if not obj.can_view(user):
        raise Http404
    return obj


def owner_only(obj, user) -> None:
    if obj.requester_id != user.pk:
        raise PermissionDenied
