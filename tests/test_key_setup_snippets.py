"""The reveal page's setup snippets: each parses in its tool's format and, where the tool's client
library is on PyPI, calls the real LiteLLM proxy through that library with a real key."""

import json
import os
import subprocess
import tomllib

import httpx
import pytest
import yaml
from django.utils.html import escape

from approvals.lifecycle import Status
from keys.setup_snippets import snippets

from .factories import make_key
from .litellm_proxy import REPO_ROOT

pytestmark = pytest.mark.litellm

CLIENT_PYTHON = REPO_ROOT / ".client-venv" / "bin" / "python"
MODELS = ["gpt-4o-mini", "claude-3-5-sonnet"]


@pytest.fixture(scope="module")
def key(litellm_proxy) -> str:
    response = httpx.post(
        f"{litellm_proxy.base_url}/key/generate",
        json={"models": MODELS, "max_budget": 1, "duration": "1h"},
        headers={"Authorization": f"Bearer {litellm_proxy.master_key}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()["key"]


@pytest.fixture(scope="module")
def page(litellm_proxy, key) -> dict[str, str]:
    return {s.id: s.text for s in snippets(litellm_proxy.base_url, key, MODELS)}


def run_client(code: str, env: dict[str, str] | None = None) -> str:
    """Run ``code`` with the client libraries' Python, as a developer would run a snippet."""
    assert CLIENT_PYTHON.exists(), "run `make test-services` (the client libraries' venv)"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
    result = subprocess.run(  # noqa: S603
        [str(CLIENT_PYTHON), "-c", code],
        capture_output=True, text=True, timeout=120, env={**clean, **(env or {})},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def dotenv(text: str) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")]
    assert all(len(p) == 2 and p[0].isidentifier() for p in pairs), text
    return dict(pairs)


def test_every_snippet_holds_the_proxy_the_secret_and_an_allowed_model(litellm_proxy, key, page):
    assert set(page) == {
        "curl", "python", "env", "cline", "roo", "continue", "claude-code", "codex", "agents",
    }  # fmt: skip
    for name, text in page.items():
        assert litellm_proxy.base_url in text, name
        assert MODELS[0] in text, name
        if name != "codex":  # Codex reads the secret from the variable its file names
            assert key in text, name


def test_curl_and_the_openai_sdk_answer(page):
    answer = subprocess.run(  # noqa: S603
        ["bash", "-c", page["curl"]], capture_output=True, text=True, timeout=60, check=True
    )  # noqa: S607
    assert json.loads(answer.stdout)["choices"][0]["message"]["content"] == "Hello from the mock"
    assert run_client(page["python"]) == "Hello from the mock"


def test_the_env_file_drives_the_openai_and_anthropic_sdks(page):
    env = dotenv(page["env"])
    code = (
        "import os, openai\n"
        "r = openai.OpenAI().chat.completions.create(model=os.environ['OPENAI_MODEL'], "
        "messages=[{'role': 'user', 'content': 'Hi'}])\n"
        "print(r.choices[0].message.content)"
    )
    assert run_client(code, env) == "Hello from the mock"


def test_claude_code_settings_reach_the_proxys_messages_endpoint(page):
    """Claude Code speaks Anthropic's Messages API to ANTHROPIC_BASE_URL with the token as a
    bearer: the Anthropic SDK does the same with the variables the snippet exports."""
    lines = page["claude-code"].splitlines()
    exports = dict(line.removeprefix("export ").split("=", 1) for line in lines[:2])
    assert set(exports) == {"ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"}
    model = lines[2].split("--model ", 1)[1]
    code = (
        "import anthropic\n"
        f"r = anthropic.Anthropic().messages.create(model={model!r}, max_tokens=32, "
        "messages=[{'role': 'user', 'content': 'Hi'}])\n"
        "print(r.content[0].text)"
    )
    assert run_client(code, exports) == "Hello from the mock"


def test_continue_roo_and_cline_settings_parse_and_answer(page):
    config = yaml.safe_load(page["continue"])
    assert config["schema"] == "v1"
    assert [m["model"] for m in config["models"]] == MODELS
    claude = config["models"][1]
    roo = json.loads(page["roo"])["providerProfiles"]
    profile = roo["apiConfigs"][roo["currentApiConfigName"]]
    cline = dict(line.split(":", 1) for line in page["cline"].splitlines())
    cline = {k.strip(): v.strip() for k, v in cline.items()}
    assert cline["API Provider"] == "OpenAI Compatible"
    for base, secret, model in (
        (claude["apiBase"], claude["apiKey"], claude["model"]),
        (profile["openAiBaseUrl"], profile["openAiApiKey"], profile["openAiModelId"]),
        (cline["Base URL"], cline["API Key"], cline["Model ID"]),
    ):
        code = (
            "import openai\n"
            f"r = openai.OpenAI(base_url={base!r}, api_key={secret!r}).chat.completions.create("
            f"model={model!r}, messages=[{{'role': 'user', 'content': 'Hi'}}])\n"
            "print(r.choices[0].message.content)"
        )
        assert run_client(code) == "Hello from the mock"


def test_codex_provider_speaks_the_responses_api(key, page):
    config = tomllib.loads(page["codex"])
    provider = config["model_providers"][config["model_provider"]]
    assert provider["wire_api"] == "responses"
    code = (
        "import os, openai\n"
        f"c = openai.OpenAI(base_url={provider['base_url']!r}, "
        f"api_key=os.environ[{provider['env_key']!r}])\n"
        f"print(c.responses.create(model={config['model']!r}, input='Hi').output_text)"
    )
    assert run_client(code, {provider["env_key"]: key}) == "Hello from the mock"


def test_openai_agents_sdk_snippet_runs_as_is(page):
    assert run_client(page["agents"]) == "Hello from the mock"


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "ja"])
def test_reveal_page_shows_every_snippet_with_the_secret_and_models(
    org, client, settings, language
):
    settings.LITELLM_PUBLIC_URL = "https://llm.example.org"
    key = make_key(org, status=Status.ACTIVE, llm_models=MODELS)
    key.store_secret("sk-abcdefghijklmnop1234")
    key.save()
    client.force_login(org["dev_a"])
    html = client.post(f"/keys/{key.pk}/reveal/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    expected = snippets("https://llm.example.org", "sk-abcdefghijklmnop1234", MODELS)
    for snippet in expected:
        assert f'id="snippet-{snippet.id}"' in html
        assert escape(snippet.text) in html, snippet.id
