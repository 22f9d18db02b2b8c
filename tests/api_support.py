"""Fixtures for the REST API tests: the organisation, the Entra double trusted by the API,
tokens for each person, and registered service identities."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from api.identities import save_service_identity
from api.models import ServiceIdentity

from .doubles.entra_api import entra_api  # noqa: F401


class Api:
    """Calls ``/api/v1/`` with a bearer token through Django's test client."""

    def __init__(self, double) -> None:
        self.double = double
        self.client = Client()

    def token(self, who) -> str:
        if isinstance(who, ServiceIdentity):
            return self.double.app_token(who.app_id)
        return self.double.api_token(who.entra_oid)

    def call(self, who, method: str, path: str, body=None, token: str | None = None, **headers):
        if who is not None or token is not None:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {token or self.token(who)}"
        send = getattr(self.client, method.lower())
        if body is not None:
            return send(f"/api/v1{path}", json.dumps(body), "application/json", **headers)
        return send(f"/api/v1{path}", **headers)

    def get(self, who, path, **headers):
        return self.call(who, "GET", path, **headers)

    def post(self, who, path, body=None, **headers):
        return self.call(who, "POST", path, body if body is not None else {}, **headers)


def register_service(org, name: str, *, keys: bool = False, costs: bool = False, dept=None):
    identity = ServiceIdentity(
        name=name,
        app_id=f"app-{name}",
        tenant_id="",
        department=dept or org["a"],
        can_request_keys=keys,
        can_read_costs=costs,
    )
    return identity


@pytest.fixture
def api(org, entra_api):  # noqa: F811
    # No cache.clear(): in tests the API cache shares Redis with Celery. Rate counters are per
    # user/service id, which the database never reuses, so tests do not share them.
    for name in ("lead_a", "dev_a", "lead_b", "dev_b", "infra", "nobody"):
        user = org[name]
        entra_api.add_user(oid=user.entra_oid, email=user.email, name=str(user))
    services = {}
    for name, rights in {
        "sp_keys": {"keys": True},
        "sp_costs": {"costs": True},
        "sp_none": {},
    }.items():
        identity = register_service(org, name, **rights)
        identity.tenant_id = entra_api.tenant_id
        save_service_identity(identity, actor=org["infra"])
        services[name] = identity
    org.update(services)
    return Api(entra_api)


KEY_BODY = {
    "department": "alpha",
    "name": "support-bot",
    "kind": "personal",
    "llm_models": ["gpt-4o-mini"],
    "max_budget": "20",
    "budget_duration": "30d",
    "rpm_limit": 10,
    "tpm_limit": 1000,
    "lifetime_days": 30,
    "justification": "Support triage bot",
}
