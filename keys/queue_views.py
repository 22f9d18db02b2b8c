"""The approval queue: what waits for this user's decision, keys and tuning projects."""

from __future__ import annotations

from django.shortcuts import render
from django.utils.functional import SimpleLazyObject

from approvals import panels, pending
from portal.pagination import page_of
from tenants.models import Department

from . import lists, rows
from .models import VirtualKey

QUEUE_FIELDS = (
    "status", "name", "lifetime_days", "created_at", "department__name",
    *(f"requester__{f}" for f in ("display_name", "first_name", "last_name", "email", "username")),
)  # fmt: skip


def approval_queue(request):
    """Keys and tuning projects waiting for this user's decision, oldest first."""
    user = request.user
    keys = (
        pending.pending(VirtualKey, user)
        .select_related("department", "requester")
        .only(*QUEUE_FIELDS, "llm_models", "max_budget")
    )
    departments = Department.objects.filter(pk__in=keys.values("department")).order_by("name")
    listq = lists.queue_for(departments)
    keys = listq.apply(request, keys)
    # Read only when the template's cached queue is out of date (see approval_queue.html).
    page = SimpleLazyObject(lambda: page_of(request, keys))
    context = {
        "listq": listq,
        "keys": page,
        "key_rows": lambda: rows.queue_keys(page),
        "projects": [],  # the tuning projects' app adds its own (APPROVAL_QUEUE)
    }
    panels.run(panels.APPROVAL_QUEUE, request.user, context)
    return render(request, "keys/approval_queue.html", context)
