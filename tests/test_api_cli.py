"""``genai-portal`` end to end: device-code sign-in against the Entra double (msal unchanged),
the live portal, a real Celery worker and the real LiteLLM proxy.

request (CLI) → approve (CLI, as the lead) → provisioned → reveal once → call the proxy with
the key → rotate → revoke; the token cache is a 0600 file; a second reveal is refused.
"""

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from approvals.lifecycle import Status
from keys.models import KeyExtension, VirtualKey

from .doubles.entra_api import EntraApiDouble
from .integration import chat, keys_with_alias, wait_for_row, wait_for_status

pytestmark = [pytest.mark.litellm, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def entra_tls(settings):
    double = EntraApiDouble(tls=True)  # msal accepts only https authorities
    settings.ENTRA_AUTHORITY_HOST = double.base_url
    settings.ENTRA_ALLOWED_TENANTS = [double.tenant_id]
    settings.API_AUDIENCES = [double.app_id_uri]
    settings.API_JWKS_URL = f"{double.base_url}/{double.tenant_id}/discovery/v2.0/keys"
    yield double
    double.close()


class Cli:
    def __init__(self, double, url: str, cache) -> None:
        self.double = double
        self.cache = cache
        self.env = {
            **os.environ,
            "GENAI_PORTAL_URL": url,
            "GENAI_PORTAL_AUTHORITY": double.https_authority if double.ca_bundle else "",
            "GENAI_PORTAL_CLIENT_ID": double.public_client_id,
            "GENAI_PORTAL_SCOPE": f"{double.app_id_uri}/Portal.Access",
            "GENAI_PORTAL_CA_BUNDLE": double.ca_bundle,
            "GENAI_PORTAL_INSTANCE_DISCOVERY": "0",
            "GENAI_PORTAL_CACHE": str(cache),
        }

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "api.cli.main", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if ok:
            assert result.returncode == 0, result.stderr + result.stdout
        return result

    def login(self, oid: str) -> None:
        self.double.approve_next_device(oid)
        result = self("login")
        assert "enter the code" in result.stderr
        assert "Signed in as" in result.stdout


def test_the_key_journey_from_the_terminal(org, entra_tls, litellm, worker, live_server, tmp_path):
    for name in ("dev_a", "lead_a"):
        user = org[name]
        entra_tls.add_user(oid=user.entra_oid, email=user.email, name=str(user))
    dev = Cli(entra_tls, live_server.url, tmp_path / "dev" / "msal.json")
    lead = Cli(entra_tls, live_server.url, tmp_path / "lead" / "msal.json")

    assert dev("keys", "list", ok=False).returncode == 2  # not signed in yet
    dev.login(org["dev_a"].entra_oid)
    assert stat.S_IMODE(dev.cache.stat().st_mode) == 0o600
    assert entra_tls.device_codes_issued == 1
    assert json.loads(dev("-o", "json", "whoami").stdout)["email"] == org["dev_a"].email

    requested = json.loads(
        dev(
            "-o", "json", "keys", "request", "--department", "alpha", "--name", "cli-bot",
            "--model", "gpt-4o-mini", "--budget", "5", "--rpm", "20", "--tpm", "10000",
            "--days", "30", "--justification", "terminal work",
        ).stdout
    )  # fmt: skip
    key_id = requested["id"]
    assert requested["status"] == "submitted"

    lead.login(org["lead_a"].entra_oid)
    queue = lead("-o", "csv", "requests", "list", "--queue").stdout.splitlines()
    assert queue[0].startswith("kind,id,name") and any(f",{key_id}," in r for r in queue[1:])
    assert dev("requests", "approve", str(key_id), ok=False).returncode == 1  # not their own
    lead("requests", "approve", str(key_id), "--comment", "ok")

    wait_for_status(key_id, Status.ACTIVE, worker=worker)
    table = dev("keys", "list").stdout
    assert "cli-bot" in table and "active" in table

    revealed = dev("keys", "reveal", str(key_id)).stdout
    secret = re.search(r"OPENAI_API_KEY=(sk-\S+)", revealed).group(1)
    assert f"OPENAI_BASE_URL={litellm.base_url}" in revealed and "Cline" in revealed
    assert chat(litellm.base_url, secret).status_code == 200
    again = dev("keys", "reveal", str(key_id), ok=False)
    assert again.returncode == 1 and "410" in again.stderr

    # Extend: the same key and secret, a later expiry once the lead approves.
    extension = json.loads(
        dev(
            "-o", "json", "keys", "extend", str(key_id), "--days", "7",
            "--justification", "pilot runs longer",
        ).stdout
    )  # fmt: skip
    assert extension["status"] == "submitted" and extension["key_id"] == key_id
    lead("requests", "approve", str(extension["id"]), "--kind", "extension")
    extended = wait_for_row(
        KeyExtension, extension["id"], lambda e: e.status == Status.ACTIVE, 60, worker
    )
    assert VirtualKey.objects.get(pk=key_id).expires_at == extended.new_expires_at
    assert chat(litellm.base_url, secret).status_code == 200  # the same secret still works

    dev("keys", "rotate", str(key_id))
    rotated = json.loads(dev("-o", "json", "keys", "reveal", str(key_id)).stdout)["secret"]
    assert rotated != secret
    assert chat(litellm.base_url, secret).status_code in (400, 401)
    assert chat(litellm.base_url, rotated).status_code == 200

    revoked = json.loads(dev("-o", "json", "keys", "revoke", str(key_id)).stdout)
    assert revoked["status"] == "revoked"
    assert chat(litellm.base_url, rotated).status_code in (400, 401)

    costs = dev("-o", "csv", "costs", "me").stdout.splitlines()
    assert costs[0].startswith("name,spend")
    assert dev("costs", "org", ok=False).returncode == 1  # infra only
    dev("logout")
    assert not dev.cache.exists()


def test_a_pipeline_requests_a_service_key_and_fetches_it_once(
    api, org, litellm, worker, live_server
):
    """A service principal (client credentials, token given to the CLI) asks for a key; a
    lead approves it through the API; the pipeline fetches the secret once and uses it."""
    pipeline = Cli(api.double, live_server.url, Path("/nonexistent"))
    pipeline.env["GENAI_PORTAL_TOKEN"] = api.double.app_token(org["sp_keys"].app_id)
    requested = json.loads(
        pipeline(
            "-o", "json", "keys", "request", "--department", "alpha", "--name", "nightly-ci",
            "--model", "gpt-4o-mini", "--budget", "3", "--days", "7", "--justification", "CI",
        ).stdout
    )  # fmt: skip
    assert requested["kind"] == "service" and requested["status"] == "submitted"
    decided = api.post(
        org["lead_a"], f"/requests/key/{requested['id']}/decision", {"decision": "approve"}
    )
    assert decided.status_code == 200, decided.content
    key = wait_for_status(requested["id"], Status.ACTIVE, worker=worker)
    [remote] = keys_with_alias(litellm, key.alias)
    assert remote["user_id"] is None and remote["team_id"] == "portal-alpha"

    secret = json.loads(pipeline("-o", "json", "keys", "reveal", str(key.pk)).stdout)["secret"]
    assert chat(litellm.base_url, secret).status_code == 200
    assert pipeline("keys", "reveal", str(key.pk), ok=False).returncode == 1
    assert pipeline("costs", "me", ok=False).returncode == 1  # no costs right
