"""Model access requests: a lead or a developer asks for a model for their department (or its
removal); the department's policy decides (infra by default, premium models per its stages,
never auto-approved); a worker changes the allowed models and the real LiteLLM proxy's team."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from approvals import engine, workflow
from approvals.lifecycle import Status
from catalogue import services as catalogue
from modelaccess import actions
from modelaccess.models import ModelAccessRequest
from modelaccess.tasks import apply_model_access
from portal.integrations.litellm import LiteLLMClient
from portal.models import AuditEvent

from .approvals_helpers import (
    LEADS,
    assert_infra_decides_for,
    make_policy,
    premium_to_infra,
    submit_key,
)
from .factories import after_commit
from .integration import chat

pytestmark = pytest.mark.django_db

PREMIUM_GPT4O = premium_to_infra("Infra (premium)", "gpt-4o")


@pytest.fixture
def refreshed(litellm, db):
    catalogue.refresh()
    return litellm


def ask(org, who="dev_a", model="gpt-4o", change="add", spend="40") -> ModelAccessRequest:
    obj = ModelAccessRequest(
        requester=org[who],
        department=org["a"],
        model_name=model,
        change=change,
        expected_monthly_spend=Decimal(spend),
        justification="Longer answers for the support bot.",
    )
    return actions.request_change(obj)


def team_models(litellm, team_id="portal-alpha") -> list[str]:
    info = LiteLLMClient(litellm.base_url, litellm.master_key).team_info(team_id)
    return sorted((info.get("team_info") or info).get("models") or [])


# --- the form ---------------------------------------------------------------------------------
@pytest.mark.litellm
def test_developer_asks_from_the_catalogue_and_infra_decides(
    refreshed, org, client, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(org["dev_a"])
    html = client.get("/models/").content.decode()
    rows = {row.split("</th>")[0]: row for row in html.split('<th scope="row">')[1:]}
    # A model alpha lacks offers the request; one it has does not.
    assert "/models/request/?model_name=gpt-4o&amp;department=" in rows["gpt-4o"]
    assert "/models/request/?" not in rows["gpt-4o-mini"]
    page = client.get(f"/models/request/?model_name=gpt-4o&department={org['a'].pk}")
    assert page.status_code == 200 and 'id="model-access-form"' in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/models/request/",
            {
                "department": org["a"].pk,
                "model_name": "gpt-4o",
                "change": "add",
                "expected_monthly_spend": "40",
                "justification": "Longer answers.",
            },
        )
    obj = ModelAccessRequest.objects.get()
    assert [m.to for m in mailoutbox] == [[org["infra"].email]]  # infra decides: infra is told
    assert response.status_code == 302 and response.url == f"/models/requests/{obj.pk}/"
    assert obj.status == Status.SUBMITTED and obj.allowed_when_asked == sorted(
        org["a"].allowed_models
    )
    assert not engine.is_staged(obj)  # no policy: infra decides alone
    assert not obj.can_decide(org["lead_a"]) and obj.can_decide(org["infra"])
    client.force_login(org["infra"])
    queue = client.get("/approvals/").content.decode()
    assert "add gpt-4o, about USD 40.00 a month" in queue


@pytest.mark.litellm
@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"model_name": "gpt-4o-mini"}, "model_name", "already has this model"),
        ({"model_name": "gpt-4o", "change": "remove"}, "model_name", "does not have this model"),
        ({"model_name": "no-such-model"}, "model_name", "Select a valid choice"),
        ({"expected_monthly_spend": "-1"}, "expected_monthly_spend", "greater than or equal"),
        ({"justification": ""}, "justification", "required"),
    ],
)
def test_bad_input_is_a_form_error(refreshed, org, client, data, field, message):
    client.force_login(org["dev_a"])
    body = {
        "department": org["a"].pk,
        "model_name": "gpt-4o",
        "change": "add",
        "expected_monthly_spend": "40",
        "justification": "why",
        **data,
    }
    response = client.post("/models/request/", body)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not ModelAccessRequest.objects.exists()


@pytest.mark.litellm
def test_the_last_model_cannot_be_removed_nor_asked_for_twice(refreshed, org, client):
    dept = org["a"]
    dept.allowed_models = ["gpt-4o-mini"]
    dept.save()
    client.force_login(org["lead_a"])
    body = {"department": dept.pk, "model_name": "gpt-4o-mini", "change": "remove",
            "expected_monthly_spend": "0", "justification": "cheaper"}  # fmt: skip
    response = client.post("/models/request/", body)
    assert "at least one model" in " ".join(response.context["form"].errors["model_name"])
    ask(org, model="gpt-4o")
    body.update(model_name="gpt-4o", change="add")
    response = client.post("/models/request/", body)
    assert "is open" in " ".join(response.context["form"].errors["model_name"])
    assert ModelAccessRequest.objects.count() == 1


def test_a_non_member_cannot_ask_for_a_department(org, client):
    client.force_login(org["dev_b"])
    response = client.post(
        "/models/request/",
        {"department": org["a"].pk, "model_name": "gpt-4o", "change": "add",
         "expected_monthly_spend": "1", "justification": "x"},
    )  # fmt: skip
    assert response.status_code == 200 and "department" in response.context["form"].errors


# --- the policy decides --------------------------------------------------------------------------
@pytest.mark.litellm
def test_a_premium_model_goes_through_the_lead_then_infra(refreshed, org):
    make_policy(org["a"], LEADS, PREMIUM_GPT4O)
    premium = ask(org, model="gpt-4o")
    assert [s.name for s in engine.stages_for(premium)] == ["Lead", "Infra (premium)"]
    assert workflow.approve(premium, actor=org["lead_a"]) == "next-stage"
    assert not premium.can_decide(org["lead_a"])
    assert workflow.approve(premium, actor=org["infra"]) == "approved"
    cheap = ask(org, model="gemini-1.5-flash", spend="5")
    assert [s.name for s in engine.stages_for(cheap)] == ["Lead"]  # not premium: the lead only


def test_a_budget_stage_reads_the_expected_monthly_spend(org):
    make_policy(org["a"], {"name": "Infra > 50", "approver": "infra",
                           "condition": "budget_above", "threshold": Decimal("50")})  # fmt: skip
    assert [s.name for s in engine.stages_for(ask(org, spend="80"))] == ["Infra > 50"]
    assert not engine.is_staged(ask(org, model="gemini-1.5-flash", spend="20"))


def test_auto_approval_never_approves_a_model_access_request(org):
    dept = org["a"]
    dept.auto_approve_max_budget = Decimal("1000")
    dept.auto_approve_max_lifetime_days = 365
    dept.save()
    assert submit_key(org).status == Status.APPROVED  # the thresholds work for keys
    obj = ask(org, spend="1")
    assert (obj.status, obj.auto_approved) == (Status.SUBMITTED, False)
    make_policy(dept, LEADS)  # an unconditional stage: still a person decides
    other = ask(org, model="gemini-1.5-flash", spend="0")
    assert other.status == Status.SUBMITTED and engine.is_staged(other)


def test_nobody_approves_their_own_request(org, client):
    make_policy(org["a"], LEADS)
    obj = ask(org, who="lead_a")
    assert_infra_decides_for(org, obj, "lead_a")  # alpha's only lead asked
    client.force_login(org["lead_a"])
    assert client.post(f"/approvals/models/{obj.pk}/", {"decision": "approve"}).status_code == 403
    obj.refresh_from_db()
    assert obj.status == Status.SUBMITTED


def test_someone_elses_request_is_404(org, client):
    obj = ask(org)
    for who in ("dev_b", "lead_b"):
        client.force_login(org[who])
        assert client.get(f"/models/requests/{obj.pk}/").status_code == 404
        assert client.get(f"/approvals/models/{obj.pk}/").status_code == 404
        assert client.post(f"/models/requests/{obj.pk}/cancel/").status_code == 404
    client.force_login(org["lead_a"])
    assert client.get(f"/models/requests/{obj.pk}/").status_code == 200


def test_the_requester_cancels_and_the_audit_says_so(org, client):
    obj = ask(org)
    client.force_login(org["dev_a"])
    assert client.post(f"/models/requests/{obj.pk}/cancel/").status_code == 302
    obj.refresh_from_db()
    assert obj.status == Status.CANCELLED
    actions_ = AuditEvent.objects.filter(object_id=str(obj.pk)).values_list("action", flat=True)
    assert {"modelaccessrequest.submitted", "modelaccessrequest.cancelled"} <= set(actions_)


# --- the decision page ---------------------------------------------------------------------------
@pytest.mark.litellm
@pytest.mark.parametrize(
    ("language", "provider", "now"),
    [("en", "Provider", "models now"), ("ja", "プロバイダー", "現在のモデル")],
)
def test_decision_page_shows_the_model_its_prices_and_the_departments_models(
    refreshed, org, client, language, provider, now
):
    make_policy(org["a"], PREMIUM_GPT4O)
    obj = ask(org, spend="40")
    client.force_login(org["infra"])
    html = client.get(f"/approvals/models/{obj.pk}/", HTTP_ACCEPT_LANGUAGE=language)
    html = html.content.decode()
    facts = html.split('id="model-access-facts"')[1].split("</table>")[0]
    assert provider in facts and now in facts
    assert "openai" in facts and "2.50" in facts and "10.00" in facts  # USD per 1M tokens
    assert "40.00" in facts
    assert "claude-3-5-sonnet, gpt-4o-mini" in facts  # now
    assert "claude-3-5-sonnet, gpt-4o, gpt-4o-mini" in facts  # after
    assert "<strong>" in facts.split("gpt-4o")[1][:80]  # premium by alpha's policy


# --- applied in the real LiteLLM proxy ---------------------------------------------------------
@pytest.mark.litellm
def test_approved_model_reaches_the_team_and_removal_takes_it_away(
    refreshed, org, client, django_capture_on_commit_callbacks
):
    litellm = refreshed
    dept = org["a"]
    assert actions.push_models(dept.pk).startswith("team ")
    proxy = LiteLLMClient(litellm.base_url, litellm.master_key)
    secret = proxy.generate_key(key_alias=f"ma-{uuid.uuid4().hex[:8]}", team_id="portal-alpha")[
        "key"
    ]
    assert chat(litellm.base_url, secret, "gpt-4o").status_code in (401, 403)
    assert chat(litellm.base_url, secret, "gpt-4o-mini").status_code == 200

    obj = ask(org, model="gpt-4o")
    client.force_login(org["infra"])
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(f"/approvals/models/{obj.pk}/", {"decision": "approve", "comment": "ok"})
        assert ModelAccessRequest.objects.get(pk=obj.pk).status == Status.APPROVED
    assert len(after_commit(callbacks)) == 2  # the decision mail, then the task
    apply_model_access.apply(args=[obj.pk])
    obj.refresh_from_db()
    dept.refresh_from_db()
    assert obj.status == Status.ACTIVE and set(obj.steps) == {"policy", "litellm_team"}
    assert dept.allowed_models == ["claude-3-5-sonnet", "gpt-4o", "gpt-4o-mini"]
    assert team_models(litellm) == ["claude-3-5-sonnet", "gpt-4o", "gpt-4o-mini"]
    assert chat(litellm.base_url, secret, "gpt-4o").status_code == 200
    event = AuditEvent.objects.get(action="department.models_changed")
    assert event.before["allowed_models"] == ["claude-3-5-sonnet", "gpt-4o-mini"]
    assert event.after["allowed_models"] == dept.allowed_models
    assert event.actor == org["infra"]

    # Running it again changes nothing (idempotent): no second audit row.
    apply_model_access.apply(args=[obj.pk])
    assert AuditEvent.objects.filter(action="department.models_changed").count() == 1

    removal = ask(org, who="lead_a", model="gpt-4o", change="remove", spend="0")
    workflow.approve(removal, actor=org["infra"])
    apply_model_access.apply(args=[removal.pk])
    removal.refresh_from_db()
    dept.refresh_from_db()
    assert removal.status == Status.ACTIVE
    assert dept.allowed_models == ["claude-3-5-sonnet", "gpt-4o-mini"]
    assert team_models(litellm) == ["claude-3-5-sonnet", "gpt-4o-mini"]
    assert chat(litellm.base_url, secret, "gpt-4o").status_code in (401, 403)
    assert AuditEvent.objects.filter(action="department.models_changed").count() == 2


def test_nothing_is_enqueued_before_the_commit(org, django_capture_on_commit_callbacks):
    obj = ask(org)
    with django_capture_on_commit_callbacks() as callbacks:
        workflow.approve(obj, actor=org["infra"])
    names = [getattr(c, "__qualname__", "") for c in after_commit(callbacks)]
    assert len(names) == 2, names  # mail and task, only once committed


def test_a_rejected_request_changes_nothing(org):
    obj = ask(org)
    workflow.reject(obj, actor=org["infra"], comment="Too expensive.")
    apply_model_access.apply(args=[obj.pk])
    obj.refresh_from_db()
    org["a"].refresh_from_db()
    assert obj.status == Status.REJECTED and "gpt-4o" not in org["a"].allowed_models


def test_the_demo_seeds_one_request_waiting_for_infra(settings):
    import io

    from django.core.management import call_command

    settings.LITELLM_BASE_URL = ""
    for _ in range(2):  # safe to run twice
        call_command("seed_demo", stdout=io.StringIO())
    obj = ModelAccessRequest.objects.get()
    assert (obj.department.slug, obj.model_name, obj.status) == ("sales", "gpt-4o", "submitted")
    assert obj.requester.email.startswith("david.miller@")
