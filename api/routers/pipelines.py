"""Pipeline identities: list, get, request (through the approval workflow), disable."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from ninja import Query, Router
from ninja.decorators import decorate_view
from ninja.pagination import paginate

from approvals import workflow
from pipelines import disabling
from pipelines.forms import IdentityRequestForm
from pipelines.models import PipelineIdentity

from .. import common
from ..common import form_problem, people_only, visible
from ..idempotency import idempotent
from ..pagination import PortalCursor
from ..problems import Problem
from ..schemas import PipelineIdentityIn, PipelineIdentityOut

router = Router(tags=["pipelines"])
RELATED = ("department", "requester")


@router.get("", response=list[PipelineIdentityOut], summary="List pipeline identities")
@paginate(PortalCursor, ordering=("-created_at", "-pk"))
def list_identities(request, scope: str = Query("mine", pattern="^(mine|visible)$")):
    """``mine``: your own; ``visible``: also those of departments you lead (infra: all)."""
    people_only(request)
    return common.scoped(PipelineIdentity, request.user, scope, *RELATED)


@router.get("/{int:identity_id}", response=PipelineIdentityOut, summary="Get a pipeline identity")
def get_identity(request, identity_id: int):
    people_only(request)
    return visible(PipelineIdentity, identity_id, request.user, *RELATED)


@router.post("", response={201: PipelineIdentityOut}, summary="Request a pipeline identity")
@decorate_view(idempotent)
def request_identity(request, payload: PipelineIdentityIn):
    """Checked by the page's form against the department's policy, then decided as the policy
    says (auto-approval and stage conditions apply); trusted once approved and set up."""
    people_only(request)
    data = payload.model_dump()
    data["department"] = common.department_pk(data["department"])
    form = IdentityRequestForm(data, user=request.user)
    if not form.is_valid():
        raise form_problem(form)
    identity = form.save(commit=False)
    identity.requester = request.user
    workflow.submit(identity, request=request)
    location = f"/api/v1/pipelines/{identity.pk}"
    return common.created(PipelineIdentityOut, common.fresh(identity, *RELATED), location)


@router.post("/{int:identity_id}/disable", response=PipelineIdentityOut, summary="Disable")
@decorate_view(idempotent)
def disable_identity(request, identity_id: int, reason: str = Query("", max_length=300)):
    """Owner, a lead of its department, or infra. Its pipelines get no more keys; its live
    keys are deleted from LiteLLM once the change is committed."""
    people_only(request)
    identity = visible(PipelineIdentity, identity_id, request.user, *RELATED)
    if not disabling.may_disable(identity, request.user):
        raise PermissionDenied
    if "\x00" in reason:
        raise Problem(422, "Invalid request", "reason: no NUL characters.", type_="invalid-request")
    disabling.disable(identity, actor=request.user, request=request, reason=reason)
    return common.fresh(identity, *RELATED)
