"""Thin typed client for the few Microsoft Graph calls the directory sync needs (app-only).

Tokens come from msal's client-credentials flow; the one ``ConfidentialClientApplication`` per
client keeps them in its in-memory cache until they expire. Requests go through httpx. Throttling
(429) and unavailability (503/504) are retried after ``Retry-After``, a bounded number of times.
Neither the client secret nor any token is ever logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
import msal
import requests

from .errors import Conflict, IntegrationError, NotFound, Rejected, Unavailable

logger = logging.getLogger(__name__)

SERVICE = "Microsoft Graph"
DEFAULT_SCOPE = "https://graph.microsoft.com/.default"
USER_SELECT = "id,displayName,mail,userPrincipalName,accountEnabled,preferredLanguage"
USER_TYPE = "#microsoft.graph.user"
RETRY_STATUSES = frozenset({429, 503, 504})
#: msal error codes that mean the app registration or its secret is wrong (retrying won't help).
REJECTED_TOKEN_ERRORS = frozenset(
    {"invalid_client", "unauthorized_client", "invalid_scope", "invalid_request", "invalid_grant"}
)


@dataclass(frozen=True)
class GraphUser:
    id: str
    display_name: str
    mail: str | None
    user_principal_name: str | None
    account_enabled: bool | None
    preferred_language: str | None = None  # "ja-JP"; None when Entra holds none

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> GraphUser:
        return cls(
            id=data["id"],
            display_name=data.get("displayName") or "",
            mail=data.get("mail"),
            user_principal_name=data.get("userPrincipalName"),
            account_enabled=data.get("accountEnabled"),
            preferred_language=data.get("preferredLanguage"),
        )

    @property
    def email(self) -> str:
        """``mail``, else the UPN (guests and unlicensed users often have no ``mail``)."""
        return self.mail or self.user_principal_name or ""


class _PinnedVerifySession(requests.Session):
    """requests lets ``REQUESTS_CA_BUNDLE`` override ``Session.verify``; pin it per request."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any):  # type: ignore[override]
        kwargs.setdefault("verify", self.verify)
        return super().request(method, url, *args, **kwargs)


