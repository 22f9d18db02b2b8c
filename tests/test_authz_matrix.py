"""Authorization matrix: every route × every role × GET/POST, generated from the URL
configuration. A route without a row here fails ``test_every_route_has_a_row``.

Roles (see ``tests/routes.py`` ``build_world``): ``anon``; ``dev`` owns the objects (alpha);
``other_dev`` is another developer of alpha; ``lead`` leads alpha; ``other_lead`` leads beta;
``manager`` is dev's Entra manager, the named approver of dev's pending key; ``infra``.

Answers: a status code, ``login`` (redirect to the sign-in page) or ``3xx`` (any other redirect:
the action ran, or was refused with a message on the page it redirects to). 404 is the answer
wherever saying 403 would confirm that someone else's object exists.
"""

from __future__ import annotations

import pytest
from django.test import Client

from .routes import EXCLUDED_PREFIXES, ROLES, build_world, portal_routes, route_args

pytestmark = pytest.mark.django_db

# fmt: off
#                          anon   dev  other_dev lead other_lead manager infra
MATRIX: dict[str, tuple[str, str]] = {  # route name: (GET, POST)
    "home":                 ("login 200 200 200 200 200 200", "login 200 200 200 200 200 200"),
    "favicon":              ("3xx   3xx 3xx 3xx 3xx 3xx 3xx", "405   405 405 405 405 405 405"),
    "healthz":              ("200   200 200 200 200 200 200", "405   405 405 405 405 405 405"),
    "demo_sign_in":         ("404   404 404 404 404 404 404", "404   404 404 404 404 404 404"),
    "readyz":               ("200   200 200 200 200 200 200", "405   405 405 405 405 405 405"),
    "audit_log":            ("login 403 403 403 403 403 200", "login 403 403 403 403 403 200"),
    "set_language":         ("3xx   3xx 3xx 3xx 3xx 3xx 3xx", "3xx   3xx 3xx 3xx 3xx 3xx 3xx"),
    "department_list":      ("login 200 200 200 200 200 200", "login 200 200 200 200 200 200"),
    "department_detail":    ("login 404 404 200 404 404 200", "login 404 404 200 404 404 200"),
    "directory":            ("login 403 403 403 403 403 200", "login 403 403 403 403 403 200"),
    "directory_sync_now":   ("login 405 405 405 405 405 405", "login 403 403 403 403 403 3xx"),
    "directory_run":        ("login 403 403 403 403 403 200", "login 403 403 403 403 403 200"),
    "my_keys":              ("login 200 200 200 200 200 200", "login 200 200 200 200 200 200"),
    "request_key":          ("login 200 200 200 200 200 200", "login 200 200 200 200 200 200"),
    "key_detail":           ("login 200 404 200 404 404 200", "login 200 404 200 404 404 200"),
    # Only the owner gets the secret (200); anyone else who may see the key is told no (3xx).
    "reveal_key":           ("login 405 405 405 405 405 405", "login 200 404 3xx 404 404 3xx"),
    "rotate_key":           ("login 405 405 405 405 405 405", "login 3xx 404 403 404 404 403"),
    "revoke_key":           ("login 405 405 405 405 405 405", "login 3xx 404 3xx 404 404 3xx"),
    "cancel_request":       ("login 405 405 405 405 405 405", "login 3xx 404 403 404 403 403"),
    # Only the owner extends; a lead or infra who may see the key is told no (403).
    "extend_key":           ("login 200 404 403 404 404 403", "login 3xx 404 403 404 404 403"),
    # A pending extension without a named approver: the leads (and infra) decide.
    "decide_extension":     ("login 403 404 200 404 404 200", "login 403 404 3xx 404 404 3xx"),
    "unblock_key":          ("login 405 405 405 405 405 405", "login 403 404 3xx 404 404 3xx"),
    "approval_queue":       ("login 200 200 200 200 200 200", "login 200 200 200 200 200 200"),
    # The pending key names dev's manager as approver: the manager (and infra) decide, not lead.
    "decide_key":           ("login 403 404 403 404 200 200", "login 403 404 403 404 3xx 3xx"),
    # The pending project has no named approver: the leads (and infra) decide.
    "decide_project":       ("login 403 404 200 404 404 200", "login 403 404 3xx 404 404 3xx"),
    # Budget requests are infra's call; the lead who asked sees it but cannot decide it.
    "decide_budget":        ("login 404 404 403 404 404 200", "login 404 404 403 404 404 3xx"),
    # A pending pipeline identity without a named approver: the leads (and infra) decide.
    "pipeline_identity":    ("login 200 404 200 404 404 200", "login 200 404 200 404 404 200"),
    "decide_pipeline_identity": ("login 403 404 200 404 404 200", "login 403 404 3xx 404 404 3xx"),
    # Anyone signed in lists the identities they may see and may request one (a page saying
    # they need a department when they have none; an empty form answers with its errors).
    "pipeline_identities":  ("login 200 200 200 200 200 200", "login 200 200 200 200 200 200"),
    "request_pipeline_identity": ("login 200 200 200 200 200 200", "login 200 200 200 200 200 200"),
    # The owner, alpha's lead and infra disable dev's active identity; nobody else sees it.
    "disable_pipeline_identity": ("login 405 405 405 405 405 405", "login 3xx 404 3xx 404 404 3xx"),
    "operations":           ("login 403 403 403 403 403 200", "login 403 403 403 403 403 200"),
    "run_reconcile":        ("login 405 405 405 405 405 405", "login 403 403 403 403 403 3xx"),
    "retry_request":        ("login 405 405 405 405 405 405", "login 403 403 403 403 403 3xx"),
    "fix_drift":            ("login 405 405 405 405 405 405", "login 403 403 403 403 403 3xx"),
    "resolve_drift":        ("login 405 405 405 405 405 405", "login 403 403 403 403 403 3xx"),
    "model_catalogue":      ("login 200 200 200 200 200 200", "login 200 200 200 200 200 200"),
    # Model access: any member asks (an empty form is a page with errors); dev's request for
    # alpha is seen by dev, alpha's lead and infra; without stages infra decides.
    "model_access_request": ("login 200 200 200 200 200 200", "login 200 200 200 200 200 200"),
    "model_access_detail":  ("login 200 404 200 404 404 200", "login 200 404 200 404 404 200"),
    "model_access_cancel":  ("login 405 405 405 405 405 405", "login 3xx 404 403 404 404 403"),
    "decide_model_access":  ("login 403 404 403 404 404 200", "login 403 404 403 404 404 3xx"),
    # The estimate reads only the signed-in person's own use.
    "costs_estimate":       ("login 200 200 200 200 200 200", "login 405 405 405 405 405 405"),
    "my_projects":          ("login 200 200 200 200 200 200", "login 200 200 200 200 200 200"),
    "request_project":      ("login 200 200 200 200 200 200", "login 200 200 200 200 200 200"),
    "project_detail":       ("login 200 404 200 404 404 200", "login 200 404 200 404 404 200"),
    "reveal_project":       ("login 405 405 405 405 405 405", "login 200 404 3xx 404 404 3xx"),
    "end_project":          ("login 405 405 405 405 405 405", "login 3xx 404 403 404 404 3xx"),
    "fulfil_project":       ("login 405 405 405 405 405 405", "login 403 403 403 403 403 3xx"),
    "confirm_teardown":     ("login 405 405 405 405 405 405", "login 403 403 403 403 403 3xx"),
    "costs_index":          ("login 3xx 3xx 3xx 3xx 3xx 3xx", "login 3xx 3xx 3xx 3xx 3xx 3xx"),
    "costs_mine":           ("login 200 200 200 200 200 200", "login 200 200 200 200 200 200"),
    "costs_mine_csv":       ("login 200 200 200 200 200 200", "login 200 200 200 200 200 200"),
    "costs_department":     ("login 404 404 200 404 404 200", "login 404 404 200 404 404 200"),
    "costs_department_csv": ("login 404 404 200 404 404 200", "login 404 404 200 404 404 200"),
    "costs_member_budgets": ("login 404 404 200 404 404 200", "login 404 404 200 404 404 200"),
    "costs_member_budget":  ("login 405 405 405 405 405 405", "login 404 404 3xx 404 404 3xx"),
    # Infra changes budgets directly; only the department's lead asks.
    "costs_budget_request": ("login 405 405 405 405 405 405", "login 404 404 3xx 404 404 403"),
    "costs_org":            ("login 403 403 403 403 403 200", "login 403 403 403 403 403 200"),
    "costs_org_csv":        ("login 403 403 403 403 403 200", "login 403 403 403 403 403 200"),
    "costs_chargeback":     ("login 403 403 403 403 403 200", "login 403 403 403 403 403 200"),
    "costs_alerts":         ("login 200 200 200 200 200 200", "login 200 200 200 200 200 200"),
    # Each sees the anomalies of what they may see: infra all, leads their departments', a
    # developer their own keys'.
    "costs_anomalies":      ("login 200 200 200 200 200 200", "login 200 200 200 200 200 200"),
    "costs_department_focus": ("login 404 404 200 404 404 200", "login 404 404 200 404 404 200"),
    "costs_department_recent": ("login 404 404 200 404 404 200", "login 404 404 200 404 404 200"),
    "costs_soft_budget":    ("login 405 405 405 405 405 405", "login 404 404 3xx 404 404 3xx"),
    "costs_focus":          ("login 403 403 403 403 403 200", "login 403 403 403 403 403 200"),
    "costs_org_recent":     ("login 403 403 403 403 403 200", "login 403 403 403 403 403 200"),
    # Prometheus: only with METRICS_TOKEN set, and then only with that bearer token (tested in
    # tests/test_metrics.py); without it the route is not there for anyone.
    "metrics":              ("404   404 404 404 404 404 404", "405   405 405 405 405 405 405"),
    # Approvals: each person's own inbox and delegations; infra's SLA page.
    "approvals_inbox":      ("login 3xx 3xx 3xx 3xx 3xx 3xx", "login 3xx 3xx 3xx 3xx 3xx 3xx"),
    "approvals_bulk":       ("login 405 405 405 405 405 405", "login 3xx 3xx 3xx 3xx 3xx 3xx"),
    "delegations":          ("login 200 200 200 200 200 200", "login 200 200 200 200 200 200"),
    # The lead delegated to other_dev: either of them, or infra, may end it.
    "end_delegation":       ("login 405 405 405 405 405 405", "login 403 3xx 3xx 403 403 3xx"),
    "approvals_sla":        ("login 403 403 403 403 403 200", "login 403 403 403 403 403 200"),
    # Slack is not signed in: its signature is checked instead (none here: 401).
    "slack_interactions":   ("405   405 405 405 405 405 405", "401   401 401 401 401 401 401"),
    # The Teams bot's messaging endpoint: a Bot Framework token is its authentication (tested
    # in tests/test_approvals_teams_bot.py); without a bot configured it is not there.
    "teams_messages":       ("405   405 405 405 405 405 405", "404   404 404 404 404 404 404"),
    # Access reviews: infra starts them (an empty form is a page with errors); alpha's lead
    # reviews alpha's items, never the owner.
    "reviews":              ("login 200 200 200 200 200 200", "login 403 403 403 403 403 200"),
    "review_campaign":      ("login 404 404 200 404 404 200", "login 404 404 200 404 404 200"),
    "review_csv":           ("login 403 403 403 403 403 200", "login 403 403 403 403 403 200"),
    "review_item":          ("login 405 405 405 405 405 405", "login 404 404 3xx 404 404 3xx"),
    "review_keep_remaining": ("login 405 405 405 405 405 405", "login 404 404 3xx 404 404 3xx"),
}
# fmt: on


