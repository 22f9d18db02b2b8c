"""A requested identity becomes trusted once approved; disabling it stops its exchanges at once
and its live keys in LiteLLM after the commit (a real worker, the real proxy, the GitHub
issuer double). Disable and exchange race under a barrier; the CLI requests and disables."""

import json
import os
import subprocess
import sys

import pytest

from pipelines import disabling, tasks
from pipelines.models import PipelineExchange, PipelineIdentity
from portal.models import AuditEvent

from .integration import chat, wait_for, wait_for_row
from .pipelines_support import AUDIENCE, exchange, litellm_keys, make_identity
from .test_races import race

pytestmark = [pytest.mark.litellm, pytest.mark.django_db(transaction=True)]


def request_body(issuer: str) -> dict:
    """A request for the GitHub double's tokens: the double serves plain HTTP on 127.0.0.1, so
    it is named as a Kubernetes-style issuer URL (GitHub's own issuer is fixed)."""
    return {
        "department": "alpha",
        "name": "payments-ci",
        "issuer_kind": "kubernetes",
        "issuer_detail": issuer,
        "audience": AUDIENCE,
        "claim_rules": {"repository": "octo-org/octo-repo", "ref": "refs/heads/main"},
        "llm_models": ["gpt-4o-mini"],
        "run_budget": "1",
        "run_lifetime_seconds": 600,
        "daily_budget": "5",
        "max_live_keys": 3,
        "lifetime_days": 30,
        "justification": "CI evaluation on every push.",
    }


def test_requested_approved_trusted_then_disabled_by_the_lead(org, api, litellm, github, worker):
    reply = api.post(org["dev_a"], "/pipelines", request_body(github.issuer))
    assert reply.status_code == 201, reply.content
    pk = reply.json()["id"]

    # Pending: refused before anything is fetched from the issuer it names.
    answer = exchange(github.token(audience=AUDIENCE))
    assert answer.status_code == 403 and answer.json()["type"].endswith("/identity-inactive")
    assert github.discovery_fetches == 0 and github.jwks_fetches == 0

    decided = api.post(org["lead_a"], f"/requests/pipeline/{pk}/decision", {"decision": "approve"})
    assert decided.status_code == 200, decided.content
    wait_for_row(PipelineIdentity, pk, lambda i: i.status == "active", 90, worker, ", not active")

    answer = exchange(github.token(audience=AUDIENCE))
    assert answer.status_code == 200, answer.content
    secret = answer.json()["access_token"]
    assert chat(litellm.base_url, secret).status_code == 200

    # Someone else's identity: 404; the department's lead disables it.
    assert api.post(org["dev_b"], f"/pipelines/{pk}/disable").status_code == 404
    reply = api.call(org["lead_a"], "POST", f"/pipelines/{pk}/disable?reason=repository+archived")
    assert reply.status_code == 200, reply.content
    assert reply.json()["status"] == "revoked"
    event = AuditEvent.objects.get(action="pipelineidentity.revoked")
    assert event.actor_id == org["lead_a"].pk and event.after["status"] == "revoked"

    # The worker deletes the live key after the commit: it stops answering through the proxy.
    wait_for(lambda: chat(litellm.base_url, secret).status_code in (400, 401), timeout=90,
             interval=0.5, message="the disabled identity's key still answers")  # fmt: skip
    identity = PipelineIdentity.objects.get(pk=pk)
    assert litellm_keys(litellm, identity) == []
    row = PipelineExchange.objects.get(identity=identity, outcome="issued")
    assert row.key_removed_at is not None

    # A disabled identity refuses exchanges, audited; nothing is minted.
    answer = exchange(github.token(audience=AUDIENCE))
    assert answer.status_code == 403 and answer.json()["type"].endswith("/identity-inactive")
    assert litellm_keys(litellm, identity) == []
    # Disabling twice is refused as a conflict.
    assert api.post(org["dev_a"], f"/pipelines/{pk}/disable").status_code == 409


