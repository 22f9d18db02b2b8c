"""No 5xx from the API on malformed input: the cases reported by hand (issue 21, §4).

The generated cases (every operation and field of the OpenAPI document) are in
``tests/test_api_schemathesis.py``; these pin the ones found first, each with the 4xx it must
answer.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from .api_support import KEY_BODY

pytestmark = pytest.mark.django_db

PAGED = ["/keys", "/projects", "/requests/mine", "/requests/queue", "/departments", "/audit"]
# Valid base64 of content the paginator cannot use.
BAD_CURSORS = [
    "o=-1",
    "o=99999999999999999999",
    "o=1e400",
    "r=maybe",
    "p=\x00",
    "o=x&r=1",
    "r=1&r=0&p=",
    "\x00",
    "p=" + "9" * 5000,
]
# Lists ordered by time: a position that is no time is refused too (departments go by name).
BAD_TIME_POSITIONS = ["p=not-a-date", "p=2026-13-45T99:99:99", "p=" + "9" * 40]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _no_5xx(reply, what: str) -> None:
    assert reply.status_code < 500, f"{what}: {reply.status_code} {reply.content[:300]!r}"


@pytest.mark.parametrize("path", PAGED)
def test_malformed_but_well_encoded_cursors_are_refused(api, org, path):
    for content in BAD_CURSORS + (BAD_TIME_POSITIONS if path != "/departments" else []):
        reply = api.get(org["infra"], f"{path}?cursor={quote(_b64(content))}")
        _no_5xx(reply, f"{path} cursor={content[:30]!r}")
        assert reply.status_code in (400, 422), (content, reply.status_code)
        assert reply["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("path", PAGED)
def test_a_cursor_the_api_made_still_pages(api, org, path):
    """The check is on content: the cursors the API hands out keep working."""
    first = api.get(org["infra"], f"{path}?page_size=1")
    assert first.status_code == 200, first.content
    nxt = first.json()["next"]
    if nxt:
        assert api.get(org["infra"], nxt.split("/api/v1", 1)[1]).status_code == 200


def test_nul_in_a_request_body(api, org):
    for path in ("/keys", "/projects"):
        body = {**KEY_BODY, "department": "al\x00pha"}
        if path == "/projects":
            body = {
                "department": "al\x00pha",
                "name": "rag-eval",
                "purpose": "eval",
                "lifetime_days": 7,
                "justification": "x",
            }
        reply = api.post(org["dev_a"], path, body)
        assert reply.status_code == 400, reply.content
        assert reply.json()["type"].endswith("/invalid-characters")


@pytest.mark.parametrize(
    "path",
    [
        "/costs/departments/al%00pha",
        "/costs/departments/al%00pha/daily",
        "/costs/departments/al%00pha/monthly",
        "/costs/departments/al%00pha/focus",
        "/departments/al%00pha",
        "/audit?action=a%00",
        "/audit?object_type=%00",
        "/audit?object_id=%00",
        "/audit?actor=%00",
        "/keys?scope=mine%00",
    ],
)
def test_nul_in_a_path_or_query(api, org, path):
    reply = api.get(org["infra"], path)
    assert reply.status_code == 400, reply.content
    assert reply.json()["type"].endswith("/invalid-characters")


@pytest.mark.parametrize("models", [None, ["\x00"], [""], ["x" * 5000], [1], "gpt-4o"])
def test_policy_allowed_models_malformed(api, org, models):
    reply = api.call(org["infra"], "PATCH", "/departments/alpha/policy", {"allowed_models": models})
    _no_5xx(reply, repr(models))
    assert reply.status_code in (400, 422), reply.content
    org["a"].refresh_from_db()
    assert org["a"].allowed_models and "\x00" not in "".join(org["a"].allowed_models)


@pytest.mark.parametrize("models", [["gpt-4o-mini"], []])
def test_policy_allowed_models_still_changes(api, org, models):
    """``[]`` is a policy (no model allowed), as in the admin."""
    reply = api.call(org["infra"], "PATCH", "/departments/alpha/policy", {"allowed_models": models})
    assert reply.status_code == 200, reply.content
    assert reply.json()["allowed_models"] == models
    org["a"].refresh_from_db()
    assert org["a"].allowed_models == models
