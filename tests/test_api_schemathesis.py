"""No 5xx from any API operation, whatever it is sent: cases generated from the API's own
OpenAPI document (``/api/v1/openapi.json``, served by the WSGI app) by schemathesis.

* ``test_every_operation``: schemathesis's coverage phase (each path, query and body field
  missing, of the wrong type, at and past its bounds, over-long) and its generate phase, in
  valid and invalid (negative) mode, NUL bytes allowed; derandomized, a few examples per
  operation, so a run is short and the same in CI as here.
* ``test_every_field_with_hostile_values``: each path, query and body field of each operation,
  read from the same document, replaced in turn by the values that answered 500 before (NUL,
  5,000 characters, NaN, Infinity, 10**400, wrong types, malformed but well-encoded cursors).

Both authenticate as the API tests do (an Entra access token from the double, as infra, who
may call every operation), with real objects behind the path parameters.
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import urlencode

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from approvals.lifecycle import Status

from .factories import make_budget_request, make_key, make_project

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 4


@pytest.fixture
def world(api, org, settings):
    settings.API_RATE_LIMIT = "1000000/m"  # the point is the inputs, not the rate limit
    infra = org["infra"]
    key = make_key(org, name="bot", status=Status.SUBMITTED)
    project = make_project(org, name="rag-eval", status=Status.SUBMITTED)
    budget = make_budget_request(org)
    token = api.token(infra)
    # As Django's test client does: the WSGI app must not close the test's connection (and its
    # transaction) at the end of each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield {
        "headers": {"Authorization": f"Bearer {token}"},
        "ids": {"key_id": key.pk, "project_id": project.pk, "request_id": budget.pk},
        "slug": org["a"].slug,
        "api": api,
        "infra": infra,
    }
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _schema():
    """The document as the app serves it, loaded through the WSGI app at collection time (no
    database needed); calls go through the same app."""
    loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        allow_x00=True,
        deterministic=True,
    )
    return loaded


schema = _schema()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation(case, world):
    response = case.call(headers=world["headers"])
    case.validate_response(response, checks=[not_a_server_error])


# -- every field, hostile values ---------------------------------------------------------------

HOSTILE = [
    "\x00",
    "a\x00b",
    "a" * 5000,
    "NaN",
    "-Infinity",
    "1e309",
    "9" * 40,
    "-1",
    "",
    " ",
    "１２",
    "=1+2+cmd|' /C calc'!A0",
]
HOSTILE_JSON = [*HOSTILE, float("nan"), float("inf"), 10**400, -(2**63) - 1, 2**64, 1.5, True]
HOSTILE_JSON += [None, [], {}, ["\x00"], [10**400], {"\x00": 1}]
CURSORS = [
    base64.b64encode(text.encode()).decode()
    for text in ("o=-1", "o=99999999999999999999", "r=maybe", "p=\x00", "p=x", "o=1&o=2", "z=1")
] + ["!!!", "é"]


def _document(api) -> dict:
    reply = api.client.get("/api/v1/openapi.json")
    assert reply.status_code == 200
    return reply.json()


def _body_fields(doc: dict, operation: dict) -> dict[str, dict]:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return {}
    body = content["schema"]
    while "$ref" in body:
        target = doc
        for part in body["$ref"].split("/")[1:]:
            target = target[part]
        body = target
    return body.get("properties", {})


def _plausible(schema: dict):
    kinds = {s.get("type") for s in schema.get("anyOf", [schema])}
    if "integer" in kinds:
        return 1
    if "number" in kinds:
        return "1"
    if "array" in kinds:
        return []
    if "boolean" in kinds:
        return False
    return "x"


def _call(world, method: str, url: str, body=None):
    api = world["api"]
    headers = {"HTTP_AUTHORIZATION": world["headers"]["Authorization"]}
    send = getattr(api.client, method.lower())
    if body is None:
        return send(url, **headers)
    # allow_nan: NaN and Infinity as Python's json writes them (not JSON, but clients send them)
    return send(url, json.dumps(body, allow_nan=True), "application/json", **headers)


def test_every_field_with_hostile_values(world):
    doc = _document(world["api"])
    results, tried = [], 0
    for template, item in doc["paths"].items():
        for method, operation in item.items():
            params = operation.get("parameters", [])
            path_values = {
                p["name"]: world["ids"].get(p["name"], world["slug"])
                for p in params
                if p["in"] == "path"
            }
            if "kind" in path_values:
                path_values["kind"] = "budget"

            def url(values, query=None, template=template):
                path = re.sub(r"{(\w+)}", lambda m: str(values[m.group(1)]), template)
                if query:
                    path += "?" + urlencode(query)
                return path

            fields = _body_fields(doc, operation)
            base_body = {name: _plausible(s) for name, s in fields.items()} if fields else None
            cases = []
            for p in params:
                values = CURSORS + HOSTILE if p["name"] == "cursor" else HOSTILE
                for value in values:
                    if p["in"] == "path":
                        if "/" in value or not value.strip():
                            continue
                        cases.append((url({**path_values, p["name"]: value}), base_body))
                    elif p["in"] == "query":
                        cases.append((url(path_values, {p["name"]: value}), base_body))
            for name in fields:
                for value in HOSTILE_JSON:
                    cases.append((url(path_values), {**base_body, name: value}))
            for target, body in cases:
                tried += 1
                reply = _call(world, method, target, body)
                if reply.status_code >= 500:
                    shown = json.dumps(body, allow_nan=True)[:200] if body is not None else ""
                    results.append(
                        f"{method.upper()} {target[:150]!r} {shown}: {reply.status_code}"
                    )
    assert tried > 1000
    assert not results, "\n".join(results)
