"""Approvers' pages: the one queue of every request waiting for you (with bulk decisions),
delegations, and infra's SLA figures."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponsePermanentRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenants.access import infra_required

from . import delegation, engine, registry, sla
from . import queue as queue_rows
from .forms import BulkDecisionForm, DelegationForm
from .models import Delegation, RequestStage
from .models import StageState as S


def queue(request):
    """The one approval queue: every kind the user decides, filtered and sorted, with the
    current stage and whose place the user stands in; several can be decided at once."""
    listq = queue_rows.list_query(request)
    # Read only when the template's cached fragment is out of date (see queue.html).
    page = SimpleLazyObject(lambda: queue_rows.page(request, listq))
    context = {
        "listq": listq,
        "page": page,
        "form": BulkDecisionForm(),
        "covering": lambda: delegation.delegators_of(request.user),  # in the cached part
    }
    return render(request, "approvals/queue.html", context)


def old_queue(request):
    """``/approvals/inbox/`` was the second list; it is the queue now (the query string kept)."""
    url = reverse("approval_queue")
    query = request.META.get("QUERY_STRING", "")
    return HttpResponsePermanentRedirect(f"{url}?{query}" if query else url)


@require_POST
def bulk_decide(request):
    """Decide several requests at once; each one goes through every check on its own."""
    form = BulkDecisionForm(request.POST)
    if not form.is_valid():
        for error in form.errors.values():
            messages.error(request, " ".join(error))
        return redirect("approval_queue")
    approve = form.cleaned_data["decision"] == "approve"
    comment = form.cleaned_data["comment"]
    done, refused = 0, []
    for kind_label, pk, stage_id in form.cleaned_data["parsed"]:
        kind = registry.KINDS.get(kind_label)
        obj = kind.model._default_manager.filter(pk=pk).first() if kind else None
        if obj is None or not obj.can_view(request.user):
            refused.append(_("a request you cannot see"))
            continue
        try:
            engine.decide(
                obj, actor=request.user, approve=approve, comment=comment, request=request,
                via="bulk", shown=engine.Shown(stage_id) if stage_id else None,
            )  # fmt: skip
            done += 1
        except PermissionDenied:
            refused.append(_("%(name)s: not yours to decide") % {"name": obj})
        except ValidationError as exc:
            refused.append(f"{obj}: {' '.join(exc.messages)}")
    if done:
        messages.success(request, _("%(count)d request(s) decided.") % {"count": done})
    if refused:
        messages.error(request, _("Not decided: %(list)s") % {"list": "; ".join(refused)})
    return redirect("approval_queue")


def delegations(request):
    form = DelegationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            delegation.create(
                delegator=request.user, delegate=data["delegate"], starts_on=data["starts_on"],
                ends_on=data["ends_on"], reason=data["reason"], actor=request.user,
                request=request,
            )  # fmt: skip
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                _("%(person)s decides for you from %(start)s to %(end)s.")
                % {"person": data["delegate"], "start": data["starts_on"], "end": data["ends_on"]},
            )
            return redirect("delegations")
    mine = Delegation.objects.filter(delegator=request.user).select_related("delegate")
    covering = Delegation.objects.filter(delegate=request.user).select_related("delegator")
    context = {"form": form, "mine": mine[:50], "covering": covering[:50]}
    return render(request, "approvals/delegations.html", context)


@require_POST
def end_delegation(request, pk):
    obj = get_object_or_404(Delegation, pk=pk)
    if request.user.pk not in (obj.delegator_id, obj.delegate_id) and not request.user.is_infra:
        raise PermissionDenied
    delegation.end(obj, actor=request.user, request=request)
    messages.success(request, _("Delegation ended."))
    return redirect("delegations")


@infra_required
def sla_report(request):
    """Time in each stage per department (median, p90, working hours) and the oldest waits."""
    waiting = (
        RequestStage.objects.filter(state=S.ACTIVE)
        .select_related("department", "content_type")
        .order_by("started_at")[: settings.PAGE_SIZE]
    )
    context = {"rows": sla.time_in_stage(), "waiting": waiting}
    return render(request, "approvals/sla.html", context)
