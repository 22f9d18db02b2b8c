"""Policies as code: export → plan → apply round-trips unchanged; an edited file is planned
(diff and a dry run over recorded requests) and applied as one audited version; invalid files
are refused with their file and path; an admin edit shows up as drift; the same over the API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO
from pathlib import Path

import jsonschema
import pytest
import time_machine
import yaml
from django.core.management import CommandError, call_command

from api.identities import save_service_identity
from approvals import engine, policy_apply, policy_files
from approvals.models import Policy, PolicyVersion
from costs import budgets
from portal.models import AuditEvent

from .api_support import register_service
from .approvals_helpers import LEADS, make_policy, submit_key, submit_project
from .test_approvals_admin import stage_form
from .test_races import race

pytestmark = pytest.mark.django_db

SHA = "3f2a9c1d0e4b5a6978877665544332211aabbccd"
BOARD = "6a1f3c2e-0b7d-4e55-9a43-1c2d3e4f5a6b"
NOW = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)

# alpha.yaml after the change under review: auto-approval only up to USD 5 (was 20), and a
# governance board (an Entra group) for budgets over USD 50, after the leads.
EDITED_ALPHA = f"""\
department: alpha
auto_approve:
  max_budget: 5
  max_lifetime_days: 60
distinct_approvers: true
stages:
- name: Lead
  approvers:
    kind: leads
- name: Governance board
  approvers:
    kind: group
    group: {BOARD}
  condition: budget_above
  threshold: 50
  sla:
    reminder_hours: 8
"""


def plan(directory: Path, *args: str) -> str:
    out = StringIO()
    call_command("policies", "plan", str(directory), *args, stdout=out)
    return out.getvalue()


def apply(directory: Path, *args: str) -> str:
    out = StringIO()
    call_command("policies", "apply", str(directory), *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def live(org):
    """alpha: auto-approval up to USD 20 / 60 days, then the leads; a named person decides
    premium models, with infra's e-mail as fallback. beta: no policy at all."""
    org["a"].auto_approve_max_budget = Decimal("20")
    org["a"].auto_approve_max_lifetime_days = 60
    org["a"].save()
    make_policy(
        org["a"],
        LEADS,
        {
            "name": "Premium",
            "approver": "person",
            "person": org["lead_b"],
            "condition": "premium_model",
            "premium_models": ["o1", "claude-3-5-sonnet"],
            "fallback": org["infra"],
            "escalate_hours": 16,
            "quorum": "n",
            "quorum_n": 2,
        },
    )
    return org


def test_export_plan_apply_round_trips_unchanged(live, tmp_path):
    call_command("policies", "export", str(tmp_path), stdout=StringIO())
    first = {p.name: p.read_bytes() for p in sorted(tmp_path.iterdir())}
    assert sorted(first) == ["alpha.yaml", "beta.yaml"]
    text = first["alpha.yaml"].decode()
    assert "person: lead_b@example.com" in text and "fallback: infra@example.com" in text
    assert "max_budget: 20.00" in text and "premium_models:\n  - claude-3-5-sonnet\n  - o1" in text
    assert "_id" not in text  # people by e-mail, never a database id

    output = plan(tmp_path)
    assert "alpha: no changes" in output and "beta: no changes" in output
    versions, events = PolicyVersion.objects.count(), AuditEvent.objects.count()
    assert "Nothing to apply" in apply(tmp_path, "--commit", SHA)
    assert (PolicyVersion.objects.count(), AuditEvent.objects.count()) == (versions, events)

    again = tmp_path / "again"
    call_command("policies", "export", str(again), stdout=StringIO())
    assert {p.name: p.read_bytes() for p in sorted(again.iterdir())} == first


