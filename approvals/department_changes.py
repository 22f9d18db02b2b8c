"""Applying an approved request that changes its department (budget, allowed models): the
change under the request's and the department's row locks, then LiteLLM, then active. Applying
is idempotent: a retry after a failure repeats both steps and finds the change made."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

from tenants.models import Department

from .lifecycle import Status


def apply(
    model,
    pk: int,
    change: Callable[..., dict[str, str] | None],
    push: Callable[[Department], str],
):
    """``change(obj, department)`` makes the change with both rows locked and returns the steps
    to record (None: it marked the request failed, stop there); ``push(department)`` then
    brings LiteLLM in line and returns the ``litellm_team`` step's result. Returns the request,
    or None when there was nothing to apply."""
    obj = model.objects.select_related("department").get(pk=pk)
    with transaction.atomic():
        if not obj.start_provisioning():  # re-read under the row lock
            return None
        department = Department.objects.select_for_update().get(pk=obj.department_id)
        steps = change(obj, department)
        if steps is None:
            return None
    for step, result in steps.items():
        obj.record_step(step, result)
    obj.record_step("litellm_team", push(department))
    with transaction.atomic():
        obj = model.objects.locked(pk)
        if obj.status == Status.PROVISIONING:
            obj.mark_active()
    return obj
