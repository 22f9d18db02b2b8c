"""Thin typed client for Langfuse's organisation-scoped admin API and project metrics.

Admin calls (projects, project API keys, memberships, SCIM) use the organisation key pair.
Metrics are read with one project's own key pair: Langfuse refuses org keys on project data.
Paths and fields follow Langfuse's published ``openapi.yml`` (v4.16.0). The metrics calls
are in ``langfuse_metrics``, the typed answers in ``langfuse_shapes``.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

import httpx

from .errors import Conflict, IntegrationError, NotFound, Rejected, Unavailable
from .langfuse_metrics import MetricsVersion, ProjectMetrics
from .langfuse_shapes import ApiKey, Membership, Project, ScimUser

logger = logging.getLogger(__name__)

SERVICE = "Langfuse"

#: Text of the 403 body Langfuse returns when the ``admin-api`` entitlement is missing
#: (``web/src/pages/api/public/organizations/**``: ``{"error": "<this>"}``).
ENTITLEMENT_MESSAGE = "This feature is not available on your current plan."

Role = Literal["OWNER", "ADMIN", "MEMBER", "VIEWER", "NONE"]


class EntitlementMissing(Rejected):
    """403 because the instance's plan lacks ``admin-api``: provisioning must be done by hand."""


def _error_text(response: httpx.Response) -> str:
    """Read both Langfuse error shapes ({message, error} and {error, details}) and SCIM's."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if not isinstance(body, dict):
        return str(body)[:500]
    parts: list[str] = []
    for key in ("message", "error", "detail"):
        value = body.get(key)
        if isinstance(value, str) and value and value not in parts:
            parts.append(value)
        elif value and not isinstance(value, str):
            parts.append(json.dumps(value)[:300])
    details = body.get("details")
    if details and not isinstance(details, dict):
        parts.append(json.dumps(details)[:300])
    return ": ".join(parts) or json.dumps(body)[:500]


def _retry_after(response: httpx.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if header:
        try:
            return max(float(header), 0.0)
        except ValueError:
            return None
    try:
        details = response.json().get("details") or {}
        return float(details["retryAfterSeconds"])
    except (ValueError, AttributeError, KeyError, TypeError):
        return None


class LangfuseClient(ProjectMetrics):
    """Langfuse client authenticated with the organisation-scoped key pair."""

    def __init__(
        self,
        host: str,
        public_key: str,
        secret_key: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.host = host.rstrip("/")
        self.public_key = public_key
        self._auth = httpx.BasicAuth(public_key, secret_key)
        self._http = httpx.Client(
            base_url=self.host,
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json"},
        )
        self._metrics_version: dict[str, MetricsVersion] = {}

    @classmethod
    def from_settings(cls, **kwargs: Any) -> LangfuseClient:
        from django.conf import settings

        if not settings.LANGFUSE_HOST:  # a refusal, not an outage: retrying cannot help
            raise Rejected("LANGFUSE_HOST is not set", service="Langfuse")
        return cls(
            settings.LANGFUSE_HOST,
            settings.LANGFUSE_ORG_PUBLIC_KEY,
            settings.LANGFUSE_ORG_SECRET_KEY,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"LangfuseClient(host={self.host!r}, public_key={self.public_key!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LangfuseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        auth: httpx.Auth | None = None,
    ) -> Any:
        try:
            response = self._http.request(
                method,
                path,
                json=json_body,
                params=params,
                auth=auth or self._auth,
            )
        except httpx.TransportError as exc:
            logger.warning("Langfuse %s %s failed: %s", method, path, type(exc).__name__)
            raise Unavailable(f"{type(exc).__name__}: {exc}", service=SERVICE) from exc
        status = response.status_code
        logger.debug("Langfuse %s %s -> %s", method, path, status)
        if status < 400:
            if status == 204 or not response.content:
                return None
            try:
                return response.json()
            except ValueError as exc:
                raise Unavailable("response is not JSON", status=status, service=SERVICE) from exc
        raise self._error(response)

    @staticmethod
    def _error(response: httpx.Response) -> IntegrationError:
        status = response.status_code
        text = _error_text(response)
        kw: dict[str, Any] = {"status": status, "service": SERVICE}
        if status == 429 or status >= 500:
            return Unavailable(text, retry_after=_retry_after(response), **kw)
        if status == 404:
            return NotFound(text, **kw)
        if status == 409:
            return Conflict(text, **kw)
        if status == 403 and "not available on your current plan" in text.lower():
            return EntitlementMissing(text, **kw)
        return Rejected(text, **kw)

    # -- health ----------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /api/public/health`` -> ``{"status": "OK", "version": "..."}``."""
        return self._request("GET", "/api/public/health")

    # -- projects --------------------------------------------------------------------------

    def list_projects(self) -> list[Project]:
        """All (non-deleted) projects of the key's organisation."""
        body = self._request("GET", "/api/public/organizations/projects")
        return [Project.from_api(p) for p in body["projects"]]

    def find_project_by_name(self, name: str) -> Project | None:
        return next((p for p in self.list_projects() if p.name == name), None)

    def create_project(
        self,
        name: str,
        *,
        retention_days: int = 0,
        metadata: dict[str, Any] | None = None,
    ) -> Project:
        """Create a project; Conflict if the name exists. ``retention_days`` 0 = keep forever."""
        body: dict[str, Any] = {"name": name, "retention": retention_days}
        if metadata is not None:
            body["metadata"] = metadata
        return Project.from_api(self._request("POST", "/api/public/projects", json_body=body))

    def ensure_project(
        self,
        name: str,
        *,
        retention_days: int = 0,
        metadata: dict[str, Any] | None = None,
    ) -> tuple[Project, bool]:
        """Find-or-create by name, safe to retry. Returns (project, created)."""
        existing = self.find_project_by_name(name)
        if existing:
            return existing, False
        try:
            return self.create_project(name, retention_days=retention_days, metadata=metadata), True
        except Conflict:
            existing = self.find_project_by_name(name)
            if existing is None:
                raise
            return existing, False

    def update_project(
        self,
        project_id: str,
        name: str,
        *,
        retention_days: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Project:
        """``PUT`` needs the name; omitted retention/metadata are kept."""
        body: dict[str, Any] = {"name": name}
        if retention_days is not None:
            body["retention"] = retention_days
        if metadata is not None:
            body["metadata"] = metadata
        data = self._request("PUT", f"/api/public/projects/{project_id}", json_body=body)
        return Project.from_api(data)

    def delete_project(self, project_id: str) -> str:
        """Soft-delete now (keys revoked at once), purge asynchronously. Returns the message."""
        body = self._request("DELETE", f"/api/public/projects/{project_id}")
        return (body or {}).get("message", "")

    def project_for_key(self, public_key: str, secret_key: str) -> Project:
        """The project a project key pair belongs to (``GET /api/public/projects``)."""
        body = self._request(
            "GET", "/api/public/projects", auth=httpx.BasicAuth(public_key, secret_key)
        )
        return Project.from_api(body["data"][0])

    # -- project API keys ------------------------------------------------------------------

    def list_api_keys(self, project_id: str) -> list[ApiKey]:
        body = self._request("GET", f"/api/public/projects/{project_id}/apiKeys")
        return [ApiKey.from_api(k) for k in body["apiKeys"]]

    def create_api_key(
        self,
        project_id: str,
        *,
        note: str | None = None,
        public_key: str | None = None,
        secret_key: str | None = None,
    ) -> ApiKey:
        """Mint a project key; the secret is in the result only this once."""
        body: dict[str, Any] = {}
        if note is not None:
            body["note"] = note
        if public_key is not None or secret_key is not None:
            body["publicKey"] = public_key
            body["secretKey"] = secret_key
        data = self._request("POST", f"/api/public/projects/{project_id}/apiKeys", json_body=body)
        return ApiKey.from_api(data)

    def delete_api_key(self, project_id: str, api_key_id: str) -> None:
        self._request("DELETE", f"/api/public/projects/{project_id}/apiKeys/{api_key_id}")

    # -- memberships -----------------------------------------------------------------------

    def list_org_memberships(self) -> list[Membership]:
        body = self._request("GET", "/api/public/organizations/memberships")
        return [Membership.from_api(m) for m in body["memberships"]]

    def upsert_org_membership(self, user_id: str, role: Role) -> Membership:
        """The user must exist (create via SCIM). Role ``NONE`` + a project role = one project."""
        body = {"userId": user_id, "role": role}
        data = self._request("PUT", "/api/public/organizations/memberships", json_body=body)
        return Membership.from_api(data)

    def delete_org_membership(self, user_id: str) -> None:
        self._request(
            "DELETE", "/api/public/organizations/memberships", json_body={"userId": user_id}
        )

    def list_project_memberships(self, project_id: str) -> list[Membership]:
        body = self._request("GET", f"/api/public/projects/{project_id}/memberships")
        return [Membership.from_api(m) for m in body["memberships"]]

    def upsert_project_membership(self, project_id: str, user_id: str, role: Role) -> Membership:
        """The user must already be an org member (NotFound otherwise)."""
        data = self._request(
            "PUT",
            f"/api/public/projects/{project_id}/memberships",
            json_body={"userId": user_id, "role": role},
        )
        return Membership.from_api(data)

    def delete_project_membership(self, project_id: str, user_id: str) -> None:
        self._request(
            "DELETE",
            f"/api/public/projects/{project_id}/memberships",
            json_body={"userId": user_id},
        )

    # -- SCIM users ------------------------------------------------------------------------

    def find_user_by_email(self, email: str) -> ScimUser | None:
        """SCIM lookup by ``userName`` (the e-mail). Only organisation members are found."""
        value = email.strip().lower().replace('"', "")
        body = self._request(
            "GET", "/api/public/scim/Users", params={"filter": f'userName eq "{value}"'}
        )
        resources = body.get("Resources") or []
        return ScimUser.from_api(resources[0]) if resources else None

    def get_user(self, user_id: str) -> ScimUser:
        return ScimUser.from_api(self._request("GET", f"/api/public/scim/Users/{user_id}"))

    def create_user(
        self, email: str, *, display_name: str | None = None, role: Role = "NONE"
    ) -> ScimUser:
        """Create (or reuse) the user and add them to the org with ``role``; Conflict if member."""
        body = {
            "userName": email.strip().lower(),
            "name": {"formatted": display_name},
            "emails": [{"primary": True, "value": email.strip().lower(), "type": "work"}],
            "active": True,
            "roles": [role],
        }
        return ScimUser.from_api(self._request("POST", "/api/public/scim/Users", json_body=body))

    def ensure_user(
        self, email: str, *, display_name: str | None = None, role: Role = "NONE"
    ) -> ScimUser:
        """Find-or-create an org member by e-mail; safe to retry."""
        found = self.find_user_by_email(email)
        if found:
            return found
        try:
            return self.create_user(email, display_name=display_name, role=role)
        except Conflict:
            found = self.find_user_by_email(email)
            if found is None:
                raise
            return found