def test_an_edited_file_is_planned_then_applied_as_one_audited_version(live, tmp_path):
    call_command("policies", "export", str(tmp_path), stdout=StringIO())
    (tmp_path / "alpha.yaml").write_text(EDITED_ALPHA)
    output = plan(tmp_path)
    # By hand: the USD 20 line, and 12 of the second stage's fields (stage 0 is unchanged).
    assert "alpha: 13 change(s)" in output and "beta: no changes" in output
    assert "auto_approve.max_budget: '20.00' -> '5.00'" in output
    assert "stages[1].name: 'Premium' -> 'Governance board'" in output
    assert "stages[1].approvers.person: 'lead_b@example.com' -> None" in output
    assert "stages[1].sla.escalate_hours: 16 -> 0" in output and "stages[0]" not in output

    key_before = submit_key(live, max_budget=Decimal("80"))  # in flight under version 1
    assert engine.current_stage(key_before).policy_version == 1
    out = apply(tmp_path, "--commit", SHA, "--actor", "infra@example.com")
    assert "alpha: 13 change(s) applied (policy version 2)" in out
    policy = Policy.objects.get(department=live["a"])
    assert policy.version == 2 and policy.versions.count() == 2
    assert [s.name for s in policy.stages.all()] == ["Lead", "Governance board"]
    live["a"].refresh_from_db()
    assert live["a"].auto_approve_max_budget == Decimal("5")

    changed = AuditEvent.objects.get(action="policy.changed", after__version=2)
    assert changed.actor == live["infra"] and changed.after["commit"] == SHA
    thresholds = AuditEvent.objects.get(action="department.policy_changed")
    assert thresholds.after["commit"] == SHA and thresholds.before["auto_approve_max_budget"]

    # The request already in flight keeps the stages of version 1; a new one gets version 2.
    assert [s.name for s in engine.stages_for(key_before)] == ["Lead"]
    key_after = submit_key(live, max_budget=Decimal("80"))
    assert [(s.name, s.policy_version) for s in engine.stages_for(key_after)] == [
        ("Lead", 2),
        ("Governance board", 2),
    ]
    # Applying the same files again writes nothing.
    events = AuditEvent.objects.count()
    assert "Nothing to apply" in apply(tmp_path, "--commit", SHA)
    assert AuditEvent.objects.count() == events and policy.versions.count() == 2


GHOST = EDITED_ALPHA.replace("kind: leads", "kind: person\n    person: ghost@example.com")
INVALID = [  # (file, text, the message expected, with the file and the path in the document)
    ("alpha.yaml", "department: alpha\nstages: nope\n",
     "alpha.yaml: (document): 'auto_approve' is a required property"),
    ("alpha.yaml", EDITED_ALPHA.replace("  threshold: 50\n", ""),
     "alpha.yaml: stages[1]: 'threshold' is a required property"),
    ("alpha.yaml", EDITED_ALPHA.replace(BOARD, "not-a-guid"),
     "alpha.yaml: stages[1].approvers.group: 'not-a-guid' does not match"),
    ("gamma.yaml", EDITED_ALPHA.replace("department: alpha", "department: gamma"),
     "gamma.yaml: department: No department with the slug 'gamma'."),
    ("alpha.yaml", GHOST,
     "alpha.yaml: stages[0].approvers.person: Nobody has the e-mail ghost@example.com."),
    ("alpha.yaml", "department: [alpha\n", "alpha.yaml: line 2: Not valid YAML"),
    ("alpha.yaml", "department: alpha\x00\n",
     "alpha.yaml: (document): The file contains a NUL byte."),
    ("alpha.yaml", "a: &a [x, x]\nb: [*a, *a]\n",
     "alpha.yaml: (document): YAML aliases (*name) are not allowed."),
    ("alpha.yaml", "[" * 5000 + "]" * 5000, "alpha.yaml: (document): Nested too deeply."),
]  # fmt: skip


@pytest.mark.parametrize("name, text, message", INVALID)
def test_invalid_files_are_refused_with_file_and_path(live, tmp_path, capsys, name, text, message):
    (tmp_path / name).write_text(text)
    for action in (["plan"], ["apply", "--commit", SHA]):
        err = StringIO()
        with pytest.raises(CommandError, match="error"):  # manage.py exits with status 1
            call_command("policies", action[0], str(tmp_path), *action[1:], stderr=err)
        assert message in err.getvalue(), err.getvalue()
    assert Policy.objects.get(department=live["a"]).version == 1


