"""What the key lists can be searched, filtered and sorted by (tuning projects reuse
:func:`requests_for`)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from approvals.lifecycle import Status
from portal.lists import Filter, ListQuery


def _department_filter(user) -> Filter:
    memberships = user.memberships_once()  # by department name
    choices = [(str(m.department_id), m.department.name) for m in memberships]
    return Filter("department", _("Department"), "department_id", choices)


def requests_for(user, search_fields: list[str], **more_sorts) -> ListQuery:
    """A list of the user's requests: by status and department, newest first."""
    return ListQuery(
        search_fields=search_fields,
        filters=[
            Filter("status", _("Status"), "status", [(s.value, s.label) for s in Status]),
            _department_filter(user),
        ],
        sorts={
            "new": (_("Newest first"), ["-created_at"]),
            "old": (_("Oldest first"), ["created_at"]),
            "name": (_("Name"), ["name", "-created_at"]),
            "expires": (_("Expiring first"), ["expires_at", "-created_at"]),
            **more_sorts,
        },
        default_sort="new",
    )


def keys_for(user) -> ListQuery:
    return requests_for(
        user,
        ["name", "llm_models", "justification"],
        budget=(_("Largest budget"), ["-max_budget", "-created_at"]),
    )
