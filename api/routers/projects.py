"""Langfuse tuning projects: list, get, request, reveal the key pair once, end, cancel."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from ninja import Query, Router
from ninja.decorators import decorate_view
from ninja.pagination import paginate

from approvals import workflow
from approvals.lifecycle import Status
from projects import services as projects
from projects.forms import ProjectRequestForm
from projects.models import TuningProject

from .. import common
from ..common import form_problem, people_only, visible
from ..idempotency import idempotent
from ..pagination import PortalCursor
from ..problems import Problem
from ..schemas import ProjectOut, ProjectRequestIn
from .keys import secret_response

router = Router(tags=["projects"])
RELATED = ("department", "requester")


def _get(request, project_id: int) -> TuningProject:
    return visible(TuningProject, project_id, request.user, *RELATED)


@router.get("", response=list[ProjectOut], summary="List tuning projects")
@paginate(PortalCursor, ordering=("-created_at", "-pk"))
def list_projects(request, scope: str = Query("mine", pattern="^(mine|visible)$")):
    people_only(request)
    return common.scoped(TuningProject, request.user, scope, *RELATED)


@router.get("/{int:project_id}", response=ProjectOut, summary="Get a tuning project")
def get_project(request, project_id: int):
    people_only(request)
    return _get(request, project_id)


@router.post("", response={201: ProjectOut}, summary="Request a tuning project")
@decorate_view(idempotent)
def request_project(request, payload: ProjectRequestIn):
    people_only(request)
    data = payload.model_dump()
    data["department"] = common.department_pk(data["department"])
    data["route_key"] = data["route_key"] or ""
    data["retention_days"] = "" if data["retention_days"] is None else data["retention_days"]
    form = ProjectRequestForm(data, user=request.user)
    if not form.is_valid():
        raise form_problem(form)
    project = form.save(commit=False)
    project.requester = request.user
    workflow.submit(project, request=request)
    location = f"/api/v1/projects/{project.pk}"
    return common.created(ProjectOut, common.fresh(project, *RELATED), location)


@router.post(
    "/{int:project_id}/reveal",
    response={200: dict},
    summary="Reveal the Langfuse key pair once",
    description="Cache-Control: no-store; afterwards 410. Not idempotent by design.",
)
def reveal_project(request, project_id: int):
    people_only(request)
    project = _get(request, project_id)
    secret = workflow.reveal(TuningProject, project.pk, user=request.user, request=request)
    if secret is None:
        raise Problem(410, "Nothing to reveal", "Already shown once, or not yours.", type_="gone")
    host = settings.LANGFUSE_HOST
    return secret_response(
        {
            "id": project.pk,
            "secret": secret,
            "settings": {
                "LANGFUSE_HOST": host,
                "LANGFUSE_PUBLIC_KEY": project.public_key,
                "LANGFUSE_SECRET_KEY": secret,
            },
        }
    )


@router.post("/{int:project_id}/end", response=ProjectOut, summary="End the lease now")
@decorate_view(idempotent)
def end_project(request, project_id: int):
    people_only(request)
    project = _get(request, project_id)
    if not (project.requester_id == request.user.pk or request.user.is_infra):
        raise PermissionDenied
    if project.status != Status.ACTIVE:
        raise Problem(409, "Refused", "Only an active project can be ended.", type_="refused")
    projects.request_teardown(project, status=Status.REVOKED, actor=request.user, request=request)
    return common.fresh(project, *RELATED)


@router.post("/{int:project_id}/cancel", response=ProjectOut, summary="Cancel a pending request")
@decorate_view(idempotent)
def cancel_project(request, project_id: int):
    people_only(request)
    return common.cancel_own(request, TuningProject, project_id, *RELATED)
