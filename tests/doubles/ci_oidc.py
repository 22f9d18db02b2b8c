"""CI OIDC issuers (GitHub Actions, Azure DevOps) as real local HTTP servers.

Each serves what the real issuer serves, the way it serves it:

* ``GET {issuer}/.well-known/openid-configuration``: ``issuer``, ``jwks_uri``,
  ``subject_types_supported``, ``response_types_supported``, ``claims_supported``,
  ``id_token_signing_alg_values_supported`` (RS256), ``scopes_supported``;
* ``GET {jwks_uri}``: the RSA keys in use (``kty``, ``alg``, ``use``, ``kid``, ``x5t``, ``n``,
  ``e``); ``rotate()`` replaces them mid-test;
* the job's token request endpoint. GitHub: ``GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=…``
  with ``Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`` → ``{"value": jwt}``; Azure
  DevOps: ``POST $SYSTEM_OIDCREQUESTURI?api-version=7.1`` with ``Authorization: Bearer
  $SYSTEM_ACCESSTOKEN`` → ``{"oidcToken": jwt}``. A wrong bearer answers 401.

Tokens carry each issuer's real claim set and time claims (GitHub: ``nbf`` = iat − 600 s,
``exp`` = iat + 300 s; Azure DevOps: ``nbf`` = iat − 600 s, ``exp`` = iat + 600 s), RS256 with
``kid`` and ``x5t`` in the header. The issuer URL is the server's own (``http://127.0.0.1:…``,
plus ``/{org_id}`` for Azure DevOps, as ``vstoken.dev.azure.com/{org_id}``).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..servers import MethodHandler, ServedDouble


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SigningKey:
    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = _b64url(hashlib.sha1(der).digest())  # noqa: S324 (GitHub: the x5t)

    @property
    def jwk(self) -> dict[str, Any]:
        numbers = self.private.public_key().public_numbers()

        def b64int(n: int) -> str:
            return _b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))

        return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid, "x5t": self.kid,
                "n": b64int(numbers.n), "e": b64int(numbers.e)}  # fmt: skip

    def sign(self, claims: dict[str, Any], kid: str | None = None) -> str:
        headers = {"typ": "JWT", "kid": kid or self.kid, "x5t": kid or self.kid}
        return jwt.encode(claims, self.private, algorithm="RS256", headers=headers)


class _Handler(MethodHandler):
    server: Any

    def dispatch(self, method: str) -> None:
        double: CiIssuer = self.server.double
        parts = urlsplit(self.path)
        self.body()
        status, payload = double.handle(
            method, parts.path, parse_qs(parts.query), self.headers.get("Authorization", "")
        )
        self.send_json(status, payload)


class CiIssuer(ServedDouble):
    """One CI's OIDC issuer; subclasses give its claim set and token request endpoint."""

    prefix = ""
    token_path = ""
    audience_default = ""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.keys = [SigningKey()]
        self.jwks_fetches = 0
        self.discovery_fetches = 0
        self.token_requests: list[dict[str, str]] = []
        self.runtime_token = secrets.token_urlsafe(24)  # what the runner gives the job
        self.job_claims: dict[str, Any] = {}  # the claims of tokens the job requests
        self.serve_with(_Handler)

    @property
    def issuer(self) -> str:
        return self.base_url + self.prefix

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/.well-known/jwks"

    @property
    def signing_key(self) -> SigningKey:
        return self.keys[-1]

    def rotate(self, keep_old: bool = False) -> None:
        with self._lock:
            self.keys = [*self.keys, SigningKey()] if keep_old else [SigningKey()]

    def sign(self, claims: dict[str, Any], *, key: SigningKey | None = None, kid=None) -> str:
        return (key or self.signing_key).sign(claims, kid=kid)

    def handle(self, method: str, path: str, query: dict, authorization: str):
        if method == "GET" and path == f"{self.prefix}/.well-known/openid-configuration":
            with self._lock:
                self.discovery_fetches += 1
            return 200, self.discovery()
        if method == "GET" and path == f"{self.prefix}/.well-known/jwks":
            with self._lock:
                self.jwks_fetches += 1
                return 200, {"keys": [k.jwk for k in self.keys]}
        if path == self.token_path:
            if authorization != f"Bearer {self.runtime_token}":
                return 401, {"message": "Unauthorized"}
            with self._lock:
                self.token_requests.append(
                    {"method": method, **{k: v[0] for k, v in query.items()}}
                )
            return self.answer_token_request(method, query)
        return 404, {"message": "Not found"}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "subject_types_supported": ["public", "pairwise"],
            "response_types_supported": ["id_token"],
            "claims_supported": self.claims_supported,
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid"],
        }

    claims_supported: list[str] = []

    def answer_token_request(self, method: str, query: dict):
        raise NotImplementedError