def test_disable_races_exchange_and_no_key_outlives_the_identity(org, litellm, github):
    outcomes = set()
    for round_ in range(4):
        identity = make_identity(org, github.issuer, name=f"race-{round_}")
        token = github.token(audience=AUDIENCE)
        copy = PipelineIdentity.objects.get(pk=identity.pk)
        (answer, _), (_, refused) = race(
            lambda t=token: exchange(t),
            lambda c=copy: disabling.disable(c, actor=org["dev_a"]),
        )
        assert refused is None, refused  # disabling never fails against an exchange
        identity.refresh_from_db()
        assert identity.status == "revoked"
        outcomes.add(answer.status_code)
        if answer.status_code == 200:  # minted first: the key is deleted after the disable
            secret = answer.json()["access_token"]
            disabling.remove_keys(identity.pk)  # the task the disable enqueued, run here
            wait_for(lambda s=secret: chat(litellm.base_url, s).status_code in (400, 401),
                     timeout=60, interval=0.5, message="a raced key still answers")  # fmt: skip
        else:
            assert answer.status_code == 403, answer.content
            assert answer.json()["type"].endswith("/identity-inactive")
        assert litellm_keys(litellm, identity) == []
        assert not identity.exchanges.live().exists()
    assert outcomes <= {200, 403}


def test_the_cli_requests_lists_shows_and_disables(org, api, litellm, github, live_server):
    env = {**os.environ, "GENAI_PORTAL_URL": live_server.url}

    def cli(who, *args):
        run_env = {**env, "GENAI_PORTAL_TOKEN": api.token(org[who])}
        return subprocess.run([sys.executable, "-m", "api.cli.main", *args], env=run_env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    github_settings = ["--issuer", "kubernetes", "--issuer-detail", github.issuer]
    result = cli("dev_a", "pipelines", "request", "--department", "alpha", "--name", "cli-ci",
                 *github_settings, "--audience", AUDIENCE,
                 "--claim", "repository=octo-org/octo-repo", "--claim", "ref=refs/heads/main",
                 "--model", "gpt-4o-mini", "--run-budget", "1", "--daily-budget", "5",
                 "--run-lifetime", "600", "--justification", "CI")  # fmt: skip
    assert result.returncode == 0, result.stderr
    requested = PipelineIdentity.objects.get(name="cli-ci")
    assert requested.status == "submitted" and requested.claim_rules["ref"] == "refs/heads/main"

    bad = cli("dev_a", "pipelines", "request", "--department", "alpha", "--name", "x",
              "--issuer", "github", "--audience", AUDIENCE, "--claim", "ref=refs/heads/main",
              "--model", "gpt-4o-mini", "--run-budget", "1", "--daily-budget", "5",
              "--justification", "CI")  # fmt: skip
    assert bad.returncode == 1 and "claim_rules" in bad.stderr

    active = make_identity(org, github.issuer, name="live-ci")
    listed = cli("lead_a", "-o", "json", "pipelines", "list", "--all")
    assert listed.returncode == 0, listed.stderr
    assert {"cli-ci", "live-ci"} <= {i["name"] for i in json.loads(listed.stdout)}
    shown = cli("dev_a", "pipelines", "show", str(active.pk))
    assert "live-ci" in shown.stdout and "active" in shown.stdout
    assert cli("dev_b", "pipelines", "show", str(active.pk)).returncode == 1

    disabled = cli("dev_a", "pipelines", "disable", str(active.pk), "--reason", "moved")
    assert disabled.returncode == 0, disabled.stderr
    active.refresh_from_db()
    assert active.status == "revoked" and active.last_error == "moved"


def test_the_sweep_deletes_what_a_lost_removal_left(org, litellm, github):
    """The removal task never ran (no worker here): the sweep deletes the disabled identity's
    live key, keeping its spend."""
    identity = make_identity(org, github.issuer)
    secret = exchange(github.token(audience=AUDIENCE)).json()["access_token"]
    assert chat(litellm.base_url, secret).status_code == 200
    disabling.disable(identity, actor=org["infra"])
    assert tasks.disabled_with_keys() == [identity.pk]
    result = tasks.sweep_pipeline_keys()
    assert result["removed"] == 1 and tasks.disabled_with_keys() == []
    assert litellm_keys(litellm, identity) == []
    wait_for(lambda: chat(litellm.base_url, secret).status_code in (400, 401), timeout=60,
             interval=0.5, message="the swept key still answers")  # fmt: skip
