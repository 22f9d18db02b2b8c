"""What people see around requests and decisions (issue: "a console people enjoy").

Each test pins one defect from the first walk-through: it failed before the fix."""

import datetime
from decimal import Decimal

import pytest
from django.utils import translation

from approvals import chat, engine, views_chat
from approvals.forms import DecisionForm
from approvals.lifecycle import Status
from approvals.models import ChatAccount, StageDecision
from costs.models import BudgetRequest
from keys.forms import KeyRequestForm
from keys.models import ReconcileRun, VirtualKey
from portal.celery import app as celery_app
from portal.integrations.explain import explain

from .approvals_helpers import INFRA_OVER_50, LEADS, make_policy, submit_key
from .factories import ask_budget, make_project
from .test_key_requests import make_key, submit

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


@pytest.fixture
def in_process(settings):
    """Tasks run in the request, as in the demo (no broker), with no LiteLLM configured."""
    settings.LITELLM_BASE_URL = ""
    was = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = was


# --- 1. budget requests can be approved as shown ---------------------------------------------


def test_budget_request_is_approved_with_the_form_as_shown(org, client):
    req = ask_budget(org)
    client.force_login(org["infra"])
    page = client.get(f"/approvals/budgets/{req.pk}/").content.decode()
    assert 'name="lifetime_days"' not in page  # a budget change has no lifetime
    assert 'name="monthly_budget"' in page and 'value="2500.00"' in page
    assert 'id="approve"' in page and 'id="reject"' in page
    response = client.post(
        f"/approvals/budgets/{req.pk}/", {"decision": "approve", "monthly_budget": "2500.00"}
    )
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.status != Status.SUBMITTED and req.decided_by == org["infra"]
    [message] = messages_of(response)
    assert "budget" in message and "provisioning" not in message.lower()


def test_reject_needs_a_reason(org, client):
    key = make_key(org)
    client.force_login(org["lead_a"])
    response = client.post(f"/approvals/keys/{key.pk}/", {"decision": "reject", "comment": " "})
    assert response.status_code == 200
    assert "Say why the request is rejected." in response.content.decode()
    assert 'id="error-summary"' in response.content.decode()
    key.refresh_from_db()
    assert key.status == Status.SUBMITTED


def test_decision_words_are_translated(org):
    key = make_key(org)
    with translation.override("ja"):
        form = DecisionForm(obj=key)
        assert str(form.fields["decision"].label) != "Decision"
        assert str(form.fields["comment"].help_text).isascii() is False


def test_decision_page_shows_policy_spend_and_history(org, client, django_assert_max_num_queries):
    make_key(org, name="older", status=Status.ACTIVE)
    make_key(org, name="refused", status=Status.REJECTED, decision_comment="too big")
    key = make_key(org, name="big-one", max_budget=Decimal("150"), rpm_limit=30)
    client.force_login(org["lead_a"])
    # Bounded, not per row: the frame, each kind's panels, why it waits, the expected cost.
    with django_assert_max_num_queries(25):
        page = client.get(f"/approvals/keys/{key.pk}/").content.decode()
    assert "over by 50" in page  # USD 150 asked, the policy allows 100
    assert "older" in page.split('id="requester-keys"')[1]
    assert "too big" in page.split('id="history"')[1]
    assert 'id="left-after"' in page  # 1000 budget, nothing spent, minus 150: 850 left
    assert "850.00" in page.split('id="left-after"')[1][:80]


# --- 2. feedback says what is true now ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_auto_approved_key_that_fails_says_it_failed_and_why(org, client, in_process):
    org["a"].auto_approve_max_budget = Decimal("100")
    org["a"].auto_approve_max_lifetime_days = 90
    org["a"].save()
    response = submit(client, org["dev_a"], org["a"])
    key = VirtualKey.objects.get()
    assert key.status == Status.FAILED
    [message] = messages_of(response)
    assert "Provisioning…" not in message and "failed" in message
    assert key.last_error and key.last_error[:20] in message
    page = client.get(f"/keys/{key.pk}/").content.decode()
    failure = page.split('id="failure"')[1][:1200]
    assert key.last_error[:20] in failure  # the reason
    assert "working day" in failure  # a time frame
    assert "contact the platform team" in failure  # whom to ask


def test_failed_tuning_project_explains_itself(org, client):
    project = make_project(
        org, name="tune", status=Status.FAILED, last_error="Langfuse answered 500"
    )
    client.force_login(org["dev_a"])
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert "Langfuse answered 500" in page.split('id="failure"')[1]


