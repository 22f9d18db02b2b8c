"""No 500 on bad input: every route's query parameters, path parameters and form fields are
fed malformed values; the answer is a page (with form errors), a redirect, 400 or 404.

Nothing here is listed by hand, so it grows with the code:

* routes come from the URL configuration (``tests/routes.py``, shared with the
  authorization matrix);
* query parameters are the ``request.GET`` keys the route's view module reads;
* form fields come from the forms the pages actually render (every ``<form method="post">``
  on every page each role can see), each field replaced in turn while the others keep the
  value the page offered, and left out once.

Each request runs in a savepoint that is rolled back, so every one sees the same world.
"""

from __future__ import annotations

import inspect
import re
import sys
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit

import pytest
from django.db import transaction
from django.test import Client
from django.urls import Resolver404, resolve

from costs.models import BudgetRequest

from .routes import build_world, portal_routes, route_args

pytestmark = pytest.mark.django_db

# Values a field or parameter should never fail on.
MALFORMED = [
    "",
    " ",
    "x",
    "-1",
    "0",
    "1.5",
    "NaN",
    "-nan",
    "sNaN",
    "Infinity",
    "-Infinity",
    "1e309",
    "1e-400",
    "9" * 40,
    str(2**63),
    "2026-13",
    "0000-00",
    "9999-99",
    "2026-02-30",
    "a" * 5000,
    "\x00",
    "<script>alert(1)</script>",
    "１２",  # full-width digits
    "unknown-choice",
]
# Query parameters: the same minus near-duplicates, to keep the run short.
MALFORMED_QUERY = [
    "",
    "x",
    "-1",
    "0",
    "NaN",
    "Infinity",
    "1e309",
    "9" * 40,
    "2026-13",
    "0000-00",
    "a" * 3000,
    "\x00",
    "１２",
]
MALFORMED_PATH = {
    "int": ["0", "9" * 30, str(2**63)],
    "slug": ["no-such-department", "a" * 300, "-"],
    "str": ["x", "a" * 300, "\x00"],
}
SIGNED_IN = ("dev", "lead", "manager", "infra")
OK = {200, 204, 301, 302, 303, 400, 403, 404, 405}


class Forms(HTMLParser):
    """The POST forms of a page: action and [(field, type, value, options)]."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: dict | None = None
        self._textarea: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._form = (
                {"action": a.get("action", ""), "fields": []}
                if a.get("method", "get").lower() == "post"
                else None
            )
            if self._form is not None:
                self.forms.append(self._form)
        if self._form is None or not a.get("name") and tag != "option":
            return
        if tag == "input" and a.get("type") not in ("submit", "button"):
            self._form["fields"].append(
                {"name": a["name"], "type": a.get("type", "text"), "value": a.get("value", "")}
                | {"checked": "checked" in a}
            )
        elif tag == "select":
            self._select = {"name": a["name"], "type": "select", "value": "", "options": []}
            self._form["fields"].append(self._select)
        elif tag == "option" and self._select is not None:
            if a.get("value"):
                self._select["options"].append(a["value"])
                if "selected" in a or not self._select["value"]:
                    self._select["value"] = a["value"]
        elif tag == "textarea":
            self._textarea = {"name": a["name"], "type": "textarea", "value": ""}
            self._form["fields"].append(self._textarea)

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea["value"] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def base_value(field: dict) -> str | None:
    """What a person would send for the field: the page's value, or a plausible one."""
    if field["type"] == "checkbox":
        return field["value"] or "on"
    if field["value"].strip():
        return field["value"]
    return {"number": "1", "textarea": "Because.", "password": "sk-lf-x"}.get(field["type"], "abc1")


def query_params(view) -> set[str]:
    """The ``request.GET`` keys read anywhere in the view's module (helpers included)."""
    module = sys.modules[getattr(view, "__module__", "")]
    source = inspect.getsource(module)
    keys = set(re.findall(r"request\.GET(?:\.get)?[\(\[]\s*[\"'](\w+)[\"']", source))
    keys |= set(re.findall(r"[\"'](\w+)[\"']\s+in\s+request\.GET", source))
    return keys | {"page"}


def call(client: Client, method: str, url: str, data=None) -> tuple[int | str, str]:
    """One request in a rolled-back savepoint; the status, or the exception a view raised."""
    try:
        with transaction.atomic():
            if method == "GET":
                response = client.get(url)
            else:
                response = client.post(url, data or {})
            # A streamed CSV fails while it streams, if at all: read it here.
            body = b"".join(response.streaming_content) if response.streaming else response.content
            transaction.set_rollback(True)
    except Exception as exc:  # a view that raises would be a 500
        return f"{type(exc).__name__}: {str(exc)[:200]}", ""
    return response.status_code, body.decode(errors="replace")


@pytest.fixture
def world(db):
    world = build_world()
    world["clients"] = {}
    for role in SIGNED_IN:
        client = Client()
        client.force_login(world[role])
        world["clients"][role] = client
    return world


ROUTES = [route.name for route in portal_routes()]


def _failures(results) -> list[str]:
    return [
        f"{method} {url[:160]!r} {detail}: {status}"
        for method, url, detail, status in results
        if status not in OK
    ]