class GitHubActionsIssuer(CiIssuer):
    """``token.actions.githubusercontent.com``."""

    token_path = "/_apis/distributedtask/hubs/Actions/plans/plan-1/jobs/job-1/idtoken"
    claims_supported = [
        "sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository",
        "repository_id", "repository_owner", "repository_owner_id", "enterprise",
        "enterprise_id", "run_id", "run_number", "run_attempt", "actor", "actor_id",
        "workflow", "workflow_ref", "workflow_sha", "head_ref", "base_ref", "event_name",
        "ref_type", "ref_protected", "environment", "environment_node_id",
        "job_workflow_ref", "job_workflow_sha", "repository_visibility",
        "runner_environment", "check_run_id",
    ]  # fmt: skip

    @property
    def request_url(self) -> str:
        """``ACTIONS_ID_TOKEN_REQUEST_URL`` as a runner sets it (the client adds
        ``&audience=``)."""
        return f"{self.base_url}{self.token_path}?api-version=2.0"

    def claims(
        self,
        *,
        audience: str,
        repository: str = "octo-org/octo-repo",
        ref: str = "refs/heads/main",
        environment: str | None = None,
        workflow_file: str = "ci.yml",
        iat: int | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        now = int(time.time()) if iat is None else iat
        owner = repository.split("/", 1)[0]
        sha = secrets.token_hex(20)
        workflow_ref = f"{repository}/.github/workflows/{workflow_file}@{ref}"
        sub = (f"repo:{repository}:environment:{environment}" if environment
               else f"repo:{repository}:ref:{ref}")  # fmt: skip
        claims = {
            "jti": str(uuid.uuid4()),
            "sub": sub,
            "aud": audience,
            "ref": ref,
            "sha": sha,
            "repository": repository,
            "repository_owner": owner,
            "repository_owner_id": "65",
            "run_id": str(secrets.randbelow(10**10)),
            "run_number": "12",
            "run_attempt": "1",
            "repository_visibility": "private",
            "repository_id": "35",
            "actor_id": "12",
            "actor": "octocat",
            "workflow": "CI",
            "head_ref": "",
            "base_ref": "",
            "event_name": "push",
            "ref_protected": "true",
            "ref_type": "branch",
            "workflow_ref": workflow_ref,
            "workflow_sha": sha,
            "job_workflow_ref": workflow_ref,
            "job_workflow_sha": sha,
            "runner_environment": "github-hosted",
            "iss": self.issuer,
            "nbf": now - 600,
            "exp": now + 300,
            "iat": now,
        }
        if environment:
            claims["environment"] = environment
        claims.update(overrides)
        return claims

    def token(self, **kwargs: Any) -> str:
        return self.sign(self.claims(**kwargs))

    def answer_token_request(self, method: str, query: dict):
        if method != "GET":
            return 405, {"message": "Method not allowed"}
        audience = query.get(
            "audience",
            [f"https://github.com/{self.job_claims.get('repository_owner', 'octo-org')}"],
        )[0]  # noqa: E501
        return 200, {"count": 2000, "value": self.token(audience=audience, **self.job_claims)}


class AzureDevOpsIssuer(CiIssuer):
    """``vstoken.dev.azure.com/{org_id}``; its tokens' audience is always
    ``api://AzureADTokenExchange``."""

    audience = "api://AzureADTokenExchange"
    claims_supported = ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "org_id", "prj_id",
                        "def_id", "rpo_id", "rpo_uri", "rpo_ver", "rpo_ref", "run_id"]  # fmt: skip

    def __init__(self) -> None:
        self.org_id = str(uuid.uuid4())
        self.prefix = f"/{self.org_id}"
        self.project_id = str(uuid.uuid4())
        self.token_path = (f"/contoso/{self.project_id}/_apis/distributedtask/hubs/build/plans/"
                           f"{uuid.uuid4()}/jobs/{uuid.uuid4()}/oidctoken")  # fmt: skip
        super().__init__()

    @property
    def request_uri(self) -> str:
        """``SYSTEM_OIDCREQUESTURI`` as the agent sets it."""
        return f"{self.base_url}{self.token_path}"

    def claims(
        self,
        *,
        organization: str = "contoso",
        project: str = "payments",
        pipeline: str = "payments-ci",
        ref: str = "refs/heads/main",
        iat: int | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        now = int(time.time()) if iat is None else iat
        claims = {
            "jti": str(uuid.uuid4()),
            "sub": f"p://{organization}/{project}/{pipeline}",
            "aud": self.audience,
            "org_id": self.org_id,
            "prj_id": self.project_id,
            "def_id": "42",
            "rpo_id": str(uuid.uuid4()),
            "rpo_uri": f"https://dev.azure.com/{organization}/{project}/_git/{project}",
            "rpo_ver": secrets.token_hex(20),
            "rpo_ref": ref,
            "run_id": str(secrets.randbelow(10**6)),
            "iss": self.issuer,
            "nbf": now - 600,
            "exp": now + 600,
            "iat": now,
        }
        claims.update(overrides)
        return claims

    def token(self, **kwargs: Any) -> str:
        return self.sign(self.claims(**kwargs))

    def answer_token_request(self, method: str, query: dict):
        if method != "POST":
            return 405, {"message": "Method not allowed"}
        return 200, {"oidcToken": self.token(**self.job_claims)}
