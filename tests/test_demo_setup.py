"""The demo's pieces that run without its stack: the seeded history, the status the pages show,
tuning projects without Langfuse, and the in-process scheduler."""

import datetime
import io

import pytest
from django.core.management import call_command

from approvals.lifecycle import Status
from costs.models import DailySpend, IngestionState
from keys.models import VirtualKey
from portal.days import utc_day, utc_today
from projects import services as projects
from projects.models import TuningProject
from tenants.models import User

pytestmark = pytest.mark.django_db


def test_seeded_history_adds_up(settings):
    settings.LITELLM_BASE_URL = ""
    call_command("seed_demo", stdout=io.StringIO())
    keys = VirtualKey.objects.select_related("department", "decided_by")
    assert len(keys) == 6
    for key in keys:
        assert key.created_at < key.decided_at < key.activated_at < key.secret_revealed_at, key
        assert key.lifetime_days <= key.department.max_key_lifetime_days, key
        assert key.expires_at == key.activated_at + datetime.timedelta(days=key.lifetime_days)
        assert key.expires_at > key.secret_revealed_at
        assert key.decided_by.is_lead_of(key.department)
        assert key.max_budget <= key.department.max_key_budget
        assert set(key.llm_models) <= set(key.department.allowed_models), key
        first = DailySpend.objects.filter(key=key).order_by("day").first()
        assert first.day >= utc_day(key.activated_at), key


def test_a_second_seed_keeps_spend_already_there(settings):
    settings.LITELLM_BASE_URL = ""
    call_command("seed_demo", stdout=io.StringIO())
    key = VirtualKey.objects.get(name="paper-summariser")
    real = DailySpend.objects.create(
        day=utc_today(), team_id="portal-research", key_hash=key.litellm_key_id,
        model="openai/gpt-4o-mini", provider="openai", key=key, department=key.department,
        spend="0.00048", requests=1, successes=1,
    )  # fmt: skip
    rows = DailySpend.objects.count()
    call_command("seed_demo", stdout=io.StringIO())
    assert DailySpend.objects.count() == rows
    assert DailySpend.objects.filter(pk=real.pk).exists()


def test_home_says_what_is_missing_and_what_works(settings, client):
    settings.DEMO_MODE = True
    settings.DEMO_STATUS = {
        "litellm": "it could not be installed (no Node.js/npm, or no network?): npm ERR!",
        "database": "postgresql",
    }
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.LITELLM_PUBLIC_URL = settings.LITELLM_BASE_URL = settings.LANGFUSE_HOST = ""
    call_command("seed_demo", stdout=io.StringIO())
    client.force_login(User.objects.get(username="tanaka.kenji@demo.example"))
    html = client.get("/").content.decode()
    assert 'id="demo-litellm" data-ok="0"' in html
    assert "LiteLLM proxy: not running." in html and "npm ERR!" in html
    assert "What works without it" in html
    assert "Tasks in-process" in html and "Langfuse: not connected" in html
    client.cookies["django_language"] = "ja"
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "LiteLLM プロキシ: 動いていません。" in html


def test_home_names_the_running_langfuse_in_both_languages(settings, client):
    settings.DEMO_MODE = True
    settings.DEMO_STATUS = {"litellm": "ok", "database": "postgresql", "langfuse": "ok"}
    settings.LANGFUSE_HOST = "http://127.0.0.1:3999"
    call_command("seed_demo", stdout=io.StringIO())
    client.force_login(User.objects.get(username="tanaka.kenji@demo.example"))
    html = client.get("/").content.decode()
    line = html.split('id="demo-langfuse" data-ok="1">')[1].split("</li>")[0]
    assert "<code>http://127.0.0.1:3999</code>" in line and "the real Langfuse 4.16" in line
    client.cookies["django_language"] = "ja"
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    line = html.split('id="demo-langfuse" data-ok="1">')[1].split("</li>")[0]
    assert "<code>http://127.0.0.1:3999</code>" in line and "the real Langfuse" not in line
    assert "Langfuse 4.16" in line and "テスト" in line


def test_home_outside_demo_mode_has_no_demo_card(org, client):
    client.force_login(org["dev_a"])
    assert 'id="demo-status"' not in client.get("/").content.decode()


def test_project_without_langfuse_goes_to_manual_fulfilment(org, settings):
    settings.LANGFUSE_HOST = ""
    project = TuningProject.objects.create(
        requester=org["dev_a"], department=org["a"], name="evals", purpose="Evals.",
        justification="Evals.", lifetime_days=7, status=Status.APPROVED,
    )  # fmt: skip
    projects.provision(project.pk)
    project.refresh_from_db()
    assert project.status == Status.MANUAL
    assert project.fulfilment == TuningProject.Fulfilment.MANUAL
    assert project.last_error == projects.NO_LANGFUSE


def test_scheduler_runs_the_periodic_jobs_in_process(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.LITELLM_BASE_URL = ""  # ingestion fails, and says so on its state row
    call_command("run_schedule", "--once", stdout=io.StringIO())
    state = IngestionState.objects.get(source="litellm")
    assert state.last_run_at is not None
    assert "LITELLM_BASE_URL" in state.last_error
