"""A Microsoft Entra ID (OIDC v2.0) double: a real HTTP server shaped like Entra's login host.

It serves, for any known tenant (``/{tenant}/...``):

* ``GET /{tenant}/v2.0/.well-known/openid-configuration`` (the same fields as Entra's; for
  ``common``/``organizations`` the issuer holds the literal ``{tenantid}`` placeholder, as Entra's)
* ``GET /{tenant}/discovery/v2.0/keys`` (JWKS, one RSA key generated at start)
* ``GET /{tenant}/oauth2/v2.0/authorize`` (no UI: signs in the user chosen with ``login_as``)
* ``POST /{tenant}/oauth2/v2.0/token`` (``authorization_code`` with PKCE, ``client_credentials``)
* ``GET /oidc/userinfo`` (Bearer; Entra serves it at ``graph.microsoft.com/oidc/userinfo``)
* ``GET /common/discovery/instance`` (msal's instance discovery)

Errors use Entra's shapes: ``{"error", "error_description": "AADSTS...", "error_codes", ...}``.

Two listeners share one state: ``base_url`` (plain HTTP, for allauth/requests/httpx) and
``https_base_url`` (TLS with a self-signed certificate for 127.0.0.1, ``ca_bundle`` is its PEM).
msal only accepts ``https://`` authorities (``msal.authority.canonicalize``), so msal is pointed at
``https_authority`` with ``verify=double.ca_bundle`` and ``instance_discovery=False`` (or
``instance_discovery=double.instance_discovery_url``, which this double also serves).

allauth's ``openid_connect`` provider is pointed at it with the app settings
``{"server_url": double.server_url, "uid_field": "oid", "fetch_userinfo": False,
"token_auth_method": "client_secret_post"}``, ``client_id``/``secret`` from the double, and the
callback URL registered with ``double.register_redirect_uri(...)``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import ipaddress
import json
import secrets
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit, urlunsplit

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ..servers import Closing, MethodHandler, serve, shut

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_RESOURCE = "https://graph.microsoft.com"
MULTI_TENANT_ALIASES = ("common", "organizations", "consumers")
DEFAULT_APP_ROLES = ("User.Read.All", "GroupMember.Read.All")
CODE_LIFETIME = 600
TOKEN_LIFETIME = 3600


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64(n: int) -> str:
    return _b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


@dataclass
class DirectoryUser:
    """One user of the directory; ``groups`` are the (transitive) group object ids."""

    oid: str
    email: str
    name: str
    groups: list[str] = field(default_factory=list)
    tenant: str = ""
    overage: bool = False
    upn: str = ""
    account_enabled: bool = True
    manager: str | None = None
    given_name: str = ""
    surname: str = ""

    @property
    def preferred_username(self) -> str:
        return self.upn or self.email


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    oid: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str
    expires: float


@dataclass
class IssuedToken:
    """A token the double handed out (kept so other doubles can accept exactly these)."""

    kind: str  # "user" or "app"
    claims: dict[str, Any]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, double: EntraDouble, scheme: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.double = double
        self.scheme = scheme
        self.base_url = f"{scheme}://127.0.0.1:{self.server_address[1]}"


class _Handler(MethodHandler):
    server: _Server

    def dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        body = self.body()
        double = self.server.double
        with double._lock:
            double.requests.append((method, parts.path))
        try:
            status, headers, payload = double._handle(
                method, parts.path, parse_qs(parts.query), dict(self.headers), body, self.server
            )
        except Exception as exc:  # a bug in the double: answer 500, keep the message
            status, headers, payload = 500, {}, {"error": "server_error", "detail": repr(exc)}
        if isinstance(payload, dict | list):
            data = json.dumps(payload).encode()
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        else:
            data = payload.encode() if isinstance(payload, str) else payload
            headers.setdefault("Content-Type", "text/html; charset=utf-8")
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Cache-Control", "no-store, no-cache")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class EntraDouble(Closing):
    """Entra ID tenant(s), an app registration and users, behind a real OIDC server."""

    def __init__(
        self,
        *,
        tenant_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        redirect_uris: list[str] | None = None,
        app_roles: tuple[str, ...] = DEFAULT_APP_ROLES,
        tls: bool = True,
    ) -> None:
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.client_id = client_id or str(uuid.uuid4())
        self.client_secret = client_secret or ("Qx8~" + secrets.token_urlsafe(30))
        self.redirect_uris: list[str] = list(redirect_uris or [])
        self.app_roles = list(app_roles)
        self.tenants: set[str] = {self.tenant_id}
        self.users: dict[str, DirectoryUser] = {}
        self.groups: dict[str, str] = {}  # group id -> display name
        self.requests: list[tuple[str, str]] = []
        self.issued: dict[str, IssuedToken] = {}  # access token -> what it was issued for
        self.id_tokens: list[str] = []
        self.client_credentials_issued = 0
        self.authorization_codes_issued = 0
        self._codes: dict[str, _Code] = {}
        self._current: str | None = None
        self._tamper_next = False
        self._next_tenant: str | None = None
        self._lock = threading.RLock()
        self.kid = _b64url(secrets.token_bytes(20))
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._private_pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._tmp = tempfile.TemporaryDirectory(prefix="entra-double-")
        self.ca_bundle = ""
        self._servers: list[_Server] = []
        self._http = self._start(_Server(self, "http"))
        self._https: _Server | None = None
        if tls:
            server = _Server(self, "https")
            server.socket = self._tls_context().wrap_socket(server.socket, server_side=True)
            self._https = self._start(server)

    # -- lifecycle --------------------------------------------------------------------------

    def _start(self, server: _Server) -> _Server:
        self._servers.append(serve(server, "entra-double"))
        return server

    def _tls_context(self) -> ssl.SSLContext:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        cert_path = Path(self._tmp.name) / "cert.pem"
        key_path = Path(self._tmp.name) / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.ca_bundle = str(cert_path)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        return context

    def close(self) -> None:
        for server in self._servers:
            shut(server)
        self._servers.clear()
        self._tmp.cleanup()

    # -- addresses --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._http.base_url

    @property
    def https_base_url(self) -> str:
        if self._https is None:
            raise RuntimeError("EntraDouble(tls=False) has no HTTPS listener")
        return self._https.base_url

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant_id}"

    @property
    def https_authority(self) -> str:
        """What msal's ``authority=`` takes (msal refuses non-https authorities)."""
        return f"{self.https_base_url}/{self.tenant_id}"

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/{self.tenant_id}/v2.0"

    @property
    def https_issuer(self) -> str:
        """The issuer as seen through the HTTPS listener (its discovery document says so)."""
        return f"{self.https_base_url}/{self.tenant_id}/v2.0"

    @property
    def server_url(self) -> str:
        """allauth ``openid_connect`` ``server_url`` (it appends the well-known path)."""
        return self.issuer

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/{self.tenant_id}/discovery/v2.0/keys"

    @property
    def instance_discovery_url(self) -> str:
        return f"{self.https_base_url}/common/discovery/instance"

    @property
    def public_jwk(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _int_b64(numbers.n),
            "e": _int_b64(numbers.e),
            "issuer": f"{self.base_url}/{{tenantid}}/v2.0",
        }

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self._key.public_key()

    # -- directory and test knobs -------------------------------------------------------------

    def add_user(
        self,
        oid: str | None = None,
        email: str = "",
        name: str = "",
        groups: list[str] | None = None,
        tenant: str | None = None,
        overage: bool = False,
        *,
        upn: str = "",
        account_enabled: bool = True,
        manager: str | None = None,
    ) -> DirectoryUser:
        oid = oid or str(uuid.uuid4())
        email = email or f"{oid[:8]}@contoso.example"
        given, _, surname = (name or "").partition(" ")
        user = DirectoryUser(
            oid=oid,
            email=email,
            name=name or email.split("@")[0],
            groups=list(groups or []),
            tenant=tenant or self.tenant_id,
            overage=overage,
            upn=upn or email,
            account_enabled=account_enabled,
            manager=manager,
            given_name=given,
            surname=surname,
        )
        with self._lock:
            self.users[oid] = user
            self.tenants.add(user.tenant)
            for group in user.groups:
                self.groups.setdefault(group, group)
        return user

    def add_group(self, group_id: str | None = None, name: str = "") -> str:
        group_id = group_id or str(uuid.uuid4())
        with self._lock:
            self.groups[group_id] = name or group_id
        return group_id

    def add_tenant(self, tenant_id: str) -> None:
        with self._lock:
            self.tenants.add(tenant_id)

    def register_redirect_uri(self, uri: str) -> None:
        with self._lock:
            if uri not in self.redirect_uris:
                self.redirect_uris.append(uri)

    def login_as(self, oid: str | None) -> None:
        """The user who "signs in" at the next authorize request (``None``: nobody)."""
        if oid is not None and oid not in self.users:
            raise KeyError(oid)
        self._current = oid

    def tamper_next_id_token(self) -> None:
        """The next ID token's signature will not verify."""
        self._tamper_next = True

    def issue_next_from_tenant(self, tid: str) -> None:
        """The next ID token claims another tenant (``tid`` and ``iss``), signed with our key."""
        self._next_tenant = tid

    def make_id_token(self, oid: str, *, nonce: str | None = None, **overrides: Any) -> str:
        """An ID token for ``oid`` as the token endpoint would issue it (for direct tests)."""
        return self._id_token(self.users[oid], nonce, self.base_url, overrides)

    # -- tokens ------------------------------------------------------------------------------

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self._private_pem, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"}
        )

    def _pairwise_sub(self, oid: str) -> str:
        digest = hashlib.sha256(f"{self.client_id}:{oid}".encode()).digest()
        return _b64url(digest)[:43]

    def _id_token(
        self, user: DirectoryUser, nonce: str | None, base: str, overrides: dict[str, Any]
    ) -> str:
        now = int(time.time())
        tid = user.tenant
        with self._lock:
            if self._next_tenant:
                tid, self._next_tenant = self._next_tenant, None
            tamper, self._tamper_next = self._tamper_next, False
        claims: dict[str, Any] = {
            "aud": self.client_id,
            "iss": f"{base}/{tid}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
            "aio": _b64url(secrets.token_bytes(24)),
            "email": user.email,
            "name": user.name,
            "oid": user.oid,
            "preferred_username": user.preferred_username,
            "rh": "0.A" + _b64url(secrets.token_bytes(18)),
            "sid": str(uuid.uuid4()),
            "sub": self._pairwise_sub(user.oid),
            "tid": tid,
            "uti": _b64url(secrets.token_bytes(16)),
            "ver": "2.0",
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if user.overage:
            claims["_claim_names"] = {"groups": "src1"}
            claims["_claim_sources"] = {
                "src1": {"endpoint": f"{GRAPH_RESOURCE}/v1.0/users/{user.oid}/getMemberObjects"}
            }
        else:
            claims["groups"] = list(user.groups)
        claims.update(overrides)
        token = self._sign(claims)
        if tamper:
            head, payload, sig = token.split(".")
            raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
            raw[0] ^= 0xFF
            token = f"{head}.{payload}.{_b64url(bytes(raw))}"
        with self._lock:
            self.id_tokens.append(token)
        return token

    def _access_token(self, claims: dict[str, Any], kind: str) -> str:
        token = self._sign(claims)
        with self._lock:
            self.issued[token] = IssuedToken(kind=kind, claims=claims)
        return token

    def verify_access_token(self, token: str, *, audience: str = GRAPH_RESOURCE) -> IssuedToken:
        """Check a Bearer token as a resource server would (signature, audience, expiry).

        Raises ``jwt.PyJWTError`` (or ``LookupError`` for a token this double never issued).
        """
        jwt.decode(
            token,
            self.public_key,
            algorithms=["RS256"],
            audience=[audience, GRAPH_APP_ID],
            options={"verify_iss": False},
        )
        with self._lock:
            issued = self.issued.get(token)
        if issued is None:
            raise LookupError("token not issued by this double")
        return issued

    # -- request handling --------------------------------------------------------------------

    def _error(
        self, status: int, error: str, code: int, description: str
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        now = datetime.now(UTC)
        trace = str(uuid.uuid4())
        correlation = str(uuid.uuid4())
        return (
            status,
            {},
            {
                "error": error,
                "error_description": (
                    f"AADSTS{code}: {description} Trace ID: {trace} "
                    f"Correlation ID: {correlation} Timestamp: {now:%Y-%m-%d %H:%M:%SZ}"
                ),
                "error_codes": [code],
                "timestamp": f"{now:%Y-%m-%d %H:%M:%SZ}",
                "trace_id": trace,
                "correlation_id": correlation,
                "error_uri": f"{self.base_url}/error?code={code}",
            },
        )

    def _handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
        server: _Server,
    ) -> tuple[int, dict[str, str], Any]:
        segments = [s for s in path.split("/") if s]
        q = {k: v[0] for k, v in query.items()}
        if segments == ["oidc", "userinfo"] and method == "GET":
            return self._userinfo(headers)
        if segments == ["common", "discovery", "instance"] and method == "GET":
            return self._instance_discovery(q, server)
        if not segments:
            return 404, {}, "Not found"
        tenant, rest = segments[0], segments[1:]
        if tenant not in self.tenants and tenant not in MULTI_TENANT_ALIASES:
            return self._error(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
                "and are signing into the correct cloud.",
            )
        if rest == ["v2.0", ".well-known", "openid-configuration"] and method == "GET":
            return 200, {}, self._openid_configuration(tenant, server.base_url)
        if rest == ["discovery", "v2.0", "keys"] and method == "GET":
            return 200, {}, {"keys": [self.public_jwk]}
        if rest == ["oauth2", "v2.0", "authorize"] and method == "GET":
            return self._authorize(tenant, q)
        if rest == ["oauth2", "v2.0", "token"] and method == "POST":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            return self._token(tenant, form, headers, server.base_url)
        return 404, {}, "Not found"

    def _openid_configuration(self, tenant: str, base: str) -> dict[str, Any]:
        t = "{tenantid}" if tenant in MULTI_TENANT_ALIASES else tenant
        return {
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{t}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "cloud_instance_name",
                "cloud_instance_host_name",
                "cloud_graph_host_name",
                "msgraph_host",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "at_hash",
                "c_hash",
                "email",
            ],
            "kerberos_endpoint": f"{base}/{tenant}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    def _instance_discovery(self, q: dict[str, str], server: _Server) -> tuple[int, dict, Any]:
        endpoint = q.get("authorization_endpoint", "")
        parts = urlsplit(endpoint)
        tenant = (parts.path.strip("/").split("/") or ["common"])[0] or "common"
        # msal sends the authority's host without its port; like Entra, answer with our own host.
        host = urlsplit(server.base_url).netloc
        scheme = server.scheme
        return (
            200,
            {},
            {
                "tenant_discovery_endpoint": urlunsplit(
                    (scheme, host, f"/{tenant}/v2.0/.well-known/openid-configuration", "", "")
                ),
                "api-version": "1.1",
                "metadata": [
                    {
                        "preferred_network": host,
                        "preferred_cache": host,
                        "aliases": [host],
                    }
                ],
            },
        )

    def _authorize(self, tenant: str, q: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        client_id = q.get("client_id", "")
        redirect_uri = q.get("redirect_uri", "")
        if client_id != self.client_id:
            status, _, err = self._error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{html.escape(client_id)}' was not found in the "
                "directory.",
            )
            return status, {}, f"<html><body><p>{err['error_description']}</p></body></html>"
        if redirect_uri not in self.redirect_uris:
            status, _, err = self._error(
                400,
                "invalid_request",
                50011,
                f"The redirect URI '{html.escape(redirect_uri)}' specified in the request does "
                "not match the redirect URIs configured for the application.",
            )
            return status, {}, f"<html><body><p>{err['error_description']}</p></body></html>"
        state = q.get("state")
        response_mode = q.get("response_mode", "query")

        def reply(params: dict[str, str]) -> tuple[int, dict[str, str], Any]:
            if state is not None:
                params["state"] = state
            if response_mode == "form_post":
                inputs = "".join(
                    f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}"/>'
                    for k, v in params.items()
                )
                page = (
                    f'<html><body onload="document.forms[0].submit()"><form method="POST" '
                    f'action="{html.escape(redirect_uri)}">{inputs}</form></body></html>'
                )
                return 200, {}, page
            sep = "&" if "?" in redirect_uri else "?"
            return 302, {"Location": f"{redirect_uri}{sep}{urlencode(params)}"}, ""

        if response_mode not in ("query", "form_post"):
            return reply(
                {
                    "error": "invalid_request",
                    "error_description": "AADSTS900144: this double supports response_mode "
                    "query and form_post only.",
                }
            )
        if q.get("response_type") != "code":
            return reply(
                {
                    "error": "unsupported_response_type",
                    "error_description": "AADSTS700054: response_type 'id_token' is not enabled "
                    "for the application.",
                }
            )
        scopes = q.get("scope", "").split()
        if "openid" not in scopes:
            return reply(
                {
                    "error": "invalid_request",
                    "error_description": "AADSTS900144: The request body must contain the "
                    "following parameter: 'scope' including openid.",
                }
            )
        method = q.get("code_challenge_method", "plain")
        if "code_challenge" in q and method not in ("S256", "plain"):
            return reply(
                {
                    "error": "invalid_request",
                    "error_description": "AADSTS501491: Invalid code_challenge_method.",
                }
            )
        oid = self._current
        user = self.users.get(oid) if oid else None
        if user is None:
            return reply(
                {
                    "error": "login_required",
                    "error_description": "AADSTS50058: A silent sign-in request was sent but no "
                    "user is signed in.",
                }
            )
        if not user.account_enabled:
            return reply(
                {
                    "error": "access_denied",
                    "error_description": "AADSTS50057: The user account is disabled.",
                }
            )
        if user.tenant != self.tenant_id and tenant not in MULTI_TENANT_ALIASES + (user.tenant,):
            return reply(
                {
                    "error": "invalid_request",
                    "error_description": "AADSTS50020: User account from identity provider does "
                    "not exist in tenant and cannot access the application.",
                }
            )
        code = "1.A" + secrets.token_urlsafe(48)
        with self._lock:
            self._codes[code] = _Code(
                client_id=client_id,
                redirect_uri=redirect_uri,
                oid=user.oid,
                scope=" ".join(scopes),
                nonce=q.get("nonce"),
                code_challenge=q.get("code_challenge"),
                code_challenge_method=method,
                expires=time.time() + CODE_LIFETIME,
            )
            self.authorization_codes_issued += 1
        return reply({"code": code, "session_state": str(uuid.uuid4())})

    def _client_auth(
        self, form: dict[str, str], headers: dict[str, str]
    ) -> tuple[str | None, tuple[int, dict, Any] | None]:
        client_id = form.get("client_id")
        secret = form.get("client_secret")
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if auth.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(auth[6:]).decode()
            except ValueError:
                decoded = ":"
            basic_id, _, basic_secret = decoded.partition(":")
            client_id, secret = unquote_plus(basic_id), unquote_plus(basic_secret)
        if client_id != self.client_id:
            return None, self._error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory.",
            )
        if not secret or not secrets.compare_digest(secret, self.client_secret):
            return None, self._error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                "the client secret value, not the client secret ID.",
            )
        return client_id, None

    def _token(
        self, tenant: str, form: dict[str, str], headers: dict[str, str], base: str
    ) -> tuple[int, dict[str, str], Any]:
        client_id, err = self._client_auth(form, headers)
        if err:
            return err
        grant = form.get("grant_type")
        now = int(time.time())
        if grant == "client_credentials":
            scope = form.get("scope", "")
            if not scope.endswith("/.default") or " " in scope.strip():
                return self._error(
                    400,
                    "invalid_scope",
                    1002012,
                    f"The provided value for scope {scope} is not valid. Client credential flows "
                    "must have a scope value with /.default suffixed to the resource identifier "
                    "(application ID URI).",
                )
            resource = scope[: -len("/.default")]
            tid = self.tenant_id if tenant in MULTI_TENANT_ALIASES else tenant
            claims = {
                "aud": resource,
                "iss": f"https://sts.windows.net/{tid}/",
                "iat": now,
                "nbf": now,
                "exp": now + TOKEN_LIFETIME,
                "app_displayname": "GenAI portal (double)",
                "appid": client_id,
                "appidacr": "1",
                "idp": f"https://sts.windows.net/{tid}/",
                "idtyp": "app",
                "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{client_id}")),
                "roles": list(self.app_roles),
                "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{client_id}")),
                "tid": tid,
                "uti": _b64url(secrets.token_bytes(16)),
                "ver": "1.0",
            }
            token = self._access_token(claims, "app")
            with self._lock:
                self.client_credentials_issued += 1
            return (
                200,
                {},
                {
                    "token_type": "Bearer",
                    "expires_in": TOKEN_LIFETIME - 1,
                    "ext_expires_in": TOKEN_LIFETIME - 1,
                    "access_token": token,
                },
            )
        if grant != "authorization_code":
            return self._error(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant}'.",
            )
        with self._lock:
            code = self._codes.pop(form.get("code", ""), None)
        if code is None or code.expires < time.time() or code.client_id != client_id:
            return self._error(
                400,
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity "
                "or was already redeemed.",
            )
        if form.get("redirect_uri") != code.redirect_uri:
            return self._error(
                400,
                "invalid_grant",
                500112,
                "The reply address does not match the reply address provided when requesting "
                "Authorization code.",
            )
        if code.code_challenge:
            verifier = form.get("code_verifier", "")
            if code.code_challenge_method == "S256":
                computed = _b64url(hashlib.sha256(verifier.encode()).digest())
            else:
                computed = verifier
            if not verifier or not secrets.compare_digest(computed, code.code_challenge):
                return self._error(
                    400,
                    "invalid_grant",
                    501481,
                    "The Code_Verifier does not match the code_challenge supplied in the "
                    "authorization request.",
                )
        user = self.users[code.oid]
        access_claims = {
            "aud": GRAPH_APP_ID,
            "iss": f"https://sts.windows.net/{user.tenant}/",
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
            "appid": client_id,
            "idtyp": "user",
            "name": user.name,
            "oid": user.oid,
            "scp": "email openid profile User.Read",
            "sub": self._pairwise_sub(user.oid),
            "tid": user.tenant,
            "unique_name": user.preferred_username,
            "upn": user.preferred_username,
            "ver": "1.0",
        }
        access_token = self._access_token(access_claims, "user")
        scopes = [s for s in code.scope.split() if s != "offline_access"]
        scope = " ".join([*scopes, f"{GRAPH_RESOURCE}/User.Read"])
        payload = {
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": TOKEN_LIFETIME,
            "ext_expires_in": TOKEN_LIFETIME,
            "access_token": access_token,
            "id_token": self._id_token(user, code.nonce, base, {}),
        }
        return 200, {}, payload

    def _userinfo(self, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        with self._lock:
            issued = self.issued.get(token)
        if issued is None or issued.kind != "user" or issued.claims["exp"] < time.time():
            return (
                401,
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
                {
                    "error": {
                        "code": "InvalidAuthenticationToken",
                        "message": "Access token validation failure. Invalid audience.",
                    }
                },
            )
        user = self.users[issued.claims["oid"]]
        return (
            200,
            {},
            {
                "sub": issued.claims["sub"],
                "name": user.name,
                "family_name": user.surname,
                "given_name": user.given_name,
                "picture": f"{GRAPH_RESOURCE}/v1.0/me/photo/$value",
                "email": user.email,
            },
        )


@pytest.fixture
def entra_double() -> Iterator[EntraDouble]:
    """A fresh Entra ID double per test (``redirect_uris`` empty: register the ones you use)."""
    double = EntraDouble()
    try:
        yield double
    finally:
        double.close()


def sign_in(client, entra: EntraDouble, oid: str):
    """Click "Sign in with Microsoft Entra ID" in the portal (a Django test client), let the
    double answer as ``oid``, land on the callback: the real allauth flow."""
    import httpx

    entra.login_as(oid)
    start = client.post("/accounts/oidc/entra/login/")
    assert start.status_code == 302, start.content[:500]
    authorize = httpx.get(start.url, follow_redirects=False)
    assert authorize.status_code == 302, authorize.text
    back = urlsplit(authorize.headers["location"])
    return client.get(f"{back.path}?{back.query}")
