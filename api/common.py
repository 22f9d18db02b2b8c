"""Helpers every resource uses: who may call, form errors as problems, fetch-and-authorize,
list by scope, answer a creation, and cancel one's own pending request."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404

from approvals import workflow
from tenants.models import Department

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


def fresh(obj, *related: str):
    """``obj`` read again with its related rows (after a change the answer shows)."""
    return type(obj).objects.select_related(*related).get(pk=obj.pk)


def scoped(model, user, scope: str, *related: str):
    """``mine``: the user's own requests; ``visible``: also those of departments they lead
    (infra: all)."""
    qs = model.objects.select_related(*related)
    if scope == "mine":
        return qs.filter(requester=user)
    return qs.visible_to(user)


def department_pk(slug) -> int | str:
    """A department's id from its slug, or "" for the form to refuse."""
    return Department.objects.filter(slug=slug).values_list("pk", flat=True).first() or ""


def created(schema, obj, location: str) -> JsonResponse:
    """201 with the new object and where it lives."""
    body = schema.from_orm(obj).model_dump(mode="json")
    return JsonResponse(body, status=201, headers={"Location": location})


def change(request, model, pk: int, action, *related: str, owner: bool = True):
    """Run ``action(obj, actor=..., request=...)`` on an object the caller sees (only on their
    own with ``owner``) and answer it as it stands afterwards."""
    obj = visible(model, pk, request.user, *related)
    if owner:
        owner_only(obj, request.user)
    action(obj, actor=request.user, request=request)
    return fresh(obj, *related)


def cancel_own(request, model, pk: int, *related: str):
    """The requester cancels their own pending request; someone else's answers 404 or 403."""
    return change(request, model, pk, workflow.cancel, *related)
