"""The REST API: ``/api/v1/``, OpenAPI 3.1 at ``/api/v1/openapi.json``, docs at ``/api/v1/docs``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from ninja import NinjaAPI

from . import problems
from .auth import EntraBearer
from .routers import (
    admin,
    costs,
    exchange,
    keys,
    model_access,
    pipelines,
    policies,
    projects,
    requests,
)
from .throttling import IdentityRateThrottle

PROBLEM_SCHEMA = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": ["object", "array"]},
    },
    "required": ["type", "title", "status"],
}
PROBLEM_STATUSES = {
    "400": "Bad request",
    "401": "No valid access token",
    "403": "Not allowed for this identity",
    "404": "Not found, or not yours to see",
    "409": "Refused in the object's current state",
    "410": "Gone (a secret already revealed)",
    "422": "Invalid input (schema or the department's policy)",
    "429": "Rate limited: see Retry-After",
    "502": "LiteLLM or Langfuse failed",
}


class PortalAPI(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        """Every operation may answer with a problem document; say so in the document."""
        schema = super().get_openapi_schema(*args, **kwargs)
        schema["components"].setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for item in schema["paths"].values():
            for operation in item.values():
                for status, text in PROBLEM_STATUSES.items():
                    operation["responses"].setdefault(
                        status, {"description": text, "content": content}
                    )
        return schema


api = PortalAPI(
    title="GenAI Portal API",
    version="1.0.0",
    description=(
        "Keys, tuning projects, approvals, costs and administration of the GenAI portal. "
        "Authenticate with an Entra ID access token for the portal's API scope "
        "(people) or app role (service principals registered by infra). Errors are RFC 9457 "
        "problem details; POSTs accept an Idempotency-Key header."
    ),
    auth=EntraBearer(),
    throttle=[IdentityRateThrottle()],
    urls_namespace="api",
    docs_decorator=login_not_required,
)
problems.install(api)
api.add_router("/keys", keys.router)
api.add_router("/projects", projects.router)
api.add_router("/model-access", model_access.router)
api.add_router("/requests", requests.router)
api.add_router("/costs", costs.router)
api.add_router("/policies", policies.router)
api.add_router("/pipelines", pipelines.router)
api.add_router("/", admin.router)
api.add_router("/", exchange.router)


def urlpatterns():
    """The API's URL patterns, exempt from the session sign-in (bearer tokens instead)."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        callback = getattr(pattern, "callback", None)
        if callback is not None:
            callback.login_required = False
    return patterns, app_name, namespace
