"""Developer, lead and infra pages for virtual keys and the approval queue."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from catalogue import services as catalogue
from portal.http import id_or_404
from portal.integrations.errors import IntegrationError
from portal.integrations.explain import explain
from portal.pagination import Paginator
from tenants.access import infra_required

from . import (
    decision,
    drift_views,
    lists,
    panels,
    rows,
    services,
    setup_snippets,
    timeline,
    workflow,
)
from .forms import DecisionForm, KeyRequestForm
from .lifecycle import Status
from .models import ReconcileRun, TuningProject, VirtualKey


def _paginate(request, qs):
    return Paginator(qs, settings.PAGE_SIZE).get_page(request.GET.get("page"))


def _visible_key(request, pk) -> VirtualKey:
    key = get_object_or_404(VirtualKey.objects.select_related("department", "requester"), pk=pk)
    if not key.can_view(request.user):
        raise Http404  # do not confirm that someone else's key exists
    return key


# What the list pages show of each row (the rest of a request is not read).
ROW_FIELDS = ("name", "status", "expires_at", "created_at", "secret_encrypted", "department__name")


def my_keys(request):
    listq = lists.keys_for(request.user)
    keys = (
        VirtualKey.objects.filter(requester=request.user)
        .select_related("department")
        .only(*ROW_FIELDS, "kind", "llm_models", "max_budget", "budget_duration", "secret_last4")
    )
    keys = listq.apply(request, keys)
    page = SimpleLazyObject(lambda: _paginate(request, keys))  # read only if not cached
    context = {"page": page, "rows": lambda: rows.my_keys(page), "listq": listq}
    return render(request, "keys/my_keys.html", context)


def request_key(request):
    extends = None
    if "extends" in request.GET:
        extends = get_object_or_404(
            VirtualKey, pk=id_or_404(request.GET["extends"]), requester=request.user
        )
    form = KeyRequestForm(
        request.POST or None, user=request.user, department=request.GET.get("department")
    )
    if extends and not request.POST:
        form.initial.update(
            {
                "department": extends.department_id,
                "name": extends.name,
                "kind": extends.kind,
                "llm_models": extends.llm_models,
                "max_budget": extends.max_budget,
                "budget_duration": extends.budget_duration,
                "rpm_limit": extends.rpm_limit,
                "tpm_limit": extends.tpm_limit,
                "tags": extends.tags,
            }
        )
    if not form.fields["department"].queryset.exists():
        return render(request, "portal/no_department.html")
    if request.method == "POST" and form.is_valid():
        key = form.save(commit=False)
        key.requester = request.user
        key.extends = extends
        workflow.submit(key, request=request)
        report_progress(request, key, submitted=True)
        return redirect(key)
    return render(request, "keys/request_form.html", {"form": form, "extends": extends})


@never_cache
def key_detail(request, pk):
    key = _visible_key(request, pk)
    context = {
        "key": key,
        "is_owner": key.requester_id == request.user.pk,
        "can_decide": key.is_pending and key.can_decide(request.user),
        "proxy_url": settings.LITELLM_PUBLIC_URL or "https://llm.example.com",
    }
    if key.status == Status.SUSPENDED:
        from . import leavers

        context["unblock_refusal"] = leavers.unblock_refusal(key, request.user)
        context["can_unblock"] = not context["unblock_refusal"]
        context["grace_days"] = leavers.grace_days()
    if request.htmx and request.GET.get("part") == "status":
        return render(request, "keys/_key_status.html", context)
    context["timeline"] = timeline.steps(key)
    context["missing_models"] = catalogue.missing(key.llm_models or [])
    panels.run(panels.KEY_DETAIL, key, context)
    return render(request, "keys/key_detail.html", context)


def _error_text(raw) -> str:
    """An infra error for a message: the explanation, then the service's own text."""
    e = explain(str(raw or ""))
    return f"{e} ({e.raw})" if e else _("no reason given")


def report_progress(request, obj, *, submitted: bool = False) -> None:
    """One message that says where a request stands *now* (re-read after the commit, when an
    in-process worker may already have finished or failed), never a stale promise."""
    obj.refresh_from_db()
    status = obj.status
    if status == Status.SUBMITTED:
        messages.success(request, _("Request submitted. Your department's leads have been told."))
    elif status == Status.FAILED:
        messages.error(
            request,
            _(
                "Approved, but setting it up failed: %(error)s. "
                "The platform team sees it and can retry."
            )
            % {"error": _error_text(obj.last_error)},
        )
    elif status == Status.ACTIVE:
        messages.success(request, _("Approved and ready."))
    elif status == Status.MANUAL:
        messages.info(request, _("Approved. The platform team will set it up by hand."))
    elif submitted:
        messages.success(
            request,
            _(
                "Approved automatically by your department's policy. "
                "A worker is setting it up; this page updates itself."
            ),
        )
    else:
        messages.success(request, _("Approved. A worker is setting it up."))


@sensitive_variables("secret", "extra", "response")
def reveal_once(request, obj, template: str, context: dict, *, with_secret=None):
    """Show ``obj``'s secret to its owner once (never cached), or say why not.
    ``with_secret(secret)`` adds what is built from the secret (the setup snippets)."""
    secret = workflow.reveal(type(obj), obj.pk, user=request.user, request=request)
    if secret is None:
        messages.error(request, _("This secret has already been shown once, or is not yours."))
        return redirect(obj)
    extra = with_secret(secret) if with_secret else {}
    response = render(request, template, {**context, **extra, "secret": secret})
    response["Cache-Control"] = "no-store"
    return response


