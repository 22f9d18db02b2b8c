"""Infra's retry of a failed request, for every kind (the button on the operations page)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenants.access import infra_required

from . import registry, workflow
from .lifecycle import Status
from .pages import attempt, error_text


@require_POST
@infra_required
def retry_request(request, kind, pk):
    """Infra's retry of a failed request of any kind (``kind``: the kind's ``slug``)."""
    model = registry.model_for_slug(kind)
    if model is None:
        raise Http404
    obj = get_object_or_404(model, pk=pk)
    if not attempt(request, workflow.retry_failed, obj):
        return redirect("operations")
    obj.refresh_from_db()
    if obj.status == Status.FAILED:
        messages.error(
            request,
            _("Retried %(name)s: it failed again: %(error)s")
            % {"name": obj.name, "error": error_text(obj.last_error)},
        )
    elif obj.status == Status.ACTIVE:
        messages.success(request, _("Retried %(name)s: it is active now.") % {"name": obj.name})
    else:
        messages.success(
            request,
            _("Retried %(name)s: a worker is setting it up (status: %(status)s).")
            % {"name": obj.name, "status": obj.get_status_display()},
        )
    return redirect("operations")