@pytest.mark.parametrize("name", ROUTES)
def test_query_and_path_parameters(world, name):
    route = next(r for r in portal_routes() if r.name == name)
    args = route_args(route, world)
    url = route.url(args)
    view = resolve(url).func
    view = getattr(view, "__wrapped__", view)
    results = []
    # Query parameters as the first role who may see the page; path parameters as every role.
    allowed = [r for r, c in world["clients"].items() if call(c, "GET", url)[0] == 200][:1]
    for role, client in world["clients"].items():
        for param in sorted(query_params(view)) if role in allowed else []:
            for value in MALFORMED_QUERY:
                full = f"{url}?{urlencode({param: value})}"
                status, _body = call(client, "GET", full)
                results.append(("GET", full, f"as {role}", status))
        for param, converter in route.converters:
            for value in MALFORMED_PATH.get(converter, MALFORMED_PATH["str"]):
                bad = route.url({**args, param: value})
                for method in ("GET", "POST"):
                    status, _body = call(client, method, bad)
                    results.append((method, bad, f"as {role}", status))
    assert not _failures(results), "\n".join(_failures(results))


def discovered_forms(world) -> dict[str, tuple[str, str, list[dict]]]:
    """route name -> (role, action URL, fields) for every POST form any page shows."""
    found: dict[str, tuple[str, str, list[dict]]] = {}
    pages = [route.url(route_args(route, world)) for route in portal_routes()]
    # Every object's own page too: some forms show only in some states (cancel, fulfil).
    pages += [obj.get_absolute_url() for obj in world.values() if hasattr(obj, "get_absolute_url")]
    for url in dict.fromkeys(pages):
        for role, client in world["clients"].items():
            status, body = call(client, "GET", url)
            if status != 200 or "<form" not in body:
                continue
            parser = Forms()
            parser.feed(body)
            for form in parser.forms:
                action = form["action"] or url
                try:
                    target = resolve(urlsplit(action).path).url_name
                except Resolver404:
                    continue
                fields = [f for f in form["fields"] if f["name"] != "csrfmiddlewaretoken"]
                # One role per form: the first who sees it with the most fields.
                if fields and len(fields) > len(found.get(target, ("", "", []))[2]):
                    found[target] = (role, action, fields)
    return found


def test_forms_are_found(world):
    """The discovery itself works: the main forms are among those found."""
    targets = set(discovered_forms(world))
    assert {
        "request_key",
        "request_project",
        "decide_key",
        "decide_project",
        "decide_budget",
        "costs_member_budget",
        "fulfil_project",
        "set_language",
    } <= targets, sorted(targets)


def test_the_budget_request_form_refuses_bad_values(world):
    """Its form is hidden while the world's budget request waits: sent anyway, every bad value
    is a message on the page, never a 500, and no second request."""
    client = world["clients"]["lead"]
    before = BudgetRequest.objects.count()
    for value in MALFORMED:
        for field in ("budget-monthly_budget", "budget-justification"):
            data = {"budget-monthly_budget": "1500", "budget-justification": "More.", field: value}
            response = client.post("/costs/departments/alpha/budget-request/", data)
            assert response.status_code == 302, (field, value)
    assert BudgetRequest.objects.count() == before


def test_every_form_field(world):
    results = []
    for _target, (role, action, fields) in sorted(discovered_forms(world).items()):
        client = world["clients"][role]
        base: dict[str, list[str]] = {}
        for field in fields:
            if field["type"] == "checkbox" and base.get(field["name"]):
                continue
            value = base_value(field)
            if value is not None:
                base.setdefault(field["name"], []).append(value)
        status, _body = call(client, "POST", action, base)
        results.append(("POST", action, f"as {role}, as offered", status))
        for name in base:
            status, _body = call(
                client, "POST", action, {k: v for k, v in base.items() if k != name}
            )
            results.append(("POST", action, f"as {role}, {name} missing", status))
            for value in MALFORMED:
                status, _body = call(client, "POST", action, {**base, name: [value]})
                results.append(("POST", action, f"as {role}, {name}={value[:20]!r}", status))
    assert len(results) > 500
    assert not _failures(results), "\n".join(_failures(results))


@pytest.mark.parametrize(
    "role,method,url,data,expected",
    [
        ("dev", "GET", "/keys/request/?extends=x", None, 404),
        ("dev", "GET", "/keys/request/?extends=99999999999999999999999", None, 404),
        ("dev", "GET", "/projects/request/?extends=x", None, 404),
        ("lead", "POST", "/costs/departments/alpha/member-budget/", {"monthly_budget": "NaN"}, 400),
        (
            "lead",
            "POST",
            "/costs/departments/alpha/member-budget/",
            {"monthly_budget": "-inf"},
            400,
        ),
        (
            "lead",
            "POST",
            "/costs/departments/alpha/member-budget/",
            {"monthly_budget": "1e99"},
            400,
        ),
        ("infra", "GET", "/audit/?actor=%00", None, 200),
        # Only the page to go back to is bad: the budget is saved, back to page 1.
        (
            "lead",
            "POST",
            "/costs/departments/alpha/member-budget/",
            {"monthly_budget": "5", "page": "x"},
            302,
        ),
        (
            "lead",
            "POST",
            "/costs/departments/alpha/member-budget/",
            {"monthly_budget": "5", "page": "0"},
            302,
        ),
        (
            "lead",
            "POST",
            "/costs/departments/alpha/member-budget/",
            {"monthly_budget": "5", "page": "\x00"},
            302,
        ),
    ],
)
def test_reported_cases(world, role, method, url, data, expected):
    """The cases found by hand before the generated tests existed."""
    if data is not None:
        data = {"member": world["dev"].pk, **data}
    status, _body = call(world["clients"][role], method, url, data)
    assert status == expected
