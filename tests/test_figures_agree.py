"""One figure, one number: the same spend read off every page and API that shows it (the
developer's costs page, the decision page, the department and organisation pages, the home
panels and the REST API) is the same, and equals what the seeded rows add up to, worked out
here from the rows themselves, rounded half up to the cent as a person would. "Left" is the
budget minus the spend as shown. Dates say their zone."""

from __future__ import annotations

import datetime
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine
from django.test import Client

from approvals.lifecycle import Status
from costs.ingest import upsert_daily

from . import html_figures as page
from .test_costs_support import make_key, row

pytestmark = pytest.mark.django_db
NOW = datetime.datetime(2026, 12, 7, 22, 30, tzinfo=datetime.UTC)  # 8 Dec 07:30 in Tokyo
THIS, LAST = datetime.date(2026, 12, 1), datetime.date(2026, 11, 1)

# (day, team, LiteLLM user, key token, spend): spend chosen so that cutting digits off (what
# the pages did) and rounding give different cents.
SEEDED = [
    (datetime.date(2026, 12, 2), "team-alpha", "oid-dev_a", "hash-tagged", "10.105"),
    (datetime.date(2026, 12, 5), "team-alpha", "oid-dev_a", "hash-tagged", "2.22"),
    (datetime.date(2026, 12, 3), "team-alpha", "oid-dev_a", "hash-plain", "20.001"),
    # A call made as dev_a through a key the lead requested: dev_a's spend too.
    (datetime.date(2026, 12, 4), "team-alpha", "oid-dev_a", "hash-lead", "5.004"),
    # A key the portal did not make.
    (datetime.date(2026, 12, 6), "team-alpha", "oid-ghost", "hash-outside", "7.995"),
    (datetime.date(2026, 12, 6), "team-beta", "oid-dev_b", "hash-beta", "3.3"),
    (datetime.date(2026, 11, 20), "team-alpha", "oid-dev_a", "hash-plain", "99"),
]


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def truth() -> dict[str, Decimal]:
    """The figures, summed from ``SEEDED`` (not with the code under test)."""
    month = [r for r in SEEDED if r[0] >= THIS]

    def add(rows):
        return cents(sum((Decimal(r[4]) for r in rows), Decimal(0)))

    alpha = [r for r in month if r[1] == "team-alpha"]
    return {
        "dev_a": add(r for r in month if r[2] == "oid-dev_a"),
        "alpha": add(alpha),
        "alpha_left": Decimal(400) - add(alpha),
        "org": add(month),
        "tagged": add(r for r in month if r[3] == "hash-tagged"),
        "plain": add(r for r in month if r[3] == "hash-plain"),
        "no_tag": add(r for r in alpha if r[3] != "hash-tagged"),
    }


@pytest.fixture
def seeded(org):
    org["a"].litellm_team_id, org["a"].monthly_budget = "team-alpha", Decimal(400)
    org["a"].save()
    org["b"].litellm_team_id = "team-beta"
    org["b"].save()
    keys = {
        "tagged": make_key(org["dev_a"], org["a"], "hash-tagged", name="tagged", tags=["proj-x"]),
        "plain": make_key(org["dev_a"], org["a"], "hash-plain", name="plain"),
        "lead": make_key(org["lead_a"], org["a"], "hash-lead", name="lead-key"),
        "beta": make_key(org["dev_b"], org["b"], "hash-beta", name="beta-key"),
        "pending": make_key(org["dev_a"], org["a"], "", name="asked", status=Status.SUBMITTED),
    }
    upsert_daily(
        [row(day=d, team=t, user=u, key=k, spend=s, requests=1) for d, t, u, k, s in SEEDED]
    )
    return {**org, **keys}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def html(user, path: str) -> str:
    response = signed_in(user).get(path)
    assert response.status_code == 200, path
    return response.content.decode()


def by(rows: list[dict], heading: str, name: str) -> dict:
    found = [r for r in rows if r.get(heading) == name]
    assert len(found) == 1, (name, rows)
    return found[0]