def test_the_dry_run_over_a_recorded_history_sums_up_what_would_change(live, tmp_path):
    org = live
    make_policy(org["a"], LEADS)  # live: auto up to USD 20 / 60 days, then the leads
    history = [  # (days before NOW, what); routes written down by hand beside each
        (40, lambda: submit_key(org, max_budget=Decimal("10"))),  # outside the 30 days
        (20, lambda: submit_key(org, max_budget=Decimal("10"))),  # auto → Lead
        (10, lambda: submit_key(org, max_budget=Decimal("15"))),  # auto → Lead
        (5, lambda: submit_key(org, max_budget=Decimal("3"))),  # auto → auto
        (4, lambda: submit_key(org, "dev_b", "b", max_budget=Decimal("100"))),  # beta: single
        (3, lambda: submit_key(org, max_budget=Decimal("80"))),  # Lead → Lead, board
        (2, lambda: submit_project(org)),  # Lead → Lead (no budget)
        (1, lambda: budgets.request_budget(org["a"], lead=org["lead_a"], justification="x",
                                           monthly_budget=Decimal("2000"))),  # Lead → Lead, board
    ]  # fmt: skip
    for days_ago, submit in history:
        with time_machine.travel(NOW - dt.timedelta(days=days_ago), tick=False):
            submit()
    call_command("policies", "export", str(tmp_path), stdout=StringIO())
    (tmp_path / "alpha.yaml").write_text(EDITED_ALPHA)

    with time_machine.travel(NOW, tick=False):
        output = plan(tmp_path)
        narrow = plan(tmp_path, "--days", "4")
    board = f"Lead (the leads) then Governance board (Entra group {BOARD})"
    assert "Dry run: 7 requests in the last 30 days, 4 routed differently." in output
    assert (
        f"  2 requests would have waited for {board} instead of Lead (the leads).\n"
        "  2 requests would have waited for Lead (the leads) instead of being auto-approved.\n"
    ) in output
    # The last 4 days: beta's key, the USD 80 key, the project and the budget request.
    assert "Dry run: 4 requests in the last 4 days, 2 routed differently." in narrow
    assert "auto-approved" not in narrow


