"""Pages, navigation by role, access checks, i18n, health."""

import io

import pytest
from django.db import connection

from .production import manage

pytestmark = pytest.mark.django_db


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_navigation_follows_role(org, client):
    client.force_login(org["dev_a"])
    html = client.get("/").content.decode()
    assert 'data-nav="lead"' not in html and 'data-nav="infra"' not in html
    client.force_login(org["lead_a"])
    html = client.get("/").content.decode()
    assert 'data-nav="lead"' in html and 'data-nav="infra"' not in html
    client.force_login(org["infra"])
    html = client.get("/").content.decode()
    assert 'data-nav="infra"' in html


def test_home_lists_my_departments_and_roles(org, client):
    client.force_login(org["lead_a"])
    html = client.get("/").content.decode()
    assert "Alpha" in html and "Beta" not in html


def test_user_without_department_sees_why(org, client):
    client.force_login(org["nobody"])
    response = client.get("/")
    assert b'id="no-department"' in response.content


def test_lead_sees_own_department_not_another(org, client):
    client.force_login(org["lead_a"])
    assert client.get("/departments/alpha/").status_code == 200
    assert client.get("/departments/beta/").status_code == 404
    listing = client.get("/departments/").content.decode()
    assert "Alpha" in listing and "Beta" not in listing


def test_developer_cannot_open_department_page(org, client):
    client.force_login(org["dev_a"])
    assert client.get("/departments/alpha/").status_code == 404


def test_infra_sees_every_department(org, client):
    client.force_login(org["infra"])
    assert client.get("/departments/beta/").status_code == 200


def test_japanese_ui(org, client):
    client.force_login(org["dev_a"])
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert 'lang="ja"' in html
    assert "所属部署" in html


def test_demo_sign_in_absent_outside_demo_mode(org, client):
    assert client.get("/demo/sign-in/").status_code in (302, 404)


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_ok_with_real_database_and_redis(client):
    body = client.get("/readyz").json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": {"status": "ok"}, "broker": {"status": "ok"}}


def test_readyz_fails_when_database_is_down(client):
    saved = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = "1"  # nothing listens there
    try:
        response = client.get("/readyz")
    finally:
        connection.settings_dict["PORT"] = saved
        connection.close()
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["status"] == "error"


def test_readyz_fails_when_broker_is_down(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["status"] == "error"


def test_production_settings_pass_check_deploy():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRETS_FERNET_KEY="v3bYF3Qm1m7l0mHc4S2nX8bYz5Ww1bN0m8rP8k3d2aE=",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_demo_mode_refused_in_production():
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "0", "DEMO_MODE": "1", "SECRET_KEY": "x" * 60}
    result = manage("check", env=env, SECRETS_FERNET_KEY="x")
    assert result.returncode != 0
    assert "DEMO_MODE" in result.stderr


def test_demo_seed_is_idempotent_and_fills_the_cost_pages(client):
    from django.core.management import call_command

    from costs.models import DailySpend, MonthlySpend
    from tenants.models import Department, User

    call_command("seed_demo", stdout=io.StringIO())
    rows = DailySpend.objects.count()
    call_command("seed_demo", stdout=io.StringIO())
    assert DailySpend.objects.count() == rows > 0
    assert Department.objects.count() == 4
    research = Department.objects.get(slug="research")
    monthly = sum(m.spend for m in MonthlySpend.objects.filter(department=research))
    daily = sum(d.spend for d in DailySpend.objects.filter(department=research))
    assert monthly == daily
    client.force_login(User.objects.get(username="sato.haruka@demo.example"))
    assert "paper-summariser" in client.get("/costs/departments/research/").content.decode()


def test_approval_page_title_is_only_the_title(org, client):
    """Infra's budget table belongs in the page body, not inside <title>."""
    client.force_login(org["infra"])
    html = client.get("/approvals/").content.decode()
    title = html[html.index("<title>") : html.index("</title>")]
    assert "<table" not in title and "approval-queue" not in title
    assert 'id="approval-queue"' in html[html.index("</title>") :]
