"""Developer, lead and infra pages for virtual keys and the approval queue."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError

from approvals import timeline, workflow
from approvals.lifecycle import Status
from approvals.pages import (
    cancel_own,
    error_text,
    perform,
    report_progress,
    reveal_once,
    viewer_context,
)
from approvals.views_decide import decide
from catalogue import services as catalogue
from portal.http import id_or_404
from portal.integrations.errors import IntegrationError
from portal.pagination import page_of
from tenants.access import infra_required

from . import drift_views, lists, panels, rows, services, setup_snippets
from .forms import KeyRequestForm
from .models import ReconcileRun, VirtualKey


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
    page = SimpleLazyObject(lambda: page_of(request, keys))  # read only if not cached
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
        **viewer_context(request, key),
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
        services.rotate,
        failed=_("Rotation failed, nothing changed: %(error)s"),
        done=_("New secret ready. The old one no longer works."),
    )


@require_POST
def revoke_key(request, pk):
    key = _visible_key(request, pk)
    if not key.can_revoke(request.user):
        raise PermissionDenied
    return perform(
        request,
        key,
        services.revoke,
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
        leavers.unblock,
        failed=_("Not unblocked: %(error)s"),
        done=_("Key unblocked. It works again."),
    )


@require_POST
def cancel_request(request, pk):
    return cancel_own(request, _visible_key(request, pk))


def decide_key(request, pk):
    return decide(
        request,
        get_object_or_404(VirtualKey.objects.select_related("department", "requester"), pk=pk),
    )


@infra_required
def operations(request):
    """Infra's desk: failed provisioning with a retry button, the last reconcile's drift, and
    what other apps add (tuning projects to fulfil or delete by hand)."""
    failed = VirtualKey.objects.filter(status=Status.FAILED).select_related(
        "department", "requester"
    )
    reconcile = ReconcileRun.objects.first()
    context = {
        "page": page_of(request, failed),
        "projects": [],  # filled by the tuning projects' app (keys.panels.OPERATIONS)
        "reconcile": reconcile,
        **drift_views.reconcile_state(request, reconcile),
    }
    panels.run(panels.OPERATIONS, request.user, context)
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
        messages.error(request, _("Reconcile failed: %(error)s") % {"error": error_text(exc)})
        return redirect("operations")
    except OperationalError:  # the broker (Redis) is away: nothing was started
        messages.error(request, _("The task queue cannot be reached; try again in a minute."))
        return redirect("operations")
    run = ReconcileRun.objects.filter(started_at__gte=started).first()
    if run and run.finished_at:
        if run.error:
            messages.error(
                request, _("Reconcile failed: %(error)s") % {"error": error_text(run.error)}
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
