"""The token exchange against the real LiteLLM proxy, with GitHub Actions and Azure DevOps
issuer doubles serving discovery and JWKS over HTTP."""

import json
import time

import pytest

from pipelines import services
from pipelines.models import PipelineExchange
from portal.models import AuditEvent

from .integration import chat, wait_for
from .pipelines_support import AUDIENCE, exchange, litellm_keys, make_identity

pytestmark = [pytest.mark.litellm, pytest.mark.django_db]


def refused(response, kind: str, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith(f"/{kind}"), body
    return body


def test_a_matching_github_token_gets_a_key_that_answers_then_expires(org, litellm, github):
    identity = make_identity(org, github.issuer, run_lifetime_seconds=6)
    claims = github.claims(audience=AUDIENCE)
    response = exchange(github.sign(claims))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert body["expires_in"] == 6 and body["base_url"] == litellm.base_url
    assert response["Cache-Control"] == "no-store"
    secret = body["access_token"]
    assert chat(litellm.base_url, secret).status_code == 200

    row = PipelineExchange.objects.get(identity=identity)
    assert row.outcome == "issued" and row.repository == "octo-org/octo-repo"
    assert row.run_id == claims["run_id"] and row.sha == claims["sha"]
    assert secret[-8:] not in json.dumps(list(PipelineExchange.objects.values()), default=str)
    [key] = litellm_keys(litellm, identity)
    assert key["token"] == row.key_hash and key["team_id"] == "portal-alpha"
    assert key["models"] == ["gpt-4o-mini"] and key["max_budget"] == 1.0
    assert key["metadata"]["run_id"] == claims["run_id"]
    assert key["metadata"]["tags"] == ["pipeline:payments-ci", "repository:octo-org/octo-repo"]
    assert AuditEvent.objects.filter(action="pipelineexchange.issued").count() == 1

    # The key stops working once its duration is over (LiteLLM refuses an expired key).
    started = time.monotonic()
    wait_for(lambda: chat(litellm.base_url, secret).status_code in (400, 401), timeout=60,
             interval=0.5, message="the run key still works after its duration")  # fmt: skip
    assert time.monotonic() - started < 60


def test_an_azure_devops_token_matches_on_its_own_claims(org, litellm, ado):
    identity = make_identity(
        org,
        ado.issuer,
        audience="api://AzureADTokenExchange",
        claim_rules={"sub": "p://contoso/payments/*", "rpo_ref": "refs/heads/main"},
    )
    response = exchange(ado.token())
    assert response.status_code == 200, response.content
    assert chat(litellm.base_url, response.json()["access_token"]).status_code == 200
    row = PipelineExchange.objects.get(identity=identity, outcome="issued")
    assert row.repository == "https://dev.azure.com/contoso/payments/_git/payments"

    other = exchange(ado.token(pipeline="payments-deploy", ref="refs/heads/dev"))
    body = refused(other, "claim-mismatch", 403)
    assert "rpo_ref" in body["detail"]


@pytest.mark.parametrize(
    ("claims", "kind", "status", "named"),
    [
        ({"repository": "octo-org/other-repo"}, "claim-mismatch", 403, "repository"),
        ({"ref": "refs/heads/feature-x"}, "claim-mismatch", 403, "ref"),
        ({"audience": "https://github.com/octo-org"}, "wrong-audience", 401, ""),
        ({"iat": int(time.time()) - 3600}, "expired", 401, ""),
    ],
)
def test_tokens_that_do_not_match_are_refused_and_nothing_is_minted(
    org, litellm, github, claims, kind, status, named
):
    identity = make_identity(org, github.issuer)
    token = github.token(**{"audience": AUDIENCE, **claims})
    body = refused(exchange(token), kind, status)
    assert named in body["detail"]
    assert token not in json.dumps(body) and token.split(".")[1] not in json.dumps(body)
    assert litellm_keys(litellm, identity) == []
    row = PipelineExchange.objects.get()
    assert row.outcome == kind and row.identity in (identity, None)
    event = AuditEvent.objects.get(action="pipelineexchange.refused")
    assert event.after["outcome"] == kind


def test_a_replayed_token_is_refused(org, litellm, github):
    identity = make_identity(org, github.issuer)
    token = github.token(audience=AUDIENCE)
    assert exchange(token).status_code == 200
    refused(exchange(token), "replay", 401)
    assert len(litellm_keys(litellm, identity)) == 1


def test_a_forged_signature_and_an_unknown_issuer_are_refused(org, litellm, github):
    from .doubles.ci_oidc import SigningKey

    identity = make_identity(org, github.issuer)
    forger = SigningKey()
    claims = github.claims(audience=AUDIENCE)
    # Signed by another key under the issuer's own kid.
    refused(exchange(forger.sign(claims, kid=github.signing_key.kid)), "bad-signature", 401)
    # A header and claims from a real token, the signature from another.
    real = github.token(audience=AUDIENCE).split(".")
    fake = forger.sign(claims, kid=github.signing_key.kid).split(".")
    refused(exchange(".".join([fake[0], fake[1], real[2]])), "bad-signature", 401)
    # An issuer nobody trusts is never fetched.
    before = github.discovery_fetches
    refused(exchange(github.sign({**claims, "iss": "https://evil.example.com"})),
            "unknown-issuer", 401)  # fmt: skip
    assert github.discovery_fetches == before
    refused(exchange("not-a-jwt"), "malformed", 400)
    assert litellm_keys(litellm, identity) == []


def test_a_rotated_key_is_fetched_once_and_accepted(org, litellm, github):
    make_identity(org, github.issuer)
    assert exchange(github.token(audience=AUDIENCE)).status_code == 200
    assert exchange(github.token(audience=AUDIENCE)).status_code == 200
    assert (github.discovery_fetches, github.jwks_fetches) == (1, 1)  # cached

    github.rotate()
    assert exchange(github.token(audience=AUDIENCE)).status_code == 200  # unknown kid: refetched
    assert github.jwks_fetches == 2
    # A made-up kid right after does not make the portal fetch the keys again.
    forged = github.sign(github.claims(audience=AUDIENCE), kid="made-up")
    refused(exchange(forged), "bad-signature", 401)
    assert github.jwks_fetches == 2


def test_a_pending_or_revoked_identity_mints_nothing(org, litellm, github):
    identity = make_identity(org, github.issuer, active=False)
    body = refused(exchange(github.token(audience=AUDIENCE)), "identity-inactive", 403)
    assert "waiting for approval" in body["detail"]
    assert litellm_keys(litellm, identity) == []


def test_the_daily_budget_is_enforced_by_the_proxy_across_runs(org, litellm, github, settings):
    # The exchange reads the identity's spend from LiteLLM each time (not cached for 30 s).
    settings.PIPELINES_SPEND_CACHE_SECONDS = 0
    identity = make_identity(org, github.issuer, daily_budget="0.0001", run_budget="1")
    first = exchange(github.token(audience=AUDIENCE)).json()["access_token"]
    second = exchange(github.token(audience=AUDIENCE)).json()["access_token"]
    assert chat(litellm.base_url, first).status_code == 200  # spends more than the day's budget

    # The second run's key (its own budget untouched) is refused by the proxy: the identity's
    # budget in the team is spent.
    wait_for(lambda: chat(litellm.base_url, second).status_code >= 400, timeout=60,
             interval=0.5, message="LiteLLM served past the daily budget")  # fmt: skip
    answer = chat(litellm.base_url, second)
    assert answer.json()["error"]["type"] == "budget_exceeded", answer.text
    assert f"TeamMember={identity.litellm_user_id}:portal-alpha" in answer.text

    # Once LiteLLM has written the spend down, a third run is refused before anything is minted.
    api = services.client()
    wait_for(lambda: services.spent_today(api, identity) >= identity.daily_budget, timeout=60,
             interval=0.5, message="LiteLLM never recorded the identity's spend")  # fmt: skip
    body = refused(exchange(github.token(audience=AUDIENCE)), "daily-budget", 429)
    assert "daily budget" in body["detail"]
    assert len(litellm_keys(litellm, identity)) == 2


def test_rate_limited_per_source_address(org, litellm, github, settings):
    settings.PIPELINES_RATE_LIMIT = "2/m"
    make_identity(org, github.issuer, max_live_keys=10)
    address = f"10.{time.time_ns() % 250}.{time.time_ns() % 251}.7"
    # Fixed one-minute windows: five calls fall into at most two, so one window holds three.
    answers = [
        exchange(github.token(audience=AUDIENCE), REMOTE_ADDR=address).status_code for _ in range(5)
    ]
    assert answers.count(200) <= 4 and answers.count(429) >= 1, answers
    refusals = PipelineExchange.objects.filter(outcome="rate-limited")
    assert refusals.count() == answers.count(429)
    assert {r.source_ip for r in refusals} == {address}


def test_bad_form_input_is_a_4xx(org, github):
    from django.test import Client

    client = Client()
    response = client.post("/api/v1/token-exchange", {"grant_type": "password"})
    assert response.status_code in (400, 422)
    response = client.post("/api/v1/token-exchange", {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": "a\x00b", "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
    })  # fmt: skip
    assert response.status_code == 400
