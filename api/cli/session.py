"""Tokens for the CLI: MSAL device-code sign-in with a per-user cache file (0600), silent
refresh, client credentials for pipelines, or a token given in ``GENAI_PORTAL_TOKEN``."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import msal
import requests


class LoginRequired(Exception):
    pass


@dataclass
class Config:
    url: str
    authority: str
    client_id: str
    scope: str
    client_secret: str = ""
    token: str = ""
    ca_bundle: str = ""
    instance_discovery: bool = True
    cache_path: Path = Path()

    @classmethod
    def from_env(cls, url: str | None = None) -> Config:
        env = os.environ
        cache_home = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        tenant = env.get("GENAI_PORTAL_TENANT", "organizations")
        return cls(
            url=(url or env.get("GENAI_PORTAL_URL", "http://127.0.0.1:8000")).rstrip("/"),
            authority=env.get(
                "GENAI_PORTAL_AUTHORITY", f"https://login.microsoftonline.com/{tenant}"
            ),
            client_id=env.get("GENAI_PORTAL_CLIENT_ID", ""),
            scope=env.get("GENAI_PORTAL_SCOPE", ""),
            client_secret=env.get("GENAI_PORTAL_CLIENT_SECRET", ""),
            token=env.get("GENAI_PORTAL_TOKEN", ""),
            ca_bundle=env.get("GENAI_PORTAL_CA_BUNDLE", ""),
            instance_discovery=env.get("GENAI_PORTAL_INSTANCE_DISCOVERY", "1") != "0",
            cache_path=Path(
                env.get("GENAI_PORTAL_CACHE", cache_home / "genai-portal" / "msal-cache.json")
            ),
        )


class TokenCache(msal.SerializableTokenCache):
    """MSAL's serializable cache persisted to one file readable by its owner only."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        if path.exists():
            self.deserialize(path.read_text())

    def save(self) -> None:
        if not self.has_state_changed:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.serialize())
        os.chmod(self.path, 0o600)  # also when the file existed with wider rights
        self.has_state_changed = False


def _app(config: Config, cache: TokenCache):
    options = {
        "authority": config.authority,
        "token_cache": cache,
        "instance_discovery": config.instance_discovery,
    }
    if config.ca_bundle:
        session = requests.Session()
        session.trust_env = False  # else REQUESTS_CA_BUNDLE would win over the bundle given
        session.verify = config.ca_bundle
        options["http_client"] = session
    if config.client_secret:
        return msal.ConfidentialClientApplication(
            config.client_id, client_credential=config.client_secret, **options
        )
    return msal.PublicClientApplication(config.client_id, **options)


def _need(config: Config) -> None:
    if not (config.client_id and config.scope):
        raise LoginRequired("Set GENAI_PORTAL_CLIENT_ID and GENAI_PORTAL_SCOPE (see the README).")


def login(config: Config, out=sys.stderr) -> dict:
    """Device-code sign-in: print the code and URL, wait for the user, cache the tokens."""
    _need(config)
    cache = TokenCache(config.cache_path)
    app = _app(config, cache)
    flow = app.initiate_device_flow(scopes=[config.scope])
    if "user_code" not in flow:
        raise LoginRequired(flow.get("error_description") or "Could not start the sign-in.")
    print(flow["message"], file=out, flush=True)
    result = app.acquire_token_by_device_flow(flow)
    cache.save()
    if "access_token" not in result:
        raise LoginRequired(result.get("error_description") or "Sign-in failed.")
    return result.get("id_token_claims") or {}


def logout(config: Config) -> None:
    if config.cache_path.exists():
        config.cache_path.unlink()


def access_token(config: Config) -> str:
    """A valid access token: the given one, client credentials, or the cache (refreshed)."""
    if config.token:
        return config.token
    _need(config)
    if not (config.client_secret or config.cache_path.exists()):
        raise LoginRequired("Not signed in: run `genai-portal login`.")
    cache = TokenCache(config.cache_path)
    app = _app(config, cache)
    if config.client_secret:
        resource = config.scope.rsplit("/", 1)[0]
        result = app.acquire_token_for_client(scopes=[f"{resource}/.default"])
    else:
        accounts = app.get_accounts()
        result = app.acquire_token_silent([config.scope], account=accounts[0]) if accounts else None
    cache.save()
    if not result or "access_token" not in result:
        raise LoginRequired("Not signed in: run `genai-portal login`.")
    return result["access_token"]