def post_data(name: str, world: dict) -> dict:
    """A well-formed POST body where the route has a form, so an allowed POST really acts."""
    decision = {"decision": "reject", "comment": "Not now."}
    return {
        "decide_key": decision,
        "decide_project": decision,
        "decide_budget": decision,
        "decide_model_access": decision,
        "decide_extension": decision,
        "extend_key": {"days": "7", "justification": "More time."},
        "decide_pipeline_identity": decision,
        "costs_member_budget": {"member": world["dev"].pk, "monthly_budget": "5"},
        "costs_budget_request": {
            "budget-monthly_budget": "1500",
            "budget-justification": "Less work.",
        },
        "set_language": {"language": "ja", "next": "/"},
        "review_item": {"decision": "keep", "reason": "Still used."},
        "review_keep_remaining": {"reason": "Still used."},
    }.get(name, {})


def expected(name: str, method: str, role: str) -> str:
    row = MATRIX[name][0 if method == "GET" else 1].split()
    assert len(row) == len(ROLES), f"{name}: {len(row)} answers for {len(ROLES)} roles"
    return row[ROLES.index(role)]


def answer(response) -> str:
    if response.status_code in (301, 302, 303):
        return "login" if response.url.startswith("/accounts/login/") else "3xx"
    return str(response.status_code)


def test_every_route_has_a_row():
    names = {route.name for route in portal_routes()}
    missing = sorted(names - set(MATRIX))
    stale = sorted(set(MATRIX) - names)
    assert not missing, f"routes without an authorization row: {missing}"
    assert not stale, f"rows for routes that no longer exist: {stale}"
    assert set(EXCLUDED_PREFIXES) == {"admin/", "accounts/", "api/"}


CELLS = [(name, method, role) for name in MATRIX for method in ("GET", "POST") for role in ROLES]


@pytest.mark.parametrize("name,method,role", CELLS, ids=["-".join(c) for c in CELLS])
def test_authorization(name, method, role):
    world = build_world()
    route = next(r for r in portal_routes() if r.name == name)
    url = route.url(route_args(route, world))
    client = Client()
    if role != "anon":
        client.force_login(world[role])
    if method == "GET":
        response = client.get(url)
    else:
        response = client.post(url, post_data(name, world))
    assert answer(response) == expected(name, method, role), (
        f"{method} {url} as {role}: {response.status_code} "
        f"{getattr(response, 'url', '')} {response.content[:300]!r}"
    )
