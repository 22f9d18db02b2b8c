"""``genai-portal exchange``: in a CI job, trade the job's OIDC token for a short-lived LiteLLM
key. No secret for the LLM platform is configured anywhere: the CI proves who the job is.

Where the token comes from:

* GitHub Actions (``permissions: id-token: write``): ``GET $ACTIONS_ID_TOKEN_REQUEST_URL
  &audience=…`` with ``Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`` → ``{"value"}``;
* Azure DevOps: ``POST $SYSTEM_OIDCREQUESTURI?api-version=7.1`` with ``Authorization: Bearer
  $SYSTEM_ACCESSTOKEN`` (map ``System.AccessToken`` into the step's environment) →
  ``{"oidcToken"}``;
* anything else (GitLab ``id_tokens``, a Kubernetes projected token): ``--token-file`` or
  ``GENAI_PORTAL_ID_TOKEN``.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from urllib.parse import quote

import httpx

from .client import ApiError

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


class NoCiToken(Exception):
    pass


def ci_token(audience: str, *, token_file: str = "", service_connection: str = "") -> str:
    env = os.environ
    if token_file:
        return Path(token_file).read_text().strip()
    if env.get("GENAI_PORTAL_ID_TOKEN"):
        return env["GENAI_PORTAL_ID_TOKEN"].strip()
    if env.get("ACTIONS_ID_TOKEN_REQUEST_URL") and env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        url = env["ACTIONS_ID_TOKEN_REQUEST_URL"]
        url += ("&" if "?" in url else "?") + f"audience={quote(audience, safe='')}"
        headers = {"Authorization": f"Bearer {env['ACTIONS_ID_TOKEN_REQUEST_TOKEN']}"}
        return _fetch("GET", url, headers, "value")
    if env.get("SYSTEM_OIDCREQUESTURI"):
        if not env.get("SYSTEM_ACCESSTOKEN"):
            raise NoCiToken("SYSTEM_ACCESSTOKEN is not set: map $(System.AccessToken) into env.")
        url = f"{env['SYSTEM_OIDCREQUESTURI']}?api-version=7.1"
        if service_connection:
            url += f"&serviceConnectionId={quote(service_connection, safe='')}"
        headers = {"Authorization": f"Bearer {env['SYSTEM_ACCESSTOKEN']}"}
        return _fetch("POST", url, headers, "oidcToken")
    raise NoCiToken(
        "No CI token: not in GitHub Actions with id-token: write (ACTIONS_ID_TOKEN_REQUEST_URL), "
        "not in Azure DevOps (SYSTEM_OIDCREQUESTURI); use --token-file or GENAI_PORTAL_ID_TOKEN."
    )


def _fetch(method: str, url: str, headers: dict, field: str) -> str:
    try:
        response = httpx.request(method, url, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        raise NoCiToken(f"the CI's token endpoint failed: {exc}") from None
    if response.status_code != 200:
        raise NoCiToken(f"the CI's token endpoint answered HTTP {response.status_code}")
    value = response.json().get(field)
    if not value:
        raise NoCiToken(f"the CI's token endpoint answered without {field}")
    return value


def exchange(portal_url: str, subject_token: str, ca_bundle: str = "") -> dict:
    body = {"grant_type": GRANT, "subject_token": subject_token, "subject_token_type": JWT_TYPE}
    response = httpx.post(
        f"{portal_url}/api/v1/token-exchange", data=body, timeout=60, verify=ca_bundle or True
    )
    try:
        data = response.json()
    except ValueError:
        data = {"title": response.reason_phrase, "detail": response.text[:300]}
    if response.status_code != 200:
        raise ApiError(response.status_code, data)
    return data


def run(config, args) -> None:
    audience = args.audience or os.environ.get("GENAI_PORTAL_AUDIENCE") or config.url
    token = ci_token(
        audience, token_file=args.token_file, service_connection=args.service_connection
    )
    issued = exchange(config.url, token, config.ca_bundle)
    values = {"OPENAI_API_KEY": issued["access_token"], "OPENAI_BASE_URL": issued["base_url"]}
    if args.output == "json":
        print(json.dumps(issued, indent=2))
        return
    prefix = "export " if args.export else ""
    for name, value in values.items():
        print(f"{prefix}{name}={shlex.quote(value)}")
