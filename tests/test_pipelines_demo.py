"""The demo's pipeline: its CI issuer (scripts/demo_ci_issuer.py, started as `make demo` starts
it), the seeded identity, a token from scripts/demo_ci_token.py, `genai-portal exchange` against
a live portal, and a call through the real LiteLLM proxy with the key."""

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest

from pipelines import demo
from pipelines.models import PipelineExchange

from .integration import chat
from .servers import REPO_ROOT, SubprocessServer, free_port
from .test_pipelines_cli import run_cli

pytestmark = [pytest.mark.litellm, pytest.mark.django_db(transaction=True)]
SCRIPTS = Path(REPO_ROOT) / "scripts"


class DemoIssuer(SubprocessServer):
    name = "demo CI issuer"

    def __init__(self, var_dir: Path, site_url: str) -> None:
        super().__init__(var_dir / "ci-issuer.log", startup_timeout=30)
        self.var_dir, self.site_url, self.port = var_dir, site_url, free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, str(SCRIPTS / "demo_ci_issuer.py")]

    def env(self) -> dict[str, str]:  # what scripts/demo.py gives it
        return {**os.environ, "DEMO_CI_ISSUER_PORT": str(self.port),
                "DEMO_VAR_DIR": str(self.var_dir), "SITE_URL": self.site_url}  # fmt: skip

    def readiness(self) -> str | None:
        try:
            httpx.get(f"{self.url}/.well-known/openid-configuration", timeout=2).raise_for_status()
        except httpx.HTTPError as exc:
            return str(exc)
        return None


def mint(var_dir: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "demo_ci_token.py"), *args],
        env={**os.environ, "DEMO_VAR_DIR": str(var_dir)}, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    return result.stdout.strip()


@pytest.fixture
def issuer(tmp_path, live_server):
    server = DemoIssuer(tmp_path, live_server.url).start()
    yield server
    server.stop()


def test_the_demo_token_gets_a_key_that_answers_through_the_proxy(
    org, litellm, live_server, issuer, tmp_path, settings
):
    settings.PIPELINES_ALLOW_HTTP_ISSUERS = True  # as the demo sets it
    identity = demo.seed_identity(
        org["a"], org["dev_a"], org["lead_a"], issuer=issuer.url, audience=live_server.url
    )
    assert identity.status == "active" and identity.issuer == issuer.url
    token = mint(tmp_path)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["iss"], claims["aud"]) == (issuer.url, live_server.url)
    assert claims["repository"] == demo.REPOSITORY and claims["exp"] - claims["iat"] == 300

    result = run_cli(live_server.url, {"GENAI_PORTAL_ID_TOKEN": token}, "--export")
    assert result.returncode == 0, result.stderr
    key = re.search(r"^export OPENAI_API_KEY=(sk-\S+)$", result.stdout, re.M).group(1)
    assert chat(litellm.base_url, key).status_code == 200
    exchange = PipelineExchange.objects.get(identity=identity)
    assert (exchange.outcome, exchange.repository) == ("issued", demo.REPOSITORY)

    # The same token again is a replay; another repository's token does not match.
    assert run_cli(live_server.url, {"GENAI_PORTAL_ID_TOKEN": token}).returncode == 1
    other = mint(tmp_path, "--repository", "demo-org/other")
    refused = run_cli(live_server.url, {"GENAI_PORTAL_ID_TOKEN": other})
    assert refused.returncode == 1 and "repository claim" in refused.stderr

    # Seeding again (the next `make demo`, the issuer on another port) keeps the identity.
    again = demo.seed_identity(
        org["a"], org["dev_a"], org["lead_a"], issuer="http://127.0.0.1:1", audience=live_server.url
    )
    assert again.pk == identity.pk and again.issuer == "http://127.0.0.1:1"
    assert again.status == "active"
