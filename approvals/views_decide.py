"""The decision page of one request, for every kind: the frame, the stages, the form; each
kind's app adds its facts through ``approvals.panels.DECISION`` and serves its own URL."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from . import decision, why, workflow
from .forms import DecisionForm
from .pages import report_progress


def decide(request, obj, approved_message=None):
    """The decision page of one request; ``approved_message(obj)``, where given, replaces the
    provisioning progress after a final approval."""
    if not obj.can_view(request.user):
        raise Http404
    if not obj.can_decide(request.user):
        raise PermissionDenied
    # A chat card's Approve / Reject buttons open this page with the choice made.
    initial = {"decision": request.GET.get("decision", "")}
    form = DecisionForm(request.POST or None, obj=obj, initial=initial)
    if request.method == "POST" and form.is_valid():
        comment = form.cleaned_data["comment"]
        try:
            if form.cleaned_data["decision"] == "approve":
                result = workflow.approve(
                    obj, actor=request.user, comment=comment, request=request,
                    shown=form.shown(), **form.lowered(),
                )  # fmt: skip
                if result != "approved":  # one vote in a stage of several approvers
                    messages.success(
                        request,
                        _("Your approval is recorded. The request moves on when its stage is."),
                    )
                elif approved_message is not None:
                    messages.success(request, approved_message(obj))
                else:
                    report_progress(request, obj)
            else:
                workflow.reject(
                    obj, actor=request.user, comment=comment, request=request, shown=form.shown()
                )
                messages.success(request, _("Rejected. The requester has been told."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("approval_queue")
    return render(
        request,
        "approvals/decide.html",
        {"obj": obj, "form": form, **decision.context(obj), **why.context(obj, request.user)},
    )