@pytest.mark.django_db(transaction=True)
def test_retry_that_fails_again_says_so(org, client, in_process):
    key = make_key(org, status=Status.FAILED, last_error="old error")
    client.force_login(org["infra"])
    response = client.post(f"/operations/retry/key/{key.pk}/")
    key.refresh_from_db()
    assert key.status == Status.FAILED
    [message] = messages_of(response)
    assert "failed again" in message and "restarted" not in message


@pytest.mark.django_db(transaction=True)
def test_reconcile_reports_its_result_when_it_has_one(org, client, in_process):
    client.force_login(org["infra"])
    response = client.post("/operations/reconcile/")
    [message] = messages_of(response)
    assert "Refresh in a moment" not in message
    run = ReconcileRun.objects.first()
    if run is not None and run.finished_at:
        assert "finished" in message or "failed" in message
    page = client.get("/operations/").content.decode()
    assert 'id="reconcile"' in page


def test_saving_a_member_budget_confirms_it(org, client):
    client.force_login(org["lead_a"])
    response = client.post(
        "/costs/departments/alpha/member-budget/",
        {"member": org["dev_a"].pk, "monthly_budget": "25"},
    )
    assert response.status_code == 302
    [message] = messages_of(response)
    assert "25" in message


# --- 3. people in two departments; the policy up front; errors that show ---------------------


@pytest.fixture
def two_departments(org):
    org["b"].allowed_models = ["gpt-4o"]
    org["b"].max_rpm = 10
    org["b"].save()
    org["b"].memberships.create(user=org["dev_a"], role="member")
    return org


def test_the_form_offers_only_the_chosen_departments_models(two_departments, client):
    org = two_departments
    form = KeyRequestForm(user=org["dev_a"], department=str(org["b"].pk))
    assert [m for m, _ in form.fields["llm_models"].choices] == ["gpt-4o"]
    assert form.initial["rpm_limit"] == 10 and form.initial["lifetime_days"]
    client.force_login(org["dev_a"])
    page = client.get(f"/keys/request/?department={org['a'].pk}").content.decode()
    assert 'value="gpt-4o-mini"' in page and 'value="gpt-4o"' not in page
    assert 'name="rpm_limit" value="60"' in page.replace('type="number" ', "")


def test_two_department_member_can_submit_the_defaults(two_departments, client):
    org = two_departments
    client.force_login(org["dev_a"])
    page = client.get("/keys/request/")
    form = page.context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update(name="x", kind="personal", llm_models=["gpt-4o-mini"], max_budget="10")
    data.update(budget_duration="30d", justification="try")
    response = client.post("/keys/request/", data)
    assert response.status_code == 302, response.context["form"].errors


def test_policy_and_auto_approval_are_shown_before_anything_is_broken(org, client):
    org["a"].auto_approve_max_budget = Decimal("20")
    org["a"].auto_approve_max_lifetime_days = 14
    org["a"].save()
    client.force_login(org["dev_a"])
    page = client.get("/keys/request/").content.decode()
    assert "Policy: at most USD 100" in page
    assert "at most USD 20.00 and the lifetime at most 14 days" in page


def test_fields_in_error_are_marked_and_summarised(org, client):
    response = submit(client, org["dev_a"], org["a"], rpm_limit="5000", justification="")
    page = response.content.decode()
    summary = page.split('id="error-summary"')[1].split("</div>")[0]
    assert 'href="#id_rpm_limit"' in summary and 'href="#id_justification"' in summary
    assert (
        'aria-invalid="true"'
        in page.split('name="rpm_limit"')[0][-200:] + page.split('name="rpm_limit"')[1][:200]
    )


# --- 4. the approvals page's title ------------------------------------------------------------


def test_approvals_title_is_plain_text_for_infra(org, client):
    ask_budget(org)
    client.force_login(org["infra"])
    page = client.get("/approvals/").content.decode()
    title = page.split("<title>")[1].split("</title>")[0]
    assert "<" not in title and "Approvals" in title
    assert BudgetRequest.objects.count() == 1


def test_the_requester_sees_what_approval_lowered_and_why(org, client):
    key = make_key(org)
    client.force_login(org["lead_a"])
    client.post(
        f"/approvals/keys/{key.pk}/",
        {"decision": "approve", "max_budget": "20", "comment": "start small"},
    )
    client.force_login(org["dev_a"])
    page = client.get(f"/keys/{key.pk}/").content.decode()
    timeline = page.split('id="timeline"')[1].split("</ol>")[0]
    assert "50.00 → 20.00" in timeline and "start small" in timeline


# --- times: one zone, one format ----------------------------------------------------------------


