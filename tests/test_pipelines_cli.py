"""``genai-portal exchange`` in a CI job, against a live portal and the real LiteLLM proxy, with
the environment a GitHub runner (or an Azure DevOps agent) sets and its token endpoint served
by the issuer double."""

import os
import re
import subprocess
import sys

import pytest

from pipelines.models import PipelineExchange

from .integration import chat
from .pipelines_support import make_identity

pytestmark = [pytest.mark.litellm, pytest.mark.django_db(transaction=True)]


def run_cli(portal_url: str, ci_env: dict, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENAI_PORTAL", "ACTIONS_",
                                                                     "SYSTEM_"))}  # fmt: skip
    env.update({"GENAI_PORTAL_URL": portal_url, **ci_env})
    return subprocess.run(
        [sys.executable, "-m", "api.cli.main", "exchange", *args],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_github_job_exports_a_key_that_calls_the_proxy(org, litellm, github, live_server):
    identity = make_identity(org, github.issuer, audience=live_server.url)
    github.job_claims = {"repository": "octo-org/octo-repo", "ref": "refs/heads/main"}
    runner_env = {
        "GITHUB_ACTIONS": "true",
        "ACTIONS_ID_TOKEN_REQUEST_URL": github.request_url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": github.runtime_token,
    }
    result = run_cli(live_server.url, runner_env, "--export")
    assert result.returncode == 0, result.stderr
    key = re.search(r"^export OPENAI_API_KEY=(sk-\S+)$", result.stdout, re.M).group(1)
    assert f"export OPENAI_BASE_URL={litellm.base_url}" in result.stdout
    assert chat(litellm.base_url, key).status_code == 200
    [request] = github.token_requests
    assert request["method"] == "GET" and request["audience"] == live_server.url
    assert request["api-version"] == "2.0"
    assert PipelineExchange.objects.get(identity=identity).outcome == "issued"

    # Another branch of the same repository is refused; the message names the claim.
    github.job_claims = {"repository": "octo-org/octo-repo", "ref": "refs/heads/experiment"}
    refused = run_cli(live_server.url, runner_env)
    assert refused.returncode == 1 and "ref claim" in refused.stderr and "403" in refused.stderr


def test_an_azure_devops_job_gets_a_key(org, litellm, ado, live_server):
    make_identity(org, ado.issuer, audience=ado.audience, claim_rules={"sub": "p://contoso/*/*"})
    agent_env = {"SYSTEM_OIDCREQUESTURI": ado.request_uri, "SYSTEM_ACCESSTOKEN": ado.runtime_token}
    result = run_cli(live_server.url, agent_env)
    assert result.returncode == 0, result.stderr
    key = re.search(r"^OPENAI_API_KEY=(sk-\S+)$", result.stdout, re.M).group(1)
    assert chat(litellm.base_url, key).status_code == 200
    assert ado.token_requests[0]["method"] == "POST"

    missing = run_cli(live_server.url, {"SYSTEM_OIDCREQUESTURI": ado.request_uri})
    assert missing.returncode == 2 and "SYSTEM_ACCESSTOKEN" in missing.stderr
    outside = run_cli(live_server.url, {})
    assert outside.returncode == 2 and "No CI token" in outside.stderr