class GraphClient:
    """App-only Microsoft Graph client (client credentials) for one tenant."""

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        *,
        authority_host: str = "https://login.microsoftonline.com",
        graph_url: str = "https://graph.microsoft.com",
        timeout: float = 10.0,
        max_retries: int = 4,
        transport: httpx.BaseTransport | None = None,
        scope: str = DEFAULT_SCOPE,
        instance_discovery: bool | str | None = None,
        authority_ca_bundle: str | None = None,
        max_retry_after: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``instance_discovery``/``authority_ca_bundle`` only matter for a non-Microsoft
        authority host (a test double): msal then needs ``instance_discovery=False`` (or the
        double's discovery URL) and the double's certificate, since msal requires https.
        """
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._client_secret = client_secret
        self.authority = f"{authority_host.rstrip('/')}/{tenant_id}"
        self.graph_url = graph_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self.scope = scope
        self._instance_discovery = instance_discovery
        self._authority_ca_bundle = authority_ca_bundle
        self._sleep = sleep
        self._app: msal.ConfidentialClientApplication | None = None
        self._app_lock = threading.Lock()
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "genai-portal-graph/1"},
        )

    def __repr__(self) -> str:
        return f"GraphClient(tenant_id={self.tenant_id!r}, client_id={self.client_id!r})"

    @classmethod
    def from_settings(cls, **kwargs: Any) -> GraphClient:
        """Build from ``ENTRA_*`` and ``GRAPH_URL`` settings (extra kwargs win)."""
        from django.conf import settings

        options: dict[str, Any] = {
            "authority_host": getattr(
                settings, "ENTRA_AUTHORITY_HOST", "https://login.microsoftonline.com"
            ),
            "graph_url": getattr(settings, "GRAPH_URL", "https://graph.microsoft.com"),
        }
        discovery = getattr(settings, "ENTRA_INSTANCE_DISCOVERY", None)
        if discovery is not None:
            options["instance_discovery"] = discovery
        ca_bundle = getattr(settings, "ENTRA_CA_BUNDLE", "")
        if ca_bundle:
            options["authority_ca_bundle"] = ca_bundle
        options.update(kwargs)
        return cls(
            settings.ENTRA_TENANT_ID,
            settings.ENTRA_CLIENT_ID,
            settings.ENTRA_CLIENT_SECRET,
            **options,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- directory calls ------------------------------------------------------------------------

    def group_transitive_members(self, group_id: str) -> Iterator[GraphUser]:
        """Users in the group, nested groups expanded (other member types are skipped)."""
        url = f"{self.graph_url}/v1.0/groups/{quote(group_id, safe='')}/transitiveMembers"
        for item in self._paged(url, {"$select": USER_SELECT, "$top": "999"}):
            if item.get("@odata.type", USER_TYPE) == USER_TYPE:
                yield GraphUser.from_api(item)

    def user_transitive_groups(
        self, user_id: str, *, security_enabled_only: bool = True
    ) -> list[str]:
        """Ids of the groups (and directory roles) the user is in, transitively.

        The same call Entra names in the ID token's ``_claim_sources`` on group overage
        (``getMemberObjects``), so the result matches what the ``groups`` claim would hold.
        """
        url = f"{self.graph_url}/v1.0/users/{quote(user_id, safe='')}/getMemberObjects"
        data = self._request("POST", url, json={"securityEnabledOnly": security_enabled_only})
        return [str(v) for v in data.get("value", [])]

    def user_manager(self, user_id: str) -> GraphUser | None:
        """The user's manager, or None when none is set (Graph answers 404)."""
        url = f"{self.graph_url}/v1.0/users/{quote(user_id, safe='')}/manager"
        try:
            return GraphUser.from_api(self._request("GET", url, params={"$select": USER_SELECT}))
        except NotFound:
            return None

    def get_user(self, user_id: str) -> GraphUser:
        """One user by object id or UPN; NotFound if it does not exist."""
        url = f"{self.graph_url}/v1.0/users/{quote(user_id, safe='')}"
        return GraphUser.from_api(self._request("GET", url, params={"$select": USER_SELECT}))

    # -- plumbing -------------------------------------------------------------------------------

    def _msal_app(self) -> msal.ConfidentialClientApplication:
        with self._app_lock:
            if self._app is None:
                self._app = self._build_msal_app()
            return self._app

    def _build_msal_app(self) -> msal.ConfidentialClientApplication:
        options: dict[str, Any] = {"timeout": self.timeout}
        if self._instance_discovery is not None:
            options["instance_discovery"] = self._instance_discovery
        if self._authority_ca_bundle:
            session = _PinnedVerifySession()
            session.verify = self._authority_ca_bundle
            options["http_client"] = session
        # msal fetches the tenant's OpenID configuration here.
        return msal.ConfidentialClientApplication(
            self.client_id,
            client_credential=self._client_secret,
            authority=self.authority,
            **options,
        )

    def _token(self) -> str:
        """An app-only token; msal serves it from its cache until it expires."""
        try:
            result = self._msal_app().acquire_token_for_client(scopes=[self.scope])
        except (requests.RequestException, ValueError) as exc:
            raise Unavailable(
                f"token request failed: {type(exc).__name__}", service=SERVICE
            ) from exc
        token = result.get("access_token") if isinstance(result, dict) else None
        if token:
            return token
        error = (result or {}).get("error", "unknown_error")
        description = str((result or {}).get("error_description", "")).split("\r\n")[0]
        message = f"token request refused: {error}: {description}"
        logger.warning("graph token request failed", extra={"error": error})
        if error in REJECTED_TOKEN_ERRORS:
            raise Rejected(message, service=SERVICE)
        raise Unavailable(message, service=SERVICE)

    def _paged(self, url: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        next_url: str | None = url
        next_params: dict[str, str] | None = params
        while next_url:
            page = self._request("GET", next_url, params=next_params)
            yield from page.get("value", [])
            next_url = page.get("@odata.nextLink")
            next_params = None  # the next link carries the query (and its skip token)
            if next_url and not self._on_graph(next_url):
                # Our bearer token goes with every request: never to another host.
                raise Rejected(
                    f"GET {_path(url)}: @odata.nextLink points outside {self.graph_url}",
                    service=SERVICE,
                )

    def _on_graph(self, url: str) -> bool:
        try:
            target, graph = httpx.URL(url), httpx.URL(self.graph_url)
        except (httpx.InvalidURL, TypeError):
            return False
        return (target.scheme, target.host, target.port) == (graph.scheme, graph.host, graph.port)

    def _retry_after(self, response: httpx.Response, attempt: int) -> float:
        value = response.headers.get("Retry-After", "").strip()
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                try:
                    return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
                except (TypeError, ValueError):
                    pass
        return float(min(2**attempt, 30))

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        attempt = 0
        token_refreshed = False
        while True:
            headers = {"Authorization": f"Bearer {self._token()}"}
            try:
                response = self._http.request(
                    method, url, params=params, json=json, headers=headers
                )
            except httpx.TransportError as exc:
                if attempt < self.max_retries:
                    delay = float(min(2**attempt, 30))
                    logger.info(
                        "graph transport error, retrying",
                        extra={"error": type(exc).__name__, "delay": delay},
                    )
                    self._sleep(delay)
                    attempt += 1
                    continue
                raise Unavailable(
                    f"{method} {_path(url)}: {type(exc).__name__}", service=SERVICE
                ) from exc
            if response.status_code < 300:
                return response.json() if response.content else {}
            if response.status_code == 401 and not token_refreshed and self._app is not None:
                # A cached token Graph no longer accepts (revoked, keys rolled): drop it, once.
                logger.info("graph refused the cached token, fetching a new one")
                self._app.remove_tokens_for_client()
                token_refreshed = True
                continue
            if response.status_code in RETRY_STATUSES:
                delay = self._retry_after(response, attempt)
                if attempt < self.max_retries and delay <= self.max_retry_after:
                    logger.info(
                        "graph throttled, retrying",
                        extra={"status": response.status_code, "delay": delay, "path": _path(url)},
                    )
                    self._sleep(delay)
                    attempt += 1
                    continue
                raise Unavailable(
                    _describe(method, url, response),
                    retry_after=delay,
                    status=response.status_code,
                    service=SERVICE,
                )
            raise _error_for(method, url, response)


def _path(url: str) -> str:
    return httpx.URL(url).path


def _describe(method: str, url: str, response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    if not isinstance(error, dict):
        error = {"message": str(error)}
    inner = error.get("innerError") or {}
    code = error.get("code") or response.reason_phrase
    text = error.get("message") or response.text[:200]
    request_id = inner.get("request-id") or response.headers.get("request-id") or ""
    suffix = f" (request-id {request_id})" if request_id else ""
    return f"{method} {_path(url)}: {code}: {text}{suffix}"


def _error_for(method: str, url: str, response: httpx.Response) -> IntegrationError:
    status = response.status_code
    message = _describe(method, url, response)
    if status == 404:
        return NotFound(message, status=status, service=SERVICE)
    if status == 409:
        return Conflict(message, status=status, service=SERVICE)
    if status in (400, 401, 403, 422):
        return Rejected(message, status=status, service=SERVICE)
    return Unavailable(message, status=status, service=SERVICE)
