"""Pages of model access requests: the form (from the catalogue's "Request access"), one
request's page with its stages, cancel, and the decision page the approval engine frames."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from approvals.pages import cancel_own
from approvals.views_decide import decide

from . import actions, hooks
from .forms import ModelAccessForm
from .models import ModelAccessRequest

RELATED = ("department", "requester", "decided_by")


def _visible(request, pk: int) -> ModelAccessRequest:
    obj = get_object_or_404(ModelAccessRequest.objects.select_related(*RELATED), pk=pk)
    if not obj.can_view(request.user):
        raise Http404
    return obj


def request_access(request):
    initial = {
        k: request.GET[k] for k in ("department", "model_name", "change") if k in request.GET
    }
    form = ModelAccessForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        obj = form.save(commit=False)
        obj.requester = request.user
        try:
            actions.request_change(obj, request=request)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Request sent. You will be told when it is decided."))
            return redirect(obj)
    recent = (
        ModelAccessRequest.objects.visible_to(request.user)
        .select_related(*RELATED)
        .order_by("-created_at")[:20]
    )
    departments = form.fields["department"].queryset
    return render(
        request,
        "modelaccess/request_form.html",
        {"form": form, "recent": recent, "departments": departments},
    )


def access_detail(request, pk: int):
    obj = _visible(request, pk)
    return render(
        request,
        "modelaccess/detail.html",
        {
            "obj": obj,
            "can_decide": obj.is_pending and obj.can_decide(request.user),
            "can_cancel": obj.is_pending and obj.requester_id == request.user.pk,
            **hooks.decision_panel(obj, {}),
        },
    )


@require_POST
def cancel_access(request, pk: int):
    return cancel_own(request, _visible(request, pk))


def decide_access(request, pk: int):
    qs = ModelAccessRequest.objects.select_related("department", "requester")
    return decide(request, get_object_or_404(qs, pk=pk), hooks.approved_message)
