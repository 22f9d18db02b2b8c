"""``POST /api/v1/token-exchange``: a CI job's OIDC token for a short-lived LiteLLM key.

Shaped after RFC 8693 (OAuth 2.0 Token Exchange): a form-encoded POST with ``grant_type``
``urn:ietf:params:oauth:grant-type:token-exchange``, ``subject_token`` (the CI's JWT) and
``subject_token_type`` ``urn:ietf:params:oauth:token-type:jwt``; no other credential, the
token is the credential. Refusals are problem documents that also carry the OAuth ``error``
code; the token is never echoed.
"""

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.debug import sensitive_post_parameters
from ninja import Form, Router, Schema

from pipelines import exchange as pipeline_exchange
from portal.audit import client_ip

from .. import problems, throttling

router = Router(tags=["pipelines"])

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ISSUED_TYPE = "urn:ietf:params:oauth:token-type:access_token"
OAUTH_ERROR = {400: "invalid_request", 401: "invalid_grant", 403: "invalid_grant",
               429: "slow_down", 502: "temporarily_unavailable"}  # fmt: skip


class ExchangeIn(Schema):
    grant_type: str
    subject_token: str
    subject_token_type: str


class ExchangeOut(Schema):
    access_token: str
    issued_token_type: str
    token_type: str
    expires_in: int
    expires_at: str
    base_url: str
    identity: str


def _problem(request: HttpRequest, status: int, kind: str, title: str, detail: str):
    reply = problems.response(request, problems.Problem(status, title, detail, type_=kind))
    body = {**_json(reply), "error": OAUTH_ERROR.get(status, "invalid_request")}
    answer = JsonResponse(body, status=status, content_type=problems.CONTENT_TYPE)
    answer["Cache-Control"] = "no-store"
    return answer


def _json(reply: JsonResponse) -> dict:
    import json

    return json.loads(reply.content)


def _throttle(key: str) -> bool:
    return throttling.hit(key, settings.PIPELINES_RATE_LIMIT)[0]


@router.post(
    "/token-exchange",
    auth=None,
    throttle=[],
    response={200: ExchangeOut},
    summary="Trade a CI job's OIDC token for a short-lived LiteLLM key (RFC 8693)",
)
@sensitive_post_parameters("subject_token")
def token_exchange(request: HttpRequest, data: Form[ExchangeIn]):
    if data.grant_type != GRANT_TYPE:
        return _problem(request, 400, "unsupported-grant-type", "Unsupported grant type",
                        f"grant_type must be {GRANT_TYPE}.")  # fmt: skip
    if data.subject_token_type != JWT_TYPE:
        return _problem(request, 400, "unsupported-token-type", "Unsupported token type",
                        f"subject_token_type must be {JWT_TYPE}.")  # fmt: skip
    if "\x00" in data.subject_token or len(data.subject_token) > 16384:
        return _problem(request, 400, "malformed", "Malformed token", "The token is malformed.")
    try:
        issued = pipeline_exchange.exchange(
            data.subject_token, source_ip=client_ip(request), throttle=_throttle
        )
    except pipeline_exchange.Refused as refused:
        return _problem(request, refused.status, refused.outcome, "Token exchange refused",
                        refused.detail)  # fmt: skip
    reply = JsonResponse(
        {
            "access_token": issued.secret,
            "issued_token_type": ISSUED_TYPE,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "expires_at": issued.expires_at.isoformat(),
            "base_url": settings.LITELLM_PUBLIC_URL,
            "identity": issued.identity.name,
        }
    )
    reply["Cache-Control"] = "no-store"
    reply["Pragma"] = "no-cache"
    return reply
