"""The Langfuse double pinned to the real server: the same client calls against both, then the
status codes and the response shapes (field paths) are compared.

The double stays for what a real server cannot be made to do on demand (outages, throttling,
crash windows). Every difference it still has from the real Langfuse 4.16 is listed in
``EXPLAINED`` with the reason; an unexplained difference, or an explained one that is gone,
fails this test.
"""

from __future__ import annotations

import contextlib
import datetime
import uuid
from typing import Any

import httpx
import pytest

from portal.days import utc_today
from portal.integrations.errors import IntegrationError
from portal.integrations.langfuse import LangfuseClient

from .doubles.langfuse import LangfuseDouble

pytestmark = [pytest.mark.langfuse_real]

#: (step, kind, detail) -> why the double differs from the real server there.
EXPLAINED: dict[tuple[str, str, str], str] = {}


class Recorder(httpx.HTTPTransport):
    """Keeps (method, path, status, body) of every response the client receives."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, int, Any]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.read()
        try:
            body = response.json()
        except ValueError:
            body = response.text
        self.calls.append((request.method, request.url.path, response.status_code, body))
        return response


def shape(body: Any, prefix: str = "") -> set[str]:
    """Field paths of a JSON body: ``a``, ``a.b``, ``list[].c`` (a list by its first item)."""
    paths: set[str] = set()
    if isinstance(body, dict):
        for key, value in body.items():
            path = f"{prefix}{key}"
            paths.add(path)
            if key != "metadata":  # free-form: its keys are data, not shape
                paths |= shape(value, path + ".")
    elif isinstance(body, list) and body:
        paths |= shape(body[0], prefix.rstrip(".") + "[].")
    return paths


def scenario(
    client: LangfuseClient, org_secret: str, recorder: Recorder
) -> list[tuple[str, int, set[str]]]:
    """The portal's calls in the order a tuning project's life makes them."""
    suffix = uuid.uuid4().hex[:6]
    name = f"tuning-contract-{suffix}"
    email = f"dev-{suffix}@example.com"
    today = utc_today()  # Langfuse's metrics days are UTC days
    steps: list[tuple[str, int, set[str]]] = []

    def step(label: str, call) -> Any:
        before = len(recorder.calls)
        try:
            result = call()
        except IntegrationError:
            result = None
        for method, _path, status, body in recorder.calls[before:]:
            steps.append((f"{label}: {method}", status, shape(body)))
        return result

    step("health", client.health)
    metadata = {"portal_request_id": 1}
    project = step(
        "create project",
        lambda: client.create_project(name, retention_days=7, metadata=metadata),
    )
    step("duplicate project", lambda: client.create_project(name))
    step("invalid project name", lambda: client.create_project("x"))
    step("list projects", client.list_projects)
    step("update project", lambda: client.update_project(project.id, name, retention_days=3))
    key = step("create key", lambda: client.create_api_key(project.id, note="developer"))
    step("list keys", lambda: client.list_api_keys(project.id))
    step("project of a key", lambda: client.project_for_key(key.public_key, key.secret_key))
    as_project = LangfuseClient(client.host, key.public_key, key.secret_key, transport=recorder)
    step("project key on an admin route", as_project.list_projects)
    probe = {"view": "observations", "metrics": [{"measure": "count", "aggregation": "count"}]}
    step("org key on metrics", lambda: client.metrics_v2(probe, client.public_key, org_secret))
    user = step("scim create user", lambda: client.ensure_user(email))
    step("scim find user", lambda: client.find_user_by_email(email))
    step("add member", lambda: client.upsert_project_membership(project.id, user.id, "MEMBER"))
    step("list members", lambda: client.list_project_memberships(project.id))
    step("remove member", lambda: client.delete_project_membership(project.id, user.id))
    step(
        "metrics",
        lambda: client.daily_project_metrics(
            key.public_key, key.secret_key, today, today + datetime.timedelta(days=1)
        ),
    )
    step("delete key", lambda: client.delete_api_key(project.id, key.id))
    step("delete key again", lambda: client.delete_api_key(project.id, key.id))
    step("delete project", lambda: client.delete_project(project.id))
    step("keys of a deleted project", lambda: client.list_api_keys(project.id))
    return steps


def unlicensed_scenario(client: LangfuseClient, recorder: Recorder):
    steps = []
    for label, call in (
        ("list projects", client.list_projects),
        ("create project", lambda: client.create_project("tuning-unlicensed")),
        ("scim find user", lambda: client.find_user_by_email("dev@example.com")),
    ):
        before = len(recorder.calls)
        with contextlib.suppress(IntegrationError):
            call()
        for method, _path, status, body in recorder.calls[before:]:
            steps.append((f"{label}: {method}", status, shape(body)))
    return steps


def differences(real, double) -> dict[tuple[str, str, str], None]:
    found: dict[tuple[str, str, str], None] = {}
    assert [s[0] for s in real] == [s[0] for s in double], (real, double)
    for (label, real_status, real_shape), (_, double_status, double_shape) in zip(
        real, double, strict=True
    ):
        if real_status != double_status:
            found[(label, "status", f"real {real_status}, double {double_status}")] = None
        for path in sorted(real_shape - double_shape):
            found[(label, "missing in double", path)] = None
        for path in sorted(double_shape - real_shape):
            found[(label, "only in double", path)] = None
    return found


def run(url: str, public_key: str, secret_key: str, fn, *args):
    recorder = Recorder()
    client = LangfuseClient(url, public_key, secret_key, transport=recorder, timeout=60)
    return fn(client, *args, recorder) if args else fn(client, recorder)


def test_double_matches_the_real_server(langfuse_server):
    org = langfuse_server.org
    real = run(langfuse_server.url, org.public_key, org.secret_key, scenario, org.secret_key)
    with LangfuseDouble() as double:
        fake = run(double.url, double.org_public_key, double.org_secret_key, scenario,
                   double.org_secret_key)  # fmt: skip
        assert not double.take_errors()
    found = differences(real, fake)
    unexplained = [d for d in found if d not in EXPLAINED]
    gone = [d for d in EXPLAINED if d[0].split(":")[0] in {s[0].split(":")[0] for s in real}
            and d not in found and not d[0].startswith("unlicensed")]  # fmt: skip
    assert not unexplained, "the double differs from the real Langfuse:\n" + "\n".join(
        map(str, unexplained)
    )
    assert not gone, "explained deviations that no longer occur:\n" + "\n".join(map(str, gone))


def test_double_without_entitlement_matches_the_unlicensed_server(langfuse_server_oss):
    org = langfuse_server_oss.org
    real = run(langfuse_server_oss.url, org.public_key, org.secret_key, unlicensed_scenario)
    with LangfuseDouble(entitlement=False) as double:
        fake = run(double.url, double.org_public_key, double.org_secret_key, unlicensed_scenario)
    found = differences(real, fake)
    unexplained = [d for d in found if ("unlicensed " + d[0], d[1], d[2]) not in EXPLAINED]
    assert not unexplained, "\n".join(map(str, unexplained))