def perform(request, obj, action, *, failed: str, done: str):
    """Run a state change; report a refusal or a service failure on the page, never a 500."""
    try:
        action()
    except ValidationError as exc:
        messages.error(request, failed % {"error": " ".join(exc.messages)})
    except IntegrationError as exc:
        messages.error(request, failed % {"error": _error_text(exc)})
    else:
        messages.success(request, done)
    return redirect(obj)


@require_POST
@never_cache
def reveal_key(request, pk):
    key = _visible_key(request, pk)
    proxy_url = settings.LITELLM_PUBLIC_URL or "https://llm.example.com"
    models = list(key.llm_models or [])
    return reveal_once(
        request,
        key,
        "keys/reveal.html",
        {"key": key},
        with_secret=lambda secret: {"snippets": setup_snippets.snippets(proxy_url, secret, models)},
    )


@require_POST
def rotate_key(request, pk):
    key = _visible_key(request, pk)
    if key.requester_id != request.user.pk:
        raise PermissionDenied
    return perform(
        request,
        key,
        lambda: services.rotate(key, actor=request.user, request=request),
        failed=_("Rotation failed, nothing changed: %(error)s"),
        done=_("New secret ready. The old one no longer works."),
    )


@require_POST
def revoke_key(request, pk):
    key = _visible_key(request, pk)
    allowed = (
        key.requester_id == request.user.pk
        or request.user.is_infra
        or request.user.is_lead_of(key.department)
    )
    if not allowed:
        raise PermissionDenied
    return perform(
        request,
        key,
        lambda: services.revoke(key, actor=request.user, request=request),
        failed=_("Revocation failed: %(error)s"),
        done=_("Key revoked. It no longer works."),
    )


@require_POST
def unblock_key(request, pk):
    """A lead unblocks a leaver's suspended key once its owner is back in the department."""
    from . import leavers

    key = _visible_key(request, pk)
    return perform(
        request,
        key,
        lambda: leavers.unblock(key, actor=request.user, request=request),
        failed=_("Not unblocked: %(error)s"),
        done=_("Key unblocked. It works again."),
    )


@require_POST
def cancel_request(request, pk):
    key = _visible_key(request, pk)
    if key.requester_id != request.user.pk:
        raise PermissionDenied
    try:
        workflow.cancel(key, actor=request.user, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Request cancelled."))
    return redirect(key)


# What the queue's rows show (the rest of a request is not read): who, where, when, what.
def decide(request, obj, approved_message=None):
    """The decision page of one request; ``approved_message(obj)``, where given, replaces the
    provisioning progress after a final approval (an app above ``keys`` decides its own kinds
    through this page)."""
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
    return render(request, "keys/decide.html", {"obj": obj, "form": form, **decision.context(obj)})


def decide_key(request, pk):
    return decide(
        request,
        get_object_or_404(VirtualKey.objects.select_related("department", "requester"), pk=pk),
    )


def decide_project(request, pk):
    return decide(
        request,
        get_object_or_404(TuningProject.objects.select_related("department", "requester"), pk=pk),
    )


@infra_required
def operations(request):
    """Infra's desk: failed provisioning with a retry button, tuning projects to fulfil or
    delete by hand, and the last reconcile's drift."""
    failed = VirtualKey.objects.filter(status=Status.FAILED).select_related(
        "department", "requester"
    )
    needs_infra = Q(status__in=[Status.FAILED, Status.MANUAL]) | Q(
        fulfilment=TuningProject.Fulfilment.MANUAL,
        ended_at__isnull=False,
        torn_down_at__isnull=True,
    )
    projects = TuningProject.objects.filter(needs_infra).select_related("department", "requester")
    reconcile = ReconcileRun.objects.first()
    context = {
        "page": _paginate(request, failed),
        "projects": projects[: settings.PAGE_SIZE],
        "reconcile": reconcile,
        **drift_views.reconcile_state(request, reconcile),
    }
    if request.htmx and request.GET.get("part") == "reconcile":
        return render(request, "keys/_reconcile.html", context)
    return render(request, "keys/operations.html", context)


@require_POST
@infra_required
def run_reconcile(request):
    from .tasks import reconcile_keys

    started = timezone.now()
    try:
        reconcile_keys.delay()
    except IntegrationError as exc:  # in-process (demo): the run itself failed
        messages.error(request, _("Reconcile failed: %(error)s") % {"error": _error_text(exc)})
        return redirect("operations")
    run = ReconcileRun.objects.filter(started_at__gte=started).first()
    if run and run.finished_at:
        if run.error:
            messages.error(
                request, _("Reconcile failed: %(error)s") % {"error": _error_text(run.error)}
            )
        else:
            messages.success(
                request,
                ngettext(
                    "Reconcile finished: %(n)s finding, shown below.",
                    "Reconcile finished: %(n)s findings, shown below.",
                    len(run.findings),
                )
                % {"n": len(run.findings)},
            )
    else:
        messages.success(
            request, _("Reconcile started. Its findings appear below when it finishes.")
        )
        return redirect(f"{reverse('operations')}?waiting={int(started.timestamp())}")
    return redirect("operations")


@require_POST
@infra_required
def retry_request(request, kind, pk):
    model = {"key": VirtualKey, "project": TuningProject}.get(kind)
    if model is None:
        raise Http404
    obj = get_object_or_404(model, pk=pk)
    try:
        workflow.retry_failed(obj, actor=request.user, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("operations")
    obj.refresh_from_db()
    if obj.status == Status.FAILED:
        messages.error(
            request,
            _("Retried %(name)s: it failed again: %(error)s")
            % {"name": obj.name, "error": _error_text(obj.last_error)},
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
