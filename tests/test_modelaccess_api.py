"""Model access requests through the REST API and ``genai-portal models``: the same form, the
same policy, the same 404 for someone else's request."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.utils import timezone

from approvals.lifecycle import Status
from catalogue.models import CatalogueModel
from modelaccess.models import ModelAccessRequest

from .api_support import Api

BODY = {
    "department": "alpha",
    "model_name": "gpt-4o",
    "change": "add",
    "expected_monthly_spend": "25",
    "justification": "Longer context for contracts.",
}


@pytest.fixture
def served(db):
    for name in ("gpt-4o", "gpt-4o-mini", "gemini-1.5-flash"):
        CatalogueModel.objects.create(name=name, seen_at=timezone.now())


@pytest.mark.django_db
def test_ask_list_get_decide_and_cancel_through_the_api(api, org, served):
    created = api.post(org["dev_a"], "/model-access", BODY)
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["model_name"], body["status"], body["department"]) == (
        "gpt-4o", Status.SUBMITTED, "alpha",
    )  # fmt: skip
    assert body["allowed_when_asked"] == ["claude-3-5-sonnet", "gpt-4o-mini"]
    pk = body["id"]
    assert created["Location"] == f"/api/v1/model-access/{pk}"
    mine = api.get(org["dev_a"], "/model-access").json()["results"]
    assert [r["id"] for r in mine] == [pk]
    assert api.get(org["lead_a"], "/model-access?scope=visible").json()["results"][0]["id"] == pk
    assert api.get(org["lead_b"], "/model-access?scope=visible").json()["results"] == []
    assert api.get(org["dev_b"], f"/model-access/{pk}").status_code == 404
    # In infra's queue; the requester cannot decide, infra can.
    queue = api.get(org["infra"], "/requests/queue?kind=model").json()["results"]
    assert [r["id"] for r in queue] == [pk]
    decision = {"decision": "approve", "comment": ""}
    assert api.post(org["dev_a"], f"/requests/model/{pk}/decision", decision).status_code == 403
    decided = api.post(org["infra"], f"/requests/model/{pk}/decision", decision)
    assert decided.status_code == 200 and decided.json()["status"] == Status.APPROVED
    # A second request about another model, cancelled by its requester only.
    other = api.post(org["lead_a"], "/model-access", {**BODY, "model_name": "gemini-1.5-flash"})
    other_pk = other.json()["id"]
    assert api.post(org["dev_a"], f"/model-access/{other_pk}/cancel").status_code == 404
    assert api.post(org["infra"], f"/model-access/{other_pk}/cancel").status_code == 403
    cancelled = api.post(org["lead_a"], f"/model-access/{other_pk}/cancel")
    assert cancelled.json()["status"] == Status.CANCELLED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model_name": "gpt-4o-mini"}, "model_name"),  # alpha has it already
        ({"model_name": "not-served"}, "model_name"),
        ({"change": "rename"}, "change"),
        ({"expected_monthly_spend": "-5"}, "expected_monthly_spend"),
        ({"department": "beta"}, "department"),  # not dev_a's department
    ],
)
def test_bad_input_is_422_with_the_field(api, org, served, change, field):
    reply = api.post(org["dev_a"], "/model-access", {**BODY, **change})
    assert reply.status_code == 422, reply.content
    assert field in reply.json()["errors"]
    assert not ModelAccessRequest.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_cli_asks_lists_shows_and_cancels(entra_api, live_server, org, served):
    api = Api(entra_api)
    for name in ("dev_a", "infra"):
        api.double.add_user(oid=org[name].entra_oid, email=org[name].email, name=name)

    def cli(who, *args):
        env = {**os.environ, "GENAI_PORTAL_URL": live_server.url}
        env["GENAI_PORTAL_TOKEN"] = api.token(org[who])
        result = subprocess.run(
            [sys.executable, "-m", "api.cli.main", *args],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    asked = json.loads(
        cli("dev_a", "-o", "json", "models", "request", "--department", "alpha",
            "--model", "gpt-4o", "--spend", "30", "--justification", "contracts")
    )  # fmt: skip
    assert (asked["change"], asked["expected_monthly_spend"]) == ("add", "30.00")
    listed = cli("dev_a", "models", "list")
    assert "gpt-4o" in listed and "submitted" in listed
    assert (
        json.loads(cli("dev_a", "-o", "json", "models", "show", str(asked["id"])))["id"]
        == (asked["id"])
    )
    queue = cli("infra", "requests", "list", "--queue", "--kind", "model")
    assert "+ gpt-4o" in queue
    removal = json.loads(
        cli("dev_a", "-o", "json", "models", "request", "--department", "alpha",
            "--model", "gpt-4o-mini", "--remove", "--justification", "unused")
    )  # fmt: skip
    assert removal["change"] == "remove"
    cancelled = json.loads(cli("dev_a", "-o", "json", "models", "cancel", str(removal["id"])))
    assert cancelled["status"] == Status.CANCELLED
    rejected = json.loads(
        cli("infra", "-o", "json", "requests", "reject", str(asked["id"]), "--kind", "model",
            "--comment", "not this quarter")
    )  # fmt: skip
    assert rejected["status"] == Status.REJECTED
