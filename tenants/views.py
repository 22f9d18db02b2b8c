import datetime

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q, Sum
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal import audit

from .access import department_for_lead, infra_required, visible_departments
from .models import SyncRun


def department_list(request):
    departments = visible_departments(request.user).order_by("name")
    page = Paginator(departments, settings.PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "tenants/department_list.html", {"page": page})


def department_detail(request, slug):
    department = department_for_lead(request.user, slug)
    members = department.memberships.select_related("user").order_by("role", "user__display_name")
    page = Paginator(members, settings.PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "department": department,
        "page": page,
        "projects": _tuning_projects_with_usage(department)[: settings.PAGE_SIZE],
    }
    return render(request, "tenants/department_detail.html", context)


def _tuning_projects_with_usage(department):
    """The department's live tuning projects with their last 30 days from Langfuse."""
    from keys.lifecycle import Status
    from keys.models import TuningProject

    since = timezone.now().date() - datetime.timedelta(days=30)
    recent = Q(metrics__day__gte=since)
    return (
        TuningProject.objects.filter(department=department, status=Status.ACTIVE)
        .select_related("requester")
        .annotate(
            traces_30d=Sum("metrics__traces", filter=recent, default=0),
            tokens_30d=Sum("metrics__total_tokens", filter=recent, default=0),
            cost_30d=Sum("metrics__cost", filter=recent, default=0),
        )
        .order_by("expires_at")
    )


@infra_required
def directory(request):
    runs = SyncRun.objects.select_related("triggered_by")
    page = Paginator(runs, settings.PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "tenants/directory.html", {"page": page})


@infra_required
def directory_run(request, pk):
    run = get_object_or_404(SyncRun.objects.select_related("triggered_by"), pk=pk)
    return render(request, "tenants/directory_run.html", {"run": run})


@require_POST
@infra_required
def directory_sync_now(request):
    from .tasks import sync_directory

    with transaction.atomic():
        run = SyncRun.objects.create(triggered_by=request.user)
        audit.record("directory.sync_requested", run, request=request)
        transaction.on_commit(lambda: sync_directory.delay(run_id=run.pk))
    messages.success(request, _("Directory sync started. Refresh in a moment for its changes."))
    return redirect(run)
