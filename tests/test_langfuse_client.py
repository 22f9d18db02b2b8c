"""LangfuseClient against the spec-validating Langfuse double (a real HTTP server)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest

from portal.integrations.errors import Conflict, NotFound, Rejected, Unavailable
from portal.integrations.langfuse import ENTITLEMENT_MESSAGE, EntitlementMissing, LangfuseClient
from portal.integrations.langfuse_metrics import DailyMetrics
from tests.doubles.langfuse import LangfuseDouble, load_spec
from tests.doubles.langfuse import langfuse_double as langfuse_double  # noqa: F401 (fixture)


@pytest.fixture
def double(langfuse_double: LangfuseDouble) -> LangfuseDouble:
    return langfuse_double


@pytest.fixture
def client(double: LangfuseDouble):
    with double.client() as c:
        yield c


# -- projects --------------------------------------------------------------------------------


def test_health(client):
    assert client.health() == {"status": "OK", "version": "4.16.0"}


def test_project_lifecycle(client, double):
    assert client.find_project_by_name("tuning-alpha") is None
    project = client.create_project(
        "tuning-alpha", retention_days=30, metadata={"department": "alpha", "lease": "42"}
    )
    assert project.name == "tuning-alpha"
    assert project.retention_days == 30
    assert project.metadata == {"department": "alpha", "lease": "42"}

    found = client.find_project_by_name("tuning-alpha")
    assert found is not None and found.id == project.id
    assert [p.name for p in client.list_projects()] == ["tuning-alpha"]

    renamed = client.update_project(project.id, "tuning-alpha-2", retention_days=7)
    assert (renamed.name, renamed.retention_days) == ("tuning-alpha-2", 7)
    assert renamed.metadata == {"department": "alpha", "lease": "42"}  # kept when omitted

    key = client.create_api_key(project.id)
    message = client.delete_project(project.id)
    assert "asynchronously" in message
    assert client.find_project_by_name("tuning-alpha-2") is None
    assert not any(k["publicKey"] == key.public_key for k in double.api_keys.values())
    with pytest.raises(NotFound):
        client.delete_project(project.id)


def test_duplicate_project_name_is_conflict_and_ensure_is_idempotent(client, double):
    first, created = client.ensure_project("tuning-beta", metadata={"lease": "1"})
    assert created
    with pytest.raises(Conflict) as exc:
        client.create_project("tuning-beta")
    assert exc.value.status == 409
    again, created_again = client.ensure_project("tuning-beta")
    assert (again.id, created_again) == (first.id, False)
    assert double.create_project_calls == 2  # ensure() did not POST a second time
    assert len(client.list_projects()) == 1


def test_invalid_project_name_is_rejected_with_the_real_message(client):
    with pytest.raises(Rejected) as exc:
        client.create_project("ab")
    assert exc.value.status == 400
    assert "Invalid project name. Should be between 3 and 60 characters." in exc.value.message


# -- API keys --------------------------------------------------------------------------------


def test_api_key_create_list_delete(client, double, caplog):
    caplog.set_level(logging.DEBUG)
    project = client.create_project("tuning-keys")
    key = client.create_api_key(project.id, note="lease 42")
    assert key.public_key.startswith("pk-lf-") and key.secret_key.startswith("sk-lf-")
    assert key.display_secret_key == f"sk-lf-...{key.secret_key[-4:]}"
    assert key.secret_key not in repr(key)
    assert key.secret_key not in caplog.text

    listed = client.list_api_keys(project.id)
    assert [(k.id, k.note, k.secret_key) for k in listed] == [(key.id, "lease 42", None)]

    # The new pair reads this project's data.
    assert client.project_for_key(key.public_key, key.secret_key).id == project.id

    client.delete_api_key(project.id, key.id)
    assert client.list_api_keys(project.id) == []
    with pytest.raises(NotFound) as exc:
        client.delete_api_key(project.id, key.id)
    assert exc.value.message == "API key not found"
    with pytest.raises(Rejected) as exc:
        client.project_for_key(key.public_key, key.secret_key)
    assert exc.value.status == 401


def test_predefined_api_keys(client):
    project = client.create_project("tuning-predef")
    key = client.create_api_key(project.id, public_key="pk-lf-fixed", secret_key="sk-lf-fixed-1")
    assert (key.public_key, key.secret_key) == ("pk-lf-fixed", "sk-lf-fixed-1")
    with pytest.raises(Conflict):
        client.create_api_key(project.id, public_key="pk-lf-fixed", secret_key="sk-lf-other")
    with pytest.raises(Rejected):
        client.create_api_key(project.id, public_key="pk-wrong", secret_key="sk-lf-x")


# -- memberships and users -------------------------------------------------------------------


def test_org_and_project_memberships(client, double):
    project = client.create_project("tuning-members")
    user_id = double.add_user("Dev@Example.com", "Dev One")
    with pytest.raises(NotFound, match="not a member"):
        client.upsert_project_membership(project.id, user_id, "MEMBER")

    org = client.upsert_org_membership(user_id, "NONE")
    assert (org.user_id, org.role, org.email) == (user_id, "NONE", "dev@example.com")
    member = client.upsert_project_membership(project.id, user_id, "MEMBER")
    assert member.role == "MEMBER"
    assert [(m.user_id, m.role) for m in client.list_project_memberships(project.id)] == [
        (user_id, "MEMBER")
    ]
    assert [m.user_id for m in client.list_org_memberships()] == [user_id]

    client.delete_project_membership(project.id, user_id)
    assert client.list_project_memberships(project.id) == []
    with pytest.raises(NotFound):
        client.delete_project_membership(project.id, user_id)
    client.delete_org_membership(user_id)
    client.delete_org_membership(user_id)  # idempotent
    assert client.list_org_memberships() == []
    with pytest.raises(NotFound, match="User not found"):
        client.upsert_org_membership("no-such-user", "VIEWER")


def test_scim_user_lookup_and_creation(client):
    assert client.find_user_by_email("new@example.com") is None
    user = client.create_user("New@Example.com", display_name="New Person")
    assert (user.user_name, user.display_name, user.emails) == (
        "new@example.com",
        "New Person",
        ("new@example.com",),
    )
    assert client.find_user_by_email("NEW@example.com") == user
    assert client.get_user(user.id) == user
    assert [(m.user_id, m.role) for m in client.list_org_memberships()] == [(user.id, "NONE")]
    with pytest.raises(Conflict):
        client.create_user("new@example.com")
    assert client.ensure_user("new@example.com") == user


# -- entitlement -----------------------------------------------------------------------------

ADMIN_CALLS = {
    "list_projects": lambda c: c.list_projects(),
    "create_project": lambda c: c.create_project("tuning-x"),
    "delete_project": lambda c: c.delete_project("p1"),
    "list_api_keys": lambda c: c.list_api_keys("p1"),
    "create_api_key": lambda c: c.create_api_key("p1"),
    "org_memberships": lambda c: c.list_org_memberships(),
    "project_membership": lambda c: c.upsert_project_membership("p1", "u1", "MEMBER"),
    "scim_find": lambda c: c.find_user_by_email("a@example.com"),
    "scim_create": lambda c: c.create_user("a@example.com"),
}


@pytest.mark.parametrize("call", ADMIN_CALLS.values(), ids=ADMIN_CALLS.keys())
def test_missing_entitlement_raises_entitlement_missing(client, double, call):
    double.entitlement = False
    with pytest.raises(EntitlementMissing) as exc:
        call(client)
    assert exc.value.status == 403
    assert ENTITLEMENT_MESSAGE in exc.value.message
    assert isinstance(exc.value, Rejected)
    assert double.create_project_calls == 0


def test_project_key_on_admin_route_is_rejected_not_entitlement(client, double):
    project = double.add_project("tuning-scope")
    key = double.add_api_key(project["id"])
    wrong = LangfuseClient(double.url, key["publicKey"], key["secretKey"])
    with wrong, pytest.raises(Rejected) as exc:
        wrong.list_projects()
    assert not isinstance(exc.value, EntitlementMissing)
    assert "Organization-scoped API key required" in exc.value.message


# -- metrics ---------------------------------------------------------------------------------


def _seed(double: LangfuseDouble) -> dict:
    project = double.add_project("tuning-metrics")
    other = double.add_project("tuning-other")
    key = double.add_api_key(project["id"])
    double.seed_daily_metrics(
        project["id"],
        "2026-08-01",
        traces=5,
        observations=12,
        input_tokens=1000,
        output_tokens=250,
        cost=0.0125,
    )
    double.seed_daily_metrics(
        project["id"],
        "2026-08-03",
        traces=1,
        observations=2,
        input_tokens=10,
        output_tokens=5,
        cost=0.5,
    )
    double.seed_daily_metrics(other["id"], "2026-08-01", traces=99, observations=99, cost=9)
    return key


EXPECTED_DAYS = [
    DailyMetrics(date(2026, 8, 1), 5, 12, 1000, 250, 1250, Decimal("0.0125")),
    DailyMetrics(date(2026, 8, 2)),
    DailyMetrics(date(2026, 8, 3), 1, 2, 10, 5, 15, Decimal("0.5")),
]


@pytest.mark.parametrize(
    ("version", "path"), [("v4", "/api/public/v2/metrics"), ("v3", "/api/public/metrics")]
)
def test_daily_project_metrics(client, double, version, path):
    double.metrics_version = version
    key = _seed(double)
    days = client.daily_project_metrics(
        key["publicKey"],
        key["secretKey"],
        datetime(2026, 8, 1, tzinfo=UTC),
        datetime(2026, 8, 4, tzinfo=UTC),
    )
    assert days == EXPECTED_DAYS
    assert client.detect_metrics_version(key["publicKey"], key["secretKey"]) == version
    data_paths = {p for _, p, s in double.requests if s == 200 and "metrics" in p}
    assert data_paths == {path}


def test_metrics_version_detection_is_cached(client, double):
    double.metrics_version = "v3"
    key = _seed(double)
    assert client.detect_metrics_version(key["publicKey"], key["secretKey"]) == "v3"
    probes = len(double.requests)
    assert client.detect_metrics_version(key["publicKey"], key["secretKey"]) == "v3"
    assert len(double.requests) == probes
    # v4 answers 404 on the v1 endpoint with its events_only message.
    double.metrics_version = "v4"
    with pytest.raises(NotFound, match="events_only"):
        client.metrics_v1({"view": "traces"}, key["publicKey"], key["secretKey"])


def test_v4_without_metrics_opt_in_is_a_clear_refusal(double):
    """Langfuse v4 (events_only) answers 404 on v1 metrics and, without the preview opt-in,
    on v2 too (found against the real server): a configuration problem, not an outage."""
    double.metrics_version = "v4-no-opt-in"
    project = double.add_project("tuning-metrics")
    key = double.add_api_key(project["id"])
    client = double.client()
    with pytest.raises(Rejected) as exc:
        client.daily_project_metrics(
            key["publicKey"], key["secretKey"], date(2026, 8, 1), date(2026, 8, 2)
        )
    assert "LANGFUSE_MIGRATION_V4_ALLOW_PREVIEW_OPT_IN" in exc.value.message
    assert not isinstance(exc.value, Unavailable)


def test_org_key_on_metrics_is_forbidden(double):
    c = double.client()
    with c, pytest.raises(Rejected, match="insufficient permissions") as exc:
        c.metrics_v2({}, double.org_public_key, double.org_secret_key)
    assert exc.value.status == 403


# -- errors and outages ----------------------------------------------------------------------


def _mock(status: int, body: object, headers: dict | None = None) -> LangfuseClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return LangfuseClient(
        "http://langfuse.test", "pk-lf-o", "sk-lf-o", transport=httpx.MockTransport(handler)
    )


@pytest.mark.parametrize(
    ("status", "body", "exc_type", "text"),
    [
        (
            400,
            {"message": "Invalid request data", "error": [{"path": ["name"]}]},
            Rejected,
            "Invalid request data",
        ),
        (
            404,
            {"message": "Project not found", "error": "LangfuseNotFoundError"},
            NotFound,
            "Project not found: LangfuseNotFoundError",
        ),
        (404, {"error": "User not found"}, NotFound, "User not found"),
        (
            409,
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "detail": "exists",
                "status": 409,
            },
            Conflict,
            "exists",
        ),
        (403, {"error": ENTITLEMENT_MESSAGE}, EntitlementMissing, ENTITLEMENT_MESSAGE),
        (
            422,
            {"message": "Query timed out", "error": "Request timed out"},
            Rejected,
            "Request timed out",
        ),
        (500, {"message": "Internal Server Error", "error": "boom"}, Unavailable, "boom"),
    ],
)
def test_error_shapes(status, body, exc_type, text):
    with pytest.raises(exc_type) as exc, _mock(status, body) as c:
        c.list_projects()
    assert type(exc.value) is exc_type
    assert text in exc.value.message
    assert exc.value.status == status


def test_rate_limit_is_unavailable_with_retry_after():
    body = {
        "message": "Rate limit exceeded",
        "code": "rate_limited",
        "details": {"retryAfterSeconds": 12, "limit": 30, "remaining": 0},
    }
    with pytest.raises(Unavailable) as exc, _mock(429, body, {"Retry-After": "30"}) as c:
        c.list_projects()
    assert exc.value.retry_after == 30.0
    with pytest.raises(Unavailable) as exc, _mock(429, body) as c:
        c.list_projects()
    assert exc.value.retry_after == 12.0


def test_outage_503(client, double):
    double.down = True
    with pytest.raises(Unavailable) as exc:
        client.create_project("tuning-down")
    assert (exc.value.status, exc.value.retry_after) == (503, 7.0)
    double.down = False
    assert client.health()["status"] == "OK"
    assert double.create_project_calls == 0


def test_outage_connection_reset_and_refused(double):
    double.down = "reset"
    with double.client(timeout=2) as c, pytest.raises(Unavailable) as exc:
        c.list_projects()
    assert exc.value.status is None
    url = double.url
    double.stop()
    with LangfuseClient(url, "pk", "sk", timeout=2) as c, pytest.raises(Unavailable):
        c.health()


def test_double_is_reachable_from_another_process(double):
    code = "import httpx, sys; print(httpx.get(sys.argv[1] + '/api/public/health').json())"
    out = subprocess.run(
        [sys.executable, "-c", code, double.url], capture_output=True, text=True, timeout=30
    )
    assert "'status': 'OK'" in out.stdout, out.stderr


def test_from_settings(double, settings):
    settings.LANGFUSE_HOST = double.url + "/"
    settings.LANGFUSE_ORG_PUBLIC_KEY = double.org_public_key
    settings.LANGFUSE_ORG_SECRET_KEY = double.org_secret_key
    with LangfuseClient.from_settings() as c:
        assert c.list_projects() == []
        assert double.org_secret_key not in repr(c)


# -- the double cannot drift from the spec ---------------------------------------------------


def _raw(double: LangfuseDouble, method: str, path: str, **kwargs) -> httpx.Response:
    auth = (double.org_public_key, double.org_secret_key)
    return httpx.request(method, double.url + path, auth=auth, timeout=5, **kwargs)


def test_double_rejects_request_missing_required_field(double):
    # fern marks "retention" required on POST /projects, so the client always sends it.
    response = _raw(double, "POST", "/api/public/projects", json={"name": "tuning-x"})
    assert response.status_code == 500
    errors = double.take_errors()
    assert any("'retention' is a required property" in e for e in errors), errors
    assert double.create_project_calls == 0


def test_double_rejects_bad_enum_undeclared_param_and_unknown_operation(double):
    bad_role = _raw(
        double,
        "PUT",
        "/api/public/organizations/memberships",
        json={"userId": "u1", "role": "SUPERUSER"},
    )
    assert bad_role.status_code == 500
    assert _raw(double, "GET", "/api/public/organizations/projects?page=2").status_code == 500
    assert _raw(double, "PATCH", "/api/public/projects/p1", json={}).status_code == 500
    no_query = _raw(double, "GET", "/api/public/v2/metrics")
    assert no_query.status_code == 500
    errors = double.take_errors()
    assert any("'SUPERUSER' is not one of" in e for e in errors)
    assert any("undeclared query parameter 'page'" in e for e in errors)
    assert any("PATCH /api/public/projects/p1 is not an operation" in e for e in errors)
    assert any("missing required query parameter 'query'" in e for e in errors)


def test_double_rejects_its_own_invalid_response(client, double):
    def drop_id(operation_id: str, status: int, body: object) -> object:
        if operation_id == "projects_create":
            return {k: v for k, v in body.items() if k != "id"}
        return body

    double.response_hook = drop_id
    with pytest.raises(Unavailable):
        client.create_project("tuning-drift")
    errors = double.take_errors()
    assert any("response POST /api/public/projects 201" in e and "'id'" in e for e in errors)


def test_spec_validator_directly():
    spec = load_spec()
    op, _ = spec.find("get", "/api/public/organizations/projects")
    assert spec.validate_response(op, 200, {"projects": []}) == []
    assert spec.validate_response(op, 200, {"data": []})  # wrong envelope
    assert spec.validate_response(op, 200, {"projects": [{"id": "p", "name": "n"}]})
    assert spec.validate_response(op, 418, {"message": "teapot"})  # undocumented status
    assert spec.validate_response(op, 409, {"oops": 1})  # error body without Langfuse shape
    op, _ = spec.find("post", "/api/public/projects/{projectId}/apiKeys")
    good = {
        "id": "k",
        "createdAt": "2026-08-01T00:00:00.000Z",
        "publicKey": "pk-lf-1",
        "secretKey": "sk-lf-1",
        "displaySecretKey": "sk-lf-...1",
        "note": None,
    }
    assert spec.validate_response(op, 201, good) == []
    assert spec.validate_response(op, 201, {**good, "createdAt": "yesterday"})
    op, params = spec.find("delete", "/api/public/projects/p1/apiKeys/k1")
    assert params == {"projectId": "p1", "apiKeyId": "k1"}
    assert json.dumps(spec.validate_response(op, 200, {"success": True})) == "[]"
