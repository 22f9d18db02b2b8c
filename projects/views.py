"""Pages for Langfuse tuning projects: request, status, one-time hand-over, manual fulfilment."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from approvals import workflow
from approvals.lifecycle import Status
from approvals.pages import attempt, reveal_once, viewer_context
from approvals.views_decide import decide
from keys.views import ROW_FIELDS
from portal.forms import errors_as_messages
from portal.http import id_or_404
from portal.pagination import page_of
from tenants.access import infra_required

from . import lists, rows
from . import services as projects
from .forms import ManualFulfilmentForm, ProjectRequestForm
from .models import TuningProject


def _visible_project(request, pk) -> TuningProject:
    project = get_object_or_404(
        TuningProject.objects.select_related("department", "requester", "route_key"), pk=pk
    )
    if not project.can_view(request.user):
        raise Http404
    return project


def my_projects(request):
    listq = lists.projects_for(request.user)
    qs = (
        TuningProject.objects.filter(requester=request.user)
        .select_related("department")
        .only(*ROW_FIELDS, "public_key")
    )
    qs = listq.apply(request, qs)
    page = SimpleLazyObject(lambda: page_of(request, qs))  # read only if not cached
    context = {"page": page, "rows": lambda: rows.my_projects(page), "listq": listq}
    return render(request, "projects/my_projects.html", context)


def request_project(request):
    form = ProjectRequestForm(request.POST or None, user=request.user)
    if not form.fields["department"].queryset.exists():
        return render(request, "portal/no_department.html")
    if "extends" in request.GET and not request.POST:
        previous = get_object_or_404(
            TuningProject, pk=id_or_404(request.GET["extends"]), requester=request.user
        )
        form.initial.update(
            {
                "department": previous.department_id,
                "name": previous.name,
                "purpose": previous.purpose,
            }
        )
    if request.method == "POST" and form.is_valid():
        project = form.save(commit=False)
        project.requester = request.user
        workflow.submit(project, request=request)
        messages.success(request, _("Request submitted. Your department's leads have been told."))
        return redirect(project)
    return render(request, "projects/project_request_form.html", {"form": form})


@never_cache
def project_detail(request, pk):
    project = _visible_project(request, pk)
    context = {
        "project": project,
        **viewer_context(request, project),
        "metrics": project.metrics.order_by("-day")[:31],
        "langfuse_host": project.sdk_host,
        "portal_langfuse": settings.LANGFUSE_HOST,
        "manual_form": (
            ManualFulfilmentForm(initial={"langfuse_host": settings.LANGFUSE_HOST})
            if request.user.is_infra
            else None
        ),
        "demo_mode": settings.DEMO_MODE,
    }
    if request.htmx and request.GET.get("part") == "status":
        return render(request, "projects/_project_status.html", context)
    return render(request, "projects/project_detail.html", context)


@require_POST
@never_cache
def reveal_project(request, pk):
    project = _visible_project(request, pk)
    context = {"project": project, "langfuse_host": project.sdk_host}
    return reveal_once(request, project, "projects/project_reveal.html", context)


@sensitive_post_parameters("secret_key")
@sensitive_variables("form")
@require_POST
@infra_required
def fulfil_project(request, pk):
    """Infra created the project by hand (Langfuse without the admin-API entitlement)."""
    project = get_object_or_404(TuningProject, pk=pk)
    form = ManualFulfilmentForm(request.POST)
    if not form.is_valid():
        errors_as_messages(request, form)
        return redirect(project)
    if attempt(request, projects.fulfil_manually, project, **form.cleaned_data):
        messages.success(request, _("Project handed over. The developer can reveal the key once."))
    return redirect(project)


@require_POST
@infra_required
def confirm_teardown(request, pk):
    """Infra deleted a manually fulfilled project by hand in Langfuse."""
    project = get_object_or_404(TuningProject, pk=pk)
    attempt(request, projects.confirm_manual_teardown, project)
    return redirect("operations")


@require_POST
def end_project(request, pk):
    project = _visible_project(request, pk)
    if not (project.requester_id == request.user.pk or request.user.is_infra):
        raise PermissionDenied
    if project.status != Status.ACTIVE:
        messages.error(request, _("Only an active project can be ended."))
    else:
        projects.request_teardown(
            project, status=Status.REVOKED, actor=request.user, request=request
        )
        messages.success(request, _("The project is being deleted."))
    return redirect(project)


def decide_project(request, pk):
    qs = TuningProject.objects.select_related("department", "requester")
    return decide(request, get_object_or_404(qs, pk=pk))
