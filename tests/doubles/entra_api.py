"""The Entra double, extended for the portal's own API: access tokens minted for its scope and
app role, and the device-code grant (RFC 8628, Entra's wire format) for the CLI's login.

* ``POST /{tenant}/oauth2/v2.0/devicecode`` (``client_id``, ``scope``) answers ``device_code``,
  ``user_code``, ``verification_uri``, ``expires_in``, ``interval``, ``message``.
* ``POST /{tenant}/oauth2/v2.0/token`` with ``grant_type=urn:ietf:params:oauth:grant-type:
  device_code`` answers ``authorization_pending`` (AADSTS70016) until ``approve_device`` signs a
  user in for that code, then the tokens (access token for the API, ID token, refresh token,
  ``client_info``); ``grant_type=refresh_token`` renews them. A public client: no secret.
"""

from __future__ import annotations

import json
import secrets
import string
import threading
import time
import uuid
from typing import Any

import pytest

from .entra import TOKEN_LIFETIME, EntraDouble, _b64url

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
API_SCOPE = "Portal.Access"
APP_ROLE = "Portal.Service"


class EntraApiDouble(EntraDouble):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.public_client_id = str(uuid.uuid4())  # the CLI's app registration
        self.devices: dict[str, dict[str, Any]] = {}  # device_code -> state
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> oid
        self.device_codes_issued = 0

    @property
    def app_id_uri(self) -> str:
        return f"api://{self.client_id}"

    # -- minted tokens for direct tests --------------------------------------------------------
    def _v2_token(self, kind: str, tid: str, azp: str, claims: dict, overrides: dict) -> str:
        """A v2 access token for the API: the claims every one carries, then ``claims``
        (what the kind adds), then ``overrides``."""
        now = int(time.time())
        return self._access_token(
            {
                "aud": self.app_id_uri,
                "iss": f"{self.base_url}/{tid}/v2.0",
                "iat": now,
                "nbf": now,
                "exp": now + TOKEN_LIFETIME,
                "azp": azp,
                "azpacr": "0" if kind == "user" else "1",
                "idtyp": kind,
                **claims,
                "tid": tid,
                "uti": _b64url(secrets.token_bytes(16)),
                "ver": "2.0",
                **overrides,
            },
            kind,
        )

    def api_token(self, oid: str, *, scp: str = API_SCOPE, **overrides: Any) -> str:
        """A v2 delegated access token for the portal's API (as the CLI would get)."""
        user = self.users.get(oid)
        tid = user.tenant if user else self.tenant_id
        claims = {
            "name": user.name if user else "",
            "oid": oid,
            "preferred_username": user.preferred_username if user else "",
            "scp": scp,
            "sub": self._pairwise_sub(oid),
        }
        return self._v2_token("user", tid, self.public_client_id, claims, overrides)

    def app_token(self, app_id: str, *, roles: list[str] | None = None, **overrides: Any) -> str:
        """A v2 client-credentials access token for the API (a pipeline's service principal)."""
        principal = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{app_id}"))
        claims = {
            "oid": principal,
            "roles": [APP_ROLE] if roles is None else roles,
            "sub": principal,
        }
        return self._v2_token("app", self.tenant_id, app_id, claims, overrides)

    @staticmethod
    def tamper(token: str) -> str:
        head, payload, sig = token.split(".")
        flipped = "A" if sig[0] != "A" else "B"
        return f"{head}.{payload}.{flipped}{sig[1:]}"

    # -- device-code grant --------------------------------------------------------------------
    def approve_device(self, user_code: str, oid: str) -> None:
        with self._lock:
            for state in self.devices.values():
                if state["user_code"] == user_code:
                    state["oid"] = oid
                    return
        raise KeyError(user_code)

    def pending_user_codes(self) -> list[str]:
        with self._lock:
            return [s["user_code"] for s in self.devices.values() if s["oid"] is None]

    def approve_next_device(self, oid: str, timeout: float = 30) -> threading.Thread:
        """In the background: sign ``oid`` in for the next device code that appears."""

        def run() -> None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                codes = self.pending_user_codes()
                if codes:
                    self.approve_device(codes[0], oid)
                    return
                time.sleep(0.05)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def _handle(self, method, path, query, headers, body, server):
        segments = [s for s in path.split("/") if s]
        if len(segments) == 4 and segments[1:] == ["oauth2", "v2.0", "devicecode"]:
            form = _form(body)
            return self._device_code(segments[0], form, server.base_url)
        if len(segments) == 4 and segments[1:] == ["oauth2", "v2.0", "token"]:
            form = _form(body)
            if form.get("grant_type") == DEVICE_GRANT:
                return self._device_token(form)
            if form.get("grant_type") == "refresh_token" and "client_secret" not in form:
                return self._refresh(form)
        return super()._handle(method, path, query, headers, body, server)

    def _device_code(self, tenant: str, form: dict[str, str], base: str):
        if form.get("client_id") != self.public_client_id:
            return self._error(400, "unauthorized_client", 700016, "Application not found.")
        user_code = "".join(secrets.choice(string.ascii_uppercase) for _ in range(9))
        device_code = secrets.token_urlsafe(32)
        with self._lock:
            self.devices[device_code] = {
                "user_code": user_code,
                "scope": form.get("scope", ""),
                "oid": None,
                "expires": time.time() + 900,
            }
            self.device_codes_issued += 1
        uri = f"{base}/devicelogin"
        return (
            200,
            {},
            {
                "user_code": user_code,
                "device_code": device_code,
                "verification_uri": uri,
                "expires_in": 900,
                "interval": 1,
                "message": f"To sign in, use a web browser to open the page {uri} and enter "
                f"the code {user_code} to authenticate.",
            },
        )

    def _device_token(self, form: dict[str, str]):
        with self._lock:
            state = self.devices.get(form.get("device_code", ""))
        if state is None or state["expires"] < time.time():
            return self._error(
                400, "expired_token", 70020, "The provided value for device code is expired."
            )  # noqa: E501
        if state["oid"] is None:
            return self._error(
                400,
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            )
        with self._lock:
            self.devices.pop(form["device_code"], None)
        return self._tokens_for(state["oid"], state["scope"])

    def _refresh(self, form: dict[str, str]):
        with self._lock:
            oid = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
        if oid is None:
            return self._error(400, "invalid_grant", 70000, "The refresh token is invalid.")
        return self._tokens_for(oid, form.get("scope", ""))

    def _tokens_for(self, oid: str, scope: str):
        user = self.users[oid]
        refresh = secrets.token_urlsafe(48)
        with self._lock:
            self.refresh_tokens[refresh] = oid
        client_info = _b64url(json.dumps({"uid": oid, "utid": user.tenant}).encode())
        id_token = self._id_token(user, None, self.base_url, {"aud": self.public_client_id})
        granted = [s for s in scope.split() if s.startswith(self.app_id_uri)] or [
            f"{self.app_id_uri}/{API_SCOPE}"
        ]
        return (
            200,
            {},
            {
                "token_type": "Bearer",
                "scope": " ".join(granted),
                "expires_in": TOKEN_LIFETIME,
                "ext_expires_in": TOKEN_LIFETIME,
                "access_token": self.api_token(oid),
                "refresh_token": refresh,
                "id_token": id_token,
                "client_info": client_info,
            },
        )


def _form(body: bytes) -> dict[str, str]:
    from urllib.parse import parse_qs

    return {k: v[0] for k, v in parse_qs(body.decode()).items()}


@pytest.fixture
def entra_api(settings):
    """The double, with the portal's API trusting it (audience, tenant, JWKS)."""
    double = EntraApiDouble(tls=False)
    settings.ENTRA_AUTHORITY_HOST = double.base_url
    settings.ENTRA_ALLOWED_TENANTS = [double.tenant_id]
    settings.API_AUDIENCES = [double.app_id_uri, double.client_id]
    settings.API_JWKS_URL = f"{double.base_url}/{double.tenant_id}/discovery/v2.0/keys"
    try:
        yield double
    finally:
        double.close()