def test_an_edit_in_the_admin_shows_up_as_drift(live, client, tmp_path):
    call_command("policies", "export", str(tmp_path), stdout=StringIO())
    policy = Policy.objects.get(department=live["a"])
    lead, premium = policy.stages.all()
    client.force_login(live["infra"])
    data = {
        "department": str(live["a"].pk),
        "distinct_approvers": "on",
        **stage_form(
            [
                {"name": "Lead", "approver": "leads", "quorum": "all"},
                {"name": "Premium", "approver": "person", "person": str(live["lead_b"].pk),
                 "condition": "premium_model", "premium_models": '["o1", "claude-3-5-sonnet"]',
                 "fallback": str(live["infra"].pk), "escalate_hours": "16", "quorum": "n",
                 "quorum_n": "2"},
            ],
            initial=2,
            ids=[lead.pk, premium.pk],
        ),
    }  # fmt: skip
    response = client.post(f"/admin/approvals/policy/{policy.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Policy.objects.get(pk=policy.pk).version == 2
    output = plan(tmp_path)
    assert "alpha: 1 change(s)\n  stages[0].quorum: 'all' -> 'any'\n" in output


# --- the API --------------------------------------------------------------------------------
@pytest.fixture
def pipeline(api, live):
    identity = register_service(live, "sp_policies")
    identity.can_manage_policies = True
    identity.tenant_id = api.double.tenant_id
    save_service_identity(identity, actor=live["infra"])
    return identity


def test_the_api_plans_and_applies_for_a_service_identity_with_the_right(api, live, pipeline):
    body = {"files": {"alpha": EDITED_ALPHA}, "days": 30}
    for who in (live["sp_keys"], live["sp_none"], live["lead_a"]):
        assert api.post(who, "/policies/plan", body).status_code == 403
        assert api.post(who, "/policies/apply", {**body, "commit": SHA}).status_code == 403
    response = api.post(pipeline, "/policies/plan", body)
    assert response.status_code == 200, response.content
    plan_ = response.json()
    assert plan_["errors"] == [] and len(plan_["changes"]["alpha"]) == 13
    assert (
        plan_["dry_run"]["requests"] == 0 and Policy.objects.get(department=live["a"]).version == 1
    )

    response = api.post(
        pipeline, "/policies/apply", {"files": {"alpha": EDITED_ALPHA}, "commit": SHA}
    )
    assert response.status_code == 200, response.content
    assert response.json()["applied"][0]["version"] == 2
    event = AuditEvent.objects.get(action="policy.changed", after__version=2)
    assert event.actor == pipeline.user and event.after["commit"] == SHA
    assert event.after["applied_via"] == "api:sp_policies"
    again = api.post(
        live["infra"], "/policies/apply", {"files": {"alpha": EDITED_ALPHA}, "commit": SHA}
    )
    assert again.status_code == 200 and again.json()["applied"] == []


@pytest.mark.parametrize(
    "files, status",
    [
        # NUL anywhere in an API body is the API's shared 400 (api/middleware.py).
        ({"alpha": "department: alpha\x00"}, 400),
        ({"alpha": {"department": "alpha\x00", "stages": []}}, 400),
        ({"gamma\x00": "department: gamma"}, 400),
        ({"alpha": "department: [alpha"}, 422),
        ({"alpha": EDITED_ALPHA.replace("department: alpha", "department: beta")}, 422),
        ({"alpha": EDITED_ALPHA.replace("threshold: 50", "threshold: 50.001")}, 422),
        ({"alpha": "a: &a [x, x]\nb: [*a, *a]\n"}, 422),
        ({}, 422),
    ],
)
def test_invalid_files_over_the_api_are_4xx_never_500(api, live, pipeline, files, status):
    for path, extra in (("/policies/plan", {}), ("/policies/apply", {"commit": SHA})):
        response = api.post(pipeline, path, {"files": files, **extra})
        assert response.status_code == status, response.content
        if status == 422:
            assert response.json()["errors"], response.content
    assert Policy.objects.get(department=live["a"]).version == 1


def test_a_bad_commit_id_or_body_is_4xx(api, pipeline):
    files = {"alpha": EDITED_ALPHA}
    bad_commit = api.post(pipeline, "/policies/apply", {"files": files, "commit": "main"})
    assert bad_commit.status_code == 422
    nul_commit = api.post(pipeline, "/policies/apply", {"files": files, "commit": "x\x00"})
    assert nul_commit.status_code == 400
    assert api.post(pipeline, "/policies/plan", {"files": "nope"}).status_code == 422
    assert api.post(pipeline, "/policies/plan", {"files": files, "days": 0}).status_code == 422


def test_the_readmes_example_file_and_pipelines_are_valid():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("### Policies as code") :]
    blocks = [b.split("```", 1)[0] for b in section.split("```yaml\n")[1:4]]
    example, github, azure = (yaml.safe_load(b) for b in blocks)
    jsonschema.validate(example, policy_files.schema())
    assert github["jobs"]["policies"]["steps"][-1]["run"].count("/api/v1/policies/$ACTION") == 1
    assert azure["pr"] and "policies/$ACTION" in azure["steps"][0]["inputs"]["inlineScript"]


@pytest.mark.django_db(transaction=True)
def test_two_applies_at_once_write_one_version(live):
    """Both lock each department row before comparing: the second finds nothing to do (beta
    has no policy yet, so both would otherwise create one)."""
    beta = EDITED_ALPHA.replace("department: alpha", "department: beta")
    documents, errors = policy_files.validate({"alpha.yaml": EDITED_ALPHA, "beta.yaml": beta})
    assert errors == []

    def run():
        return policy_apply.apply(documents, actor=None, commit=SHA, via="command")

    results = race(run, run)
    assert all(exc is None for _, exc in results), results
    assert sorted(len(applied) for applied, _ in results) == [0, 2]
    assert Policy.objects.get(department=live["a"]).versions.count() == 2
    assert Policy.objects.get(department=live["b"]).versions.count() == 1
    assert AuditEvent.objects.filter(action="policy.changed", after__commit=SHA).count() == 2
