"""In a real browser: a developer requests a Langfuse tuning project, the lead approves, a worker
makes it in the Langfuse double (or infra fulfils it by hand), the owner reveals the keys once."""

import re

import pytest

from approvals.lifecycle import Status
from portal.celery import app as celery_app
from projects.models import TuningProject

from .browser import request_project, signed_in_page
from .integration import start_worker, wait_project_status

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def project_worker(langfuse, transactional_db):
    worker = start_worker(**langfuse.env())
    yield worker
    worker.stop()
    celery_app.conf.task_default_queue = "portal"


def request_in_browser(browser, live_server, org, name: str):
    dev = signed_in_page(browser, live_server, org["dev_a"])
    request_project(dev, live_server.url, name, department=org["a"])
    project = TuningProject.objects.get(name=name)
    assert dev.get_attribute("#project-status [data-status]", "data-status") == "submitted"
    return dev, project


def approve_in_browser(browser, live_server, org, project):
    lead = signed_in_page(browser, live_server, org["lead_a"])
    lead.goto(f"{live_server.url}/approvals/")
    lead.click(f"#approval-queue a.button[href='{project.decide_url()}']")
    lead.click("#decision-form #approve")
    lead.wait_for_url(re.compile(r"/approvals/$"))
    lead.context.close()


def reveal_once(dev, live_server, project) -> str:
    dev.click("#reveal")
    dev.wait_for_selector("#sdk-env")
    secret = dev.inner_text("#secret").strip()
    assert secret.startswith("sk-lf-")
    env = dev.inner_text("#sdk-env")
    project.refresh_from_db()
    assert f"LANGFUSE_PUBLIC_KEY={project.public_key}" in env
    assert f"LANGFUSE_SECRET_KEY={secret}" in env

    dev.goto(f"{live_server.url}/projects/{project.pk}/")
    assert dev.locator("#reveal").count() == 0
    assert dev.locator("#revealed").count() == 1
    assert secret not in dev.content()
    return secret


def test_request_approve_provision_reveal_once(browser, live_server, org, langfuse, project_worker):
    dev, project = request_in_browser(browser, live_server, org, "rag-eval")
    approve_in_browser(browser, live_server, org, project)

    # The developer's open page polls with htmx and offers the reveal button once a worker has
    # made the project in Langfuse.
    dev.wait_for_selector("#reveal", timeout=60_000)
    project.refresh_from_db()
    assert project.status == Status.ACTIVE
    assert langfuse.project_by_name(project.project_name)["id"] == project.langfuse_project_id

    secret = reveal_once(dev, live_server, project)
    own = langfuse.client().project_for_key(project.public_key, secret)
    assert own.id == project.langfuse_project_id
    dev.context.close()


def test_manual_fulfilment_by_infra_then_reveal(
    browser, live_server, org, langfuse, project_worker
):
    langfuse.entitlement = False
    dev, project = request_in_browser(browser, live_server, org, "hand-made")
    approve_in_browser(browser, live_server, org, project)
    wait_project_status(project.pk, Status.MANUAL, project_worker)
    dev.wait_for_selector("#project-status [data-status='manual']", timeout=30_000)
    assert dev.locator("#reveal").count() == 0

    infra = signed_in_page(browser, live_server, org["infra"])
    infra.goto(f"{live_server.url}/operations/")
    row = infra.locator("#project-ops tr", has_text=project.project_name)
    row.get_by_role("link", name="Fulfil by hand").click()
    infra.wait_for_url(re.compile(rf"/projects/{project.pk}/$"))
    form = "#manual-fulfilment form"
    infra.fill(f"{form} #id_langfuse_project_id", "proj-by-hand")
    infra.fill(f"{form} #id_public_key", "pk-lf-hand")
    infra.fill(f"{form} #id_secret_key", "sk-lf-hand-1234")
    infra.click(f"{form} button[type=submit]")
    infra.wait_for_selector("#project-status [data-status='active']")
    assert infra.locator("#manual-fulfilment").count() == 0
    # Infra never gets the reveal button: only the owner does.
    assert infra.locator("#reveal").count() == 0
    assert "sk-lf-hand-1234" not in infra.content()
    infra.context.close()

    dev.reload()
    assert reveal_once(dev, live_server, project) == "sk-lf-hand-1234"
    project.refresh_from_db()
    assert project.langfuse_project_id == "proj-by-hand" and project.public_key == "pk-lf-hand"
    dev.context.close()
