"""Virtual keys: list, get, request, reveal once, rotate, revoke, extend, cancel."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from ninja import Query, Router
from ninja.decorators import decorate_view
from ninja.pagination import paginate

from approvals import workflow
from keys import extensions, services
from keys.extension_forms import ExtensionForm
from keys.forms import KeyRequestForm
from keys.models import VirtualKey
from keys.setup_snippets import snippets

from .. import common
from ..common import RIGHT_KEYS, form_problem, owner_only, require_right, visible
from ..idempotency import idempotent
from ..pagination import PortalCursor
from ..problems import Problem
from ..schemas import ExtendIn, ExtensionOut, KeyOut, KeyRequestIn, SecretOut

router = Router(tags=["keys"])
RELATED = ("department", "requester")
ORDER = ("-created_at", "-pk")


@router.get("", response=list[KeyOut], summary="List keys")
@paginate(PortalCursor, ordering=ORDER)
def list_keys(request, scope: str = Query("mine", pattern="^(mine|visible)$")):
    """``mine``: your own keys; ``visible``: also those of departments you lead (infra: all)."""
    require_right(request, RIGHT_KEYS)
    if request.auth.service:
        scope = "mine"  # a service identity sees only the keys it requested
    return common.scoped(VirtualKey, request.user, scope, *RELATED)


@router.get("/{int:key_id}", response=KeyOut, summary="Get a key")
def get_key(request, key_id: int):
    require_right(request, RIGHT_KEYS)
    return visible(VirtualKey, key_id, request.user, *RELATED)


def submit_key(request, data: dict) -> JsonResponse:
    """Validate with the page's form (the department's policy) and submit through the workflow."""
    who = require_right(request, RIGHT_KEYS)
    if who.service is not None:
        data["kind"] = VirtualKey.Kind.SERVICE  # a pipeline's key is always a service key
    data["department"] = common.department_pk(data.get("department"))
    form = KeyRequestForm(data, user=request.user)
    if not form.is_valid():
        raise form_problem(form)
    key = form.save(commit=False)
    key.requester = request.user
    workflow.submit(key, request=request)
    return common.created(KeyOut, common.fresh(key, *RELATED), f"/api/v1/keys/{key.pk}")


@router.post("", response={201: KeyOut}, summary="Request a key")
@decorate_view(idempotent)
def request_key(request, payload: KeyRequestIn):
    """Checked against the department's policy like the page; auto-approved when the policy
    allows it, else the department's leads decide."""
    return submit_key(request, payload.model_dump())


@router.post("/{int:key_id}/extend", response={201: ExtensionOut}, summary="Extend a key")
@decorate_view(idempotent)
def extend_key(request, key_id: int, payload: ExtendIn):
    """More days on the same key (same secret): decided like a request by the department's
    policy (auto-approved within its rule, else its approvers); once approved the key's
    expiry moves in LiteLLM and here. Owner only; the key must be active."""
    require_right(request, RIGHT_KEYS)
    key = visible(VirtualKey, key_id, request.user, *RELATED)
    owner_only(key, request.user)
    refused = extensions.refusal(key, request.user)
    if refused:
        raise ValidationError(refused)  # 409: not in a state to extend
    data = {"days": payload.lifetime_days, "justification": payload.justification}
    form = ExtensionForm(data, key=key, user=request.user)
    if not form.is_valid():
        raise form_problem(form)
    ext = extensions.request_extension(
        key, actor=request.user, days=payload.lifetime_days,
        justification=payload.justification, request=request,
    )  # fmt: skip
    return common.created(ExtensionOut, common.fresh(ext, "key"), f"/api/v1/keys/{key.pk}")


def litellm_settings(secret: str) -> tuple[str, dict[str, str]]:
    base = settings.LITELLM_PUBLIC_URL or "https://llm.example.com"
    return base, {
        "OPENAI_BASE_URL": base,
        "OPENAI_API_KEY": secret,
        "cline.apiProvider": "openai (OpenAI Compatible)",
        "cline.openAiBaseUrl": base,
        "cline.openAiApiKey": secret,
    }


def secret_response(payload: dict) -> HttpResponse:
    reply = JsonResponse(payload)
    reply["Cache-Control"] = "no-store"
    reply["Pragma"] = "no-cache"
    return reply


@router.post(
    "/{int:key_id}/reveal",
    response={200: SecretOut},
    summary="Reveal the secret once",
    description="Returns the secret once, with Cache-Control: no-store; afterwards 410. "
    "Not idempotent by design: the secret is never stored with a replay.",
)
def reveal_key(request, key_id: int):
    require_right(request, RIGHT_KEYS)
    key = visible(VirtualKey, key_id, request.user, *RELATED)
    secret = workflow.reveal(VirtualKey, key.pk, user=request.user, request=request)
    if secret is None:
        raise Problem(
            410, "Nothing to reveal", "Already shown once, not ready, or not yours.", type_="gone"
        )
    base, client_settings = litellm_settings(secret)
    setup = {s.id: s.text for s in snippets(base, secret, list(key.llm_models or []))}
    return secret_response(
        {
            "id": key.pk,
            "secret": secret,
            "base_url": base,
            "settings": client_settings,
            "setup": setup,
        }
    )


@router.post("/{int:key_id}/rotate", response=KeyOut, summary="Rotate (new secret)")
@decorate_view(idempotent)
def rotate_key(request, key_id: int):
    """A new secret to reveal once; the old one is refused at once. Owner only."""
    require_right(request, RIGHT_KEYS)
    return common.change(request, VirtualKey, key_id, services.rotate, *RELATED)


@router.post("/{int:key_id}/revoke", response=KeyOut, summary="Revoke")
@decorate_view(idempotent)
def revoke_key(request, key_id: int):
    """Owner, a lead of the key's department, or infra (checked again under the lock)."""
    require_right(request, RIGHT_KEYS)
    return common.change(request, VirtualKey, key_id, services.revoke, *RELATED, owner=False)


@router.post("/{int:key_id}/cancel", response=KeyOut, summary="Cancel a pending request")
@decorate_view(idempotent)
def cancel_key(request, key_id: int):
    require_right(request, RIGHT_KEYS)
    return common.cancel_own(request, VirtualKey, key_id, *RELATED)