@time_machine.travel(NOW, tick=False)
def test_every_page_and_the_api_show_the_same_figures(seeded, api):
    want, s = truth(), seeded
    seen: dict[str, list[tuple[str, Decimal]]] = {k: [] for k in want}

    def saw(figure: str, where: str, shown) -> None:
        value = shown if isinstance(shown, Decimal) else page.money(shown)
        seen[figure].append((where, value))

    # The developer's costs page and home.
    mine = html(s["dev_a"], "/costs/me/")
    saw("dev_a", "costs/me KPI", page.text(mine, "kpi-actual"))
    keys = page.rows(mine, "table-keys")
    saw("tagged", "costs/me by key", by(keys, "Key", "tagged")["Spend (USD)"])
    saw("plain", "costs/me by key", by(keys, "Key", "plain")["Spend (USD)"])
    home = page.rows(html(s["dev_a"], "/"), "home-my-keys")
    saw("tagged", "home my keys", by(home, "Key", "tagged")["Spend (USD)"])
    saw("plain", "home my keys", by(home, "Key", "plain")["Spend (USD)"])

    # The decision page (the lead decides dev_a's pending key).
    decide = html(s["lead_a"], f"/approvals/keys/{s['pending'].pk}/")
    saw("dev_a", "decision: requester's spend", page.text(decide, "requester-spend"))
    saw("alpha", "decision: spent so far", page.text(decide, "dept-actual"))
    saw("alpha_left", "decision: left now", page.text(decide, "dept-left"))
    current = page.rows(decide, "requester-keys")
    saw("tagged", "decision: current keys", by(current, "Key", "tagged Alpha")[
        "Spend this month (USD)"])  # fmt: skip

    # The department page and the lead's home.
    dept = html(s["lead_a"], "/costs/departments/alpha/")
    saw("alpha", "department KPI", page.text(dept, "kpi-actual"))
    saw("alpha_left", "department remaining", page.text(dept, "kpi-remaining"))
    saw("dev_a", "department by member", by(page.rows(dept, "table-members"), "Member", "Dev_A")[
        "Spend (USD)"])  # fmt: skip
    tags = page.rows(dept, "table-tags")
    saw("no_tag", "department (no tag)", by(tags, "Tag", "(no tag)")["Spend (USD)"])
    saw("tagged", "department tag", by(tags, "Tag", "proj-x")["Spend (USD)"])
    dept_keys = page.rows(dept, "table-keys")
    saw("plain", "department by key", by(dept_keys, "Key", "plain")["Spend (USD)"])
    lead_home = html(s["lead_a"], "/")
    saw("alpha", "lead home", page.rows(lead_home, "home-departments")[0]["Spent (USD)"])

    # The organisation page and infra's home.
    org_page = html(s["infra"], "/costs/org/")
    saw("org", "org KPI", page.text(org_page, "kpi-actual"))
    alpha_row = by(page.rows(org_page, "table-departments"), "Department", "Alpha")
    saw("alpha", "org by department", alpha_row["Total (USD)"])
    saw("org", "infra home", page.text(html(s["infra"], "/"), "home-org-actual"))

    # The REST API: exact amounts, which show as the pages' cents.
    def api_rows(who, path):
        response = api.get(who, path)
        assert response.status_code == 200, path
        return response.json()["rows"]

    me = api_rows(s["dev_a"], "/costs/me?table=keys")
    saw("dev_a", "API me", cents(sum(Decimal(r["spend"]) for r in me)))
    saw("tagged", "API me", cents(Decimal(by(me, "name", "tagged")["spend"])))
    api_tags = api_rows(s["lead_a"], "/costs/departments/alpha?table=tags")
    saw("no_tag", "API tags", cents(Decimal(by(api_tags, "name", "(no tag)")["spend"])))
    members = api_rows(s["lead_a"], "/costs/departments/alpha?table=members")
    saw("dev_a", "API members", cents(Decimal(by(members, "name", "Dev_A")["spend"])))
    departments = api_rows(s["infra"], "/costs/org?table=departments")
    saw("alpha", "API org", cents(Decimal(by(departments, "name", "Alpha")["total"])))

    wrong = {
        figure: [(where, value) for where, value in places if value != want[figure]]
        for figure, places in seen.items()
    }
    assert {figure: places for figure, places in wrong.items() if places} == {}, want
    assert all(len(places) >= 2 for places in seen.values()), seen


@time_machine.travel(NOW, tick=False)
def test_left_is_the_budget_minus_the_spend_shown(seeded):
    decide = html(seeded["lead_a"], f"/approvals/keys/{seeded['pending'].pk}/")
    budget = page.money(page.text(decide, "dept-budget"))
    spent = page.money(page.text(decide, "dept-actual"))
    assert page.money(page.text(decide, "dept-left")) == budget - spent
    assert page.money(page.text(decide, "left-after")) == budget - spent - Decimal(50)


@time_machine.travel(NOW, tick=False)
def test_dates_say_their_zone(seeded):
    """The key page: the last use is a UTC day and says so; the request time is Tokyo's and
    says so; every page says both in its footer."""
    key = html(seeded["dev_a"], f"/keys/{seeded['plain'].pk}/")
    assert "Last used: 3 Dec 2026 UTC" in " ".join(key.split())
    requested = page.text(key, "key-requested")
    assert re.match(r"Requested \d{1,2} \w{3} \d{4} \d\d:\d\d JST", requested), requested
    assert "Asia/Tokyo" in page.text(key, "zone-hint")
    assert "UTC days" in page.text(key, "zone-hint")
