from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal import audit
from portal.pagination import Paginator

from . import panels
from .access import department_for_lead, infra_required, visible_departments
from .directory import SYNC_REQUESTED
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
    }
    panels.run(panels.DEPARTMENT_DETAIL, department, context)
    return render(request, "tenants/department_detail.html", context)


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
        audit.record(SYNC_REQUESTED, run, request=request)
        transaction.on_commit(lambda: sync_directory.delay(run_id=run.pk), robust=True)
    messages.success(request, _("Directory sync started. Refresh in a moment for its changes."))
    return redirect(run)
