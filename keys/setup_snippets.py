"""Copy-ready settings for the tools developers point at the proxy, shown on the reveal page.

Each snippet holds the real proxy URL, the secret and the key's allowed model ids, in the
format its tool reads (YAML, JSON, TOML, a .env file or shell), so it can be pasted as is.
Text only: the page shows it once, with the secret, and nothing here is stored or logged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import yaml
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Snippet:
    id: str  # the element id on the page: snippet-<id>
    title: str
    where: str  # where it goes (a file, a settings screen, a shell)
    text: str


def _toml(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def snippets(proxy_url: str, secret: str, models: list[str]) -> list[Snippet]:
    """The settings for one key, in the order the page shows them."""
    model = models[0] if models else ""
    v1 = f"{proxy_url}/v1"
    curl = (
        f"curl {v1}/chat/completions \\\n"
        f'  -H "Authorization: Bearer {secret}" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d '{json.dumps({'model': model, 'messages': [{'role': 'user', 'content': 'Hello'}]})}'"
    )
    python = (
        "from openai import OpenAI\n\n"
        f'client = OpenAI(base_url="{proxy_url}", api_key="{secret}")\n'
        f'reply = client.chat.completions.create(model="{model}", '
        'messages=[{"role": "user", "content": "Hello"}])\n'
        "print(reply.choices[0].message.content)"
    )
    env = "\n".join(
        [
            f"OPENAI_BASE_URL={v1}",
            f"OPENAI_API_KEY={secret}",
            f"OPENAI_MODEL={model}",
            f"ANTHROPIC_BASE_URL={proxy_url}",
            f"ANTHROPIC_AUTH_TOKEN={secret}",
            f"ANTHROPIC_MODEL={model}",
        ]
    )
    cline = "\n".join(
        [
            "API Provider: OpenAI Compatible",
            f"Base URL:     {v1}",
            f"API Key:      {secret}",
            f"Model ID:     {model}",
        ]
    )
    # Roo Code's settings export (Settings → About → Import), one OpenAI-compatible profile.
    roo = json.dumps(
        {
            "providerProfiles": {
                "currentApiConfigName": "genai-portal",
                "apiConfigs": {
                    "genai-portal": {
                        "apiProvider": "openai",
                        "openAiBaseUrl": v1,
                        "openAiApiKey": secret,
                        "openAiModelId": model,
                    }
                },
            }
        },
        indent=2,
    )
    continue_yaml = yaml.safe_dump(
        {
            "name": "GenAI portal",
            "version": "1.0.0",
            "schema": "v1",
            "models": [
                {
                    "name": name,
                    "provider": "openai",
                    "model": name,
                    "apiBase": v1,
                    "apiKey": secret,
                    "roles": ["chat", "edit", "apply"],
                }
                for name in models
            ],
        },
        sort_keys=False,
        allow_unicode=True,
    ).rstrip()
    claude = "\n".join(
        [
            f"export ANTHROPIC_BASE_URL={proxy_url}",
            f"export ANTHROPIC_AUTH_TOKEN={secret}",
            f"claude --model {model}",
        ]
    )
    codex = "\n".join(
        [
            f"model = {_toml(model)}",
            'model_provider = "genai-portal"',
            "",
            "[model_providers.genai-portal]",
            'name = "GenAI portal (LiteLLM)"',
            f"base_url = {_toml(v1)}",
            'env_key = "GENAI_PORTAL_API_KEY"',
            'wire_api = "responses"',
        ]
    )
    agents = (
        "from agents import Agent, OpenAIChatCompletionsModel, Runner, set_tracing_disabled\n"
        "from openai import AsyncOpenAI\n\n"
        "set_tracing_disabled(True)  # traces go to Langfuse through the proxy, not to OpenAI\n"
        f'client = AsyncOpenAI(base_url="{v1}", api_key="{secret}")\n'
        "agent = Agent(\n"
        '    name="assistant",\n'
        '    instructions="Answer briefly.",\n'
        f'    model=OpenAIChatCompletionsModel(model="{model}", openai_client=client),\n'
        ")\n"
        'print(Runner.run_sync(agent, "Hello").final_output)'
    )
    return [
        Snippet("curl", "curl", _("a shell"), curl),
        Snippet("python", _("OpenAI SDK (Python)"), _("a Python file"), python),
        Snippet("env", _(".env file"), ".env", env),
        Snippet("cline", "Cline", _("Cline's settings: API Provider"), cline),
        Snippet("roo", "Roo Code", _("Roo Code: Settings → Import"), roo),
        Snippet("continue", "Continue", "~/.continue/config.yaml", continue_yaml),
        Snippet("claude-code", "Claude Code", _("a shell (LiteLLM serves /v1/messages)"), claude),
        Snippet(
            "codex",
            "Codex CLI",
            _("~/.codex/config.toml, with GENAI_PORTAL_API_KEY set to the secret"),
            codex,
        ),
        Snippet("agents", _("OpenAI Agents SDK (Python)"), _("a Python file"), agents),
    ]
