"""The REST API: ``/api/v1/``, OpenAPI 3.1 at ``/api/v1/openapi.json``, docs at ``/api/v1/docs``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from ninja import NinjaAPI

from . import problems
from .auth import EntraBearer
from .routers import admin, costs, keys, projects, requests
from .throttling import IdentityRateThrottle

api = NinjaAPI(
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
api.add_router("/requests", requests.router)
api.add_router("/costs", costs.router)
api.add_router("/", admin.router)


def urlpatterns():
    """The API's URL patterns, exempt from the session sign-in (bearer tokens instead)."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        callback = getattr(pattern, "callback", None)
        if callback is not None:
            callback.login_required = False
    return patterns, app_name, namespace
