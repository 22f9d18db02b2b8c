"""The access guard every app may use: infra only. ``tenants.access`` hands it on beside
the department checks, so views keep importing it from there."""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied


def infra_required(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_infra:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped
