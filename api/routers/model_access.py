"""Model access requests: list, get, ask to add or remove a model for a department, cancel."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from ninja import Query, Router
from ninja.decorators import decorate_view
from ninja.pagination import paginate

from modelaccess import actions
from modelaccess.forms import ModelAccessForm
from modelaccess.models import ModelAccessRequest

from .. import common
from ..common import form_problem, people_only, visible
from ..idempotency import idempotent
from ..pagination import PortalCursor
from ..problems import Problem
from ..schemas import ModelAccessIn, ModelAccessOut

router = Router(tags=["model access"])
RELATED = ("department", "requester")


@router.get("", response=list[ModelAccessOut], summary="List model access requests")
@paginate(PortalCursor, ordering=("-created_at", "-pk"))
def list_requests(request, scope: str = Query("mine", pattern="^(mine|visible)$")):
    people_only(request)
    return common.scoped(ModelAccessRequest, request.user, scope, *RELATED)


@router.get("/{int:request_id}", response=ModelAccessOut, summary="Get a model access request")
def get_request(request, request_id: int):
    people_only(request)
    return visible(ModelAccessRequest, request_id, request.user, *RELATED)


@router.post("", response={201: ModelAccessOut}, summary="Ask to add or remove a model")
@decorate_view(idempotent)
def create_request(request, payload: ModelAccessIn):
    """The department's policy decides (infra unless its stages say otherwise); never
    auto-approved. A developer's request goes through their lead where the policy has a
    leads stage."""
    people_only(request)
    data = payload.model_dump()
    data["department"] = common.department_pk(data["department"])
    form = ModelAccessForm(data, user=request.user)
    if not form.is_valid():
        raise form_problem(form)
    obj = form.save(commit=False)
    obj.requester = request.user
    try:
        actions.request_change(obj, request=request)
    except ValidationError as exc:
        raise Problem(409, "Refused", " ".join(exc.messages), type_="refused") from exc
    location = f"/api/v1/model-access/{obj.pk}"
    return common.created(ModelAccessOut, common.fresh(obj, *RELATED), location)


@router.post(
    "/{int:request_id}/cancel", response=ModelAccessOut, summary="Cancel a pending request"
)
@decorate_view(idempotent)
def cancel_request(request, request_id: int):
    people_only(request)
    return common.cancel_own(request, ModelAccessRequest, request_id, *RELATED)