def test_decided_at_and_the_stage_history_read_the_same(org, client, settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    make_policy(org["a"], LEADS)
    key = submit_key(org)
    client.force_login(org["lead_a"])
    client.post(f"/approvals/keys/{key.pk}/", {"decision": "approve", "max_budget": "10"})
    instant = datetime.datetime(2026, 12, 1, 23, 30, tzinfo=datetime.UTC)  # 08:30 in Tokyo
    VirtualKey.objects.filter(pk=key.pk).update(decided_at=instant)
    StageDecision.objects.filter(stage__object_id=key.pk).update(created_at=instant)
    for language, shown in (("en", "2 Dec 2026 08:30"), ("ja", "2026/12/02 8:30")):
        page = client.get(f"/keys/{key.pk}/", HTTP_ACCEPT_LANGUAGE=language)
        html = page.content.decode()
        stages = html.split('id="approval-stages"')[1].split("</section>")[0]
        request_card = html.split('id="timeline"')[1]
        assert shown in stages, (language, stages)
        assert shown in request_card.split('id="approval-stages"')[0]
        assert "2026-12-01" not in html and "2026-12-02" not in html


# --- lowering at approval: the requester is told what changed and why ------------------------


def test_decision_mail_says_what_was_lowered_and_why(
    org, client, mailoutbox, django_capture_on_commit_callbacks
):
    key = make_key(org)
    client.force_login(org["lead_a"])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/approvals/keys/{key.pk}/",
            {
                "decision": "approve",
                "max_budget": "20",
                "rpm_limit": "10",
                "comment": "pilot first",
            },
        )
    [mail] = [m for m in mailoutbox if m.to == [org["dev_a"].email]]
    assert "50.00 → 20.00" in mail.body and "30 → 10" in mail.body
    assert "Why: pilot first" in mail.body
    assert "&#x27;" not in mail.body and "&quot;" not in mail.body


def test_unchanged_approval_mail_lists_no_changes(
    org, client, mailoutbox, django_capture_on_commit_callbacks
):
    key = make_key(org)
    client.force_login(org["lead_a"])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/approvals/keys/{key.pk}/", {"decision": "approve", "max_budget": "50"})
    [mail] = [m for m in mailoutbox if m.to == [org["dev_a"].email]]
    assert "→" not in mail.body and "changed what you asked for" not in mail.body


def test_slack_reply_to_the_last_approval_says_what_an_earlier_stage_lowered(org, client):
    ChatAccount.objects.create(user=org["infra"], slack_user_id="UINFRA")
    make_policy(org["a"], LEADS, INFRA_OVER_50)
    key = submit_key(org, max_budget=Decimal("80"))
    client.force_login(org["lead_a"])
    client.post(
        f"/approvals/keys/{key.pk}/",
        {"decision": "approve", "max_budget": "60", "comment": "pilot first"},
    )
    button = chat.parse_button(chat.button_value(key, engine.current_stage(key)))
    replaced, text = views_chat._decide("UINFRA", button, True)
    key.refresh_from_db()
    assert key.status == Status.APPROVED and key.max_budget == Decimal("60")
    assert replaced and "approved by" in text
    assert "80.00 → 60.00" in text and "pilot first" in text


# --- infra error texts explained, in both languages ------------------------------------------


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        (
            "LiteLLM HTTP 400: budget exceeds team max",
            "LiteLLM refused the values of this request.",
        ),
        ("LiteLLM timed out: ReadTimeout", "LiteLLM did not answer in time."),
        ("Langfuse HTTP 503: upstream unavailable", "Langfuse had an internal error."),
        ("Langfuse HTTP 401: invalid credentials", "Langfuse refused the portal's credentials."),
        ("LiteLLM LITELLM_BASE_URL is not set", "The portal is not connected to LiteLLM."),
        ("Langfuse HTTP 403: not available on your current plan", "Langfuse needs a licence"),
    ],
)
def test_infra_errors_are_explained(raw, what):
    e = explain(raw)
    assert e.what.startswith(what) and e.why and e.todo and e.raw == raw


def test_failed_key_page_explains_the_error_in_both_languages(org, client):
    raw = "LiteLLM HTTP 400: budget exceeds team max"
    key = make_key(org, status=Status.FAILED, last_error=raw)
    client.force_login(org["dev_a"])
    for language in ("en", "ja"):
        page = client.get(f"/keys/{key.pk}/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
        failure = page.split('id="failure"')[1].split("</div>")[0]
        with translation.override(language):
            expected = explain(raw)
        assert expected.what in failure and expected.todo in failure
        detail = failure.split("<details>")[1]
        assert raw in detail  # the raw text, as a detail
        assert raw not in failure.split("<details>")[0]
    with translation.override("en"):
        assert expected.what != explain(raw).what  # Japanese differs from English
