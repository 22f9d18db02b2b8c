"""Requests and approvals: mine, my queue, decide. Same rules as the approval pages."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from ninja import Path, Query, Router
from ninja.decorators import decorate_view
from ninja.pagination import paginate

from approvals import workflow
from approvals.forms import DecisionForm
from costs.models import BudgetRequest
from keys.models import KeyExtension, VirtualKey
from modelaccess.models import ModelAccessRequest
from pipelines.models import PipelineIdentity
from projects.models import TuningProject

from ..common import form_problem, people_only, visible
from ..idempotency import idempotent
from ..pagination import PortalCursor
from ..schemas import DecisionIn, RequestOut

router = Router(tags=["requests"])
KINDS = {
    "key": VirtualKey,
    "project": TuningProject,
    "budget": BudgetRequest,
    "pipeline": PipelineIdentity,
    "model": ModelAccessRequest,
    "extension": KeyExtension,
}
KIND_PATTERN = "^(key|project|budget|pipeline|model|extension)$"


def _out(kind: str, obj) -> dict:
    return {
        "kind": kind,
        "id": obj.pk,
        "name": str(getattr(obj, "name", obj)),
        "status": obj.status,
        "department": obj.department.slug,
        "requester": obj.requester.email,
        "justification": obj.justification,
        "created_at": obj.created_at,
        "decided_at": obj.decided_at,
        "decision_comment": obj.decision_comment,
    }


class RequestCursor(PortalCursor):
    """Cursor pages of requests rendered with their kind."""

    def paginate_queryset(self, queryset, pagination, request, **params):
        page = super().paginate_queryset(queryset, pagination, request, **params)
        kind = request.resolver_match.kwargs.get("kind") or request.GET.get("kind", "key")
        page["results"] = [_out(kind, obj) for obj in page["results"]]
        return page


@router.get("/mine", response=list[RequestOut], summary="My requests")
@paginate(RequestCursor, ordering=("-created_at", "-pk"))
def my_requests(request, kind: str = Query("key", pattern=KIND_PATTERN)):
    people_only(request)
    return (
        KINDS[kind].objects.filter(requester=request.user).select_related("department", "requester")
    )


@router.get("/queue", response=list[RequestOut], summary="Waiting for my decision")
@paginate(RequestCursor, ordering=("created_at", "pk"))
def my_queue(request, kind: str = Query("key", pattern=KIND_PATTERN)):
    """Requests this user may decide (leads: their departments; infra: all), oldest first;
    never their own."""
    people_only(request)
    return KINDS[kind].objects.pending_for(request.user).select_related("department", "requester")


@router.post("/{kind}/{int:request_id}/decision", response=RequestOut, summary="Approve or reject")
@decorate_view(idempotent)
def decide(
    request,
    payload: DecisionIn,
    kind: str = Path(..., pattern=KIND_PATTERN),
    request_id: int = Path(...),
):
    """Approval may lower (never raise) what was asked for; rejection needs a comment.
    Nobody decides their own request."""
    people_only(request)
    model = KINDS[kind]
    obj = visible(model, request_id, request.user, "department", "requester")
    if not obj.can_decide(request.user):
        raise PermissionDenied
    data = {k: v for k, v in payload.model_dump().items() if v is not None}
    form = DecisionForm(data, obj=obj)
    if not form.is_valid():
        raise form_problem(form)
    comment = form.cleaned_data["comment"]
    if form.cleaned_data["decision"] == "approve":
        workflow.approve(
            obj, actor=request.user, comment=comment, request=request, **form.lowered()
        )
    else:
        workflow.reject(obj, actor=request.user, comment=comment, request=request)
    obj = get_object_or_404(model.objects.select_related("department", "requester"), pk=obj.pk)
    return _out(kind, obj)
