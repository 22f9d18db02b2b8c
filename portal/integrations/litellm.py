"""A thin typed client for LiteLLM's admin API (teams, users, virtual keys, health).

Written against LiteLLM 1.106.2 (``litellm/proxy/management_endpoints/``). Every HTTP failure
becomes one of the exceptions in :mod:`portal.integrations.errors`, keeping LiteLLM's message:

* transport errors, timeouts, 5xx and 429 -> :class:`Unavailable` (with ``Retry-After``);
* 404 -> :class:`NotFound`;
* "already exists" / unique-constraint answers (LiteLLM uses 400, sometimes 409 or 500) ->
  :class:`Conflict`;
* any other 4xx -> :class:`Rejected`

(the mapping is :func:`.litellm_errors.error_for`).

LiteLLM's error bodies are ``{"error": {"message", "type", "param", "code"}}`` (its
``ProxyException``) or FastAPI's ``{"detail": ...}``; ``detail`` may itself be a string, a dict
with ``error`` or a list of validation errors.

The master key and key secrets are never logged: only methods, paths and statuses are.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from .errors import NotFound, Rejected, Unavailable
from .litellm_errors import SERVICE, error_for

log = logging.getLogger(__name__)

CHANGED_BY_HEADER = "LiteLLM-Changed-By"


def key_hash(key: str) -> str:
    """LiteLLM's id for a key: the sha256 hex of the secret (a hash is returned unchanged)."""
    if key.startswith("sk-"):
        return hashlib.sha256(key.encode()).hexdigest()
    return key


def _drop_none(data: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


class LiteLLMClient:
    """Synchronous client for the LiteLLM proxy's admin API, authenticated with the master key."""

    def __init__(
        self,
        base_url: str,
        master_key: str,
        *,
        timeout: float = 10.0,
        changed_by: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("LiteLLM base URL is not configured")
        headers = {"Authorization": f"Bearer {master_key}", "Accept": "application/json"}
        if changed_by:
            headers[CHANGED_BY_HEADER] = changed_by
        self.base_url = base_url.rstrip("/")
        self.changed_by = changed_by
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    @classmethod
    def from_settings(cls, changed_by: str | None = None) -> LiteLLMClient:
        """Build a client from ``settings.LITELLM_BASE_URL`` / ``LITELLM_MASTER_KEY``."""
        from django.conf import settings

        if not settings.LITELLM_BASE_URL:  # a refusal, not an outage: retrying cannot help
            raise Rejected("LITELLM_BASE_URL is not set", service="LiteLLM")
        return cls(
            settings.LITELLM_BASE_URL,
            settings.LITELLM_MASTER_KEY,
            timeout=float(getattr(settings, "LITELLM_TIMEOUT", 10.0) or 10.0),
            changed_by=changed_by,
        )

    def __repr__(self) -> str:  # never show the master key
        return f"<LiteLLMClient {self.base_url}>"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LiteLLMClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- plumbing ----------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one request; return the parsed JSON body or raise an IntegrationError."""
        try:
            response = self._http.request(
                method, path, json=json, params=_drop_none(params) if params else None
            )
        except httpx.TimeoutException as exc:
            log.warning("litellm %s %s timed out", method, path)
            raise Unavailable(f"timed out: {exc}", service=SERVICE) from exc
        except httpx.TransportError as exc:
            log.warning("litellm %s %s unreachable: %s", method, path, type(exc).__name__)
            raise Unavailable(f"unreachable: {exc}", service=SERVICE) from exc
        log.debug("litellm %s %s -> %s", method, path, response.status_code)
        if response.is_success:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError as exc:
                raise Unavailable(
                    "answered with a body that is not JSON",
                    status=response.status_code,
                    service=SERVICE,
                ) from exc
        raise error_for(response)

    # --- teams ----------------------------------------------------------------------------
    def new_team(
        self,
        team_id: str,
        team_alias: str,
        max_budget: float | None = None,
        budget_duration: str | None = None,
        models: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """``POST /team/new``. A duplicate ``team_id`` raises :class:`Conflict`."""
        body = _drop_none(
            {
                "team_id": team_id,
                "team_alias": team_alias,
                "max_budget": max_budget,
                "budget_duration": budget_duration,
                "models": models,
                "metadata": metadata,
                **extra,
            }
        )
        return self._request("POST", "/team/new", json=body)

    def update_team(self, team_id: str, **fields: Any) -> dict[str, Any]:
        """``POST /team/update`` with any of LiteLLM's ``UpdateTeamRequest`` fields."""
        return self._request("POST", "/team/update", json={"team_id": team_id, **fields})

    def team_info(self, team_id: str) -> dict[str, Any]:
        """``GET /team/info``: ``{"team_id", "team_info": {...}, "keys": [...], ...}``."""
        return self._request("GET", "/team/info", params={"team_id": team_id})

    def team_member_add(self, team_id: str, user_id: str, role: str = "user") -> dict[str, Any]:
        """``POST /team/member_add``. An existing member raises :class:`Conflict`."""
        body = {"team_id": team_id, "member": {"user_id": user_id, "role": role}}
        return self._request("POST", "/team/member_add", json=body)

    def team_member_delete(self, team_id: str, user_id: str) -> dict[str, Any]:
        """``POST /team/member_delete``."""
        body = {"team_id": team_id, "user_id": user_id}
        return self._request("POST", "/team/member_delete", json=body)

    def team_member_update(
        self,
        team_id: str,
        user_id: str,
        *,
        max_budget_in_team: float | None,
        budget_duration: str | None,
    ) -> dict[str, Any]:
        """``POST /team/member_update`` (LiteLLM's ``TeamMemberUpdateRequest``): the member's
        budget in the team and how often it resets. Both are sent even when ``None``: an
        explicit null clears LiteLLM's value (it applies the fields that were sent).
        Answers ``TeamMemberUpdateResponse`` (``team_id``, ``user_id``, ``max_budget_in_team``,
        ``budget_duration``, …)."""
        body = {
            "team_id": team_id,
            "user_id": user_id,
            "max_budget_in_team": max_budget_in_team,
            "budget_duration": budget_duration,
        }
        return self._request("POST", "/team/member_update", json=body)

    # --- users ----------------------------------------------------------------------------
    def new_user(
        self,
        user_id: str,
        user_email: str | None = None,
        user_role: str = "internal_user",
        *,
        max_budget: float | None = None,
        metadata: dict[str, Any] | None = None,
        auto_create_key: bool = False,
        send_invite_email: bool = False,
        **extra: Any,
    ) -> dict[str, Any]:
        """``POST /user/new`` without LiteLLM's default personal key (``auto_create_key``)."""
        body = _drop_none(
            {
                "user_id": user_id,
                "user_email": user_email,
                "user_role": user_role,
                "max_budget": max_budget,
                "metadata": metadata,
                "auto_create_key": auto_create_key,
                "send_invite_email": send_invite_email,
                **extra,
            }
        )
        return self._request("POST", "/user/new", json=body)

    def update_user(self, user_id: str, **fields: Any) -> dict[str, Any]:
        """``POST /user/update`` (``UpdateUserRequest`` fields: ``max_budget``,
        ``budget_duration``, ``metadata``…)."""
        return self._request("POST", "/user/update", json={"user_id": user_id, **fields})

    def user_info(self, user_id: str) -> dict[str, Any]:
        """``GET /user/info``: ``{"user_id", "user_info": {...}, "keys": [...], "teams": [...]}``.

        LiteLLM answers an unknown user with 404 (-> :class:`NotFound`).
        """
        data = self._request("GET", "/user/info", params={"user_id": user_id})
        if not data or not data.get("user_info"):
            raise NotFound(f"user {user_id} not found", status=404, service=SERVICE)
        return data

    # --- keys -----------------------------------------------------------------------------
    def generate_key(
        self,
        key_alias: str,
        user_id: str | None = None,
        team_id: str | None = None,
        models: list[str] | None = None,
        max_budget: float | None = None,
        budget_duration: str | None = None,
        rpm_limit: int | None = None,
        tpm_limit: int | None = None,
        duration: str | None = None,
        metadata: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        key: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """``POST /key/generate``. The answer has ``key`` (the secret, shown once), ``token``
        (its sha256 hash, LiteLLM's id for the key), ``token_id`` and the key's settings.

        ``tags`` is an enterprise feature: without ``LITELLM_LICENSE`` LiteLLM answers 403
        (:class:`Rejected`). Put them in ``metadata`` instead on an unlicensed proxy."""
        body = _drop_none(
            {
                "key_alias": key_alias,
                "user_id": user_id,
                "team_id": team_id,
                "models": models,
                "max_budget": max_budget,
                "budget_duration": budget_duration,
                "rpm_limit": rpm_limit,
                "tpm_limit": tpm_limit,
                "duration": duration,
                "metadata": metadata,
                "tags": tags,
                "key": key,
                **extra,
            }
        )
        return self._request("POST", "/key/generate", json=body)

    def model_groups(self) -> list[dict[str, Any]]:
        """``GET /model_group/info``: one entry per model name callers use (``model_group``),
        with ``providers``, ``max_input_tokens``, ``input_cost_per_token``,
        ``output_cost_per_token`` and ``mode``, as LiteLLM's own model hub shows them."""
        return list((self._request("GET", "/model_group/info") or {}).get("data") or [])

    def model_info(self) -> list[dict[str, Any]]:
        """``GET /model/info``: one entry per deployment, with ``model_name`` (its model group,
        the name callers use) and ``litellm_params.model`` (the provider model behind it)."""
        return list((self._request("GET", "/model/info") or {}).get("data") or [])

    def key_info(self, key: str) -> dict[str, Any]:
        """``GET /key/info?key=<hash>``: ``{"key", "info": {...}}``. ``key`` is the token hash or
        the secret; a secret is hashed here so it never appears in a URL (or httpx's logs)."""
        return self._request("GET", "/key/info", params={"key": key_hash(key)})

    def list_keys(
        self,
        team_id: str | None = None,
        user_id: str | None = None,
        key_alias: str | None = None,
        page: int = 1,
        size: int = 100,
        return_full_object: bool = True,
        **filters: Any,
    ) -> dict[str, Any]:
        """``GET /key/list``: ``{"keys": [...], "total_count", "current_page", "total_pages"}``.
        ``size`` is at most 100 (LiteLLM's limit)."""
        params = {
            "team_id": team_id,
            "user_id": user_id,
            "key_alias": key_alias,
            "page": page,
            "size": min(size, 100),
            "return_full_object": "true" if return_full_object else "false",
            **filters,
        }
        return self._request("GET", "/key/list", params=params)

    def find_key_by_alias(self, key_alias: str) -> dict[str, Any] | None:
        """The key whose alias is exactly ``key_alias`` (full object, with ``token``), or None."""
        data = self.list_keys(key_alias=key_alias, size=100, return_full_object=True)
        for item in data.get("keys") or []:
            if isinstance(item, Mapping) and item.get("key_alias") == key_alias:
                return dict(item)
        return None

    def update_key(self, key: str, **fields: Any) -> dict[str, Any]:
        """``POST /key/update`` (``key``: token hash or secret), ``UpdateKeyRequest`` fields."""
        return self._request("POST", "/key/update", json={"key": key, **fields})

    def regenerate_key(self, key: str, **fields: Any) -> dict[str, Any]:
        """``POST /key/{key}/regenerate``: a new secret for the same key; the old one stops working.
        The answer is like :meth:`generate_key`'s, with the new ``key`` and ``token``.

        LiteLLM only allows this with an enterprise licence (``LITELLM_LICENSE``); without one it
        answers 500 "Regenerating Virtual Keys is an Enterprise feature", raised as
        :class:`Rejected`."""
        return self._request("POST", f"/key/{key_hash(key)}/regenerate", json=fields or {})

    def block_key(self, key: str) -> dict[str, Any]:
        """``POST /key/block``: requests with the key are refused until unblocked."""
        return self._request("POST", "/key/block", json={"key": key})

    def unblock_key(self, key: str) -> dict[str, Any]:
        """``POST /key/unblock``."""
        return self._request("POST", "/key/unblock", json={"key": key})

    def delete_keys(
        self, keys: Iterable[str] | None = None, key_aliases: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """``POST /key/delete`` by token hashes/secrets and/or aliases: ``{"deleted_keys": [...]}``.
        Unknown keys raise :class:`NotFound`."""
        body = _drop_none(
            {
                "keys": list(keys) if keys is not None else None,
                "key_aliases": list(key_aliases) if key_aliases is not None else None,
            }
        )
        if not body:
            raise ValueError("delete_keys needs keys or key_aliases")
        return self._request("POST", "/key/delete", json=body)

    # --- health ---------------------------------------------------------------------------
    def liveliness(self) -> Any:
        """``GET /health/liveliness`` (no auth needed): ``"I'm alive!"``."""
        return self._request("GET", "/health/liveliness")

    def readiness(self) -> dict[str, Any]:
        """``GET /health/readiness``: ``{"status": "healthy", "db": "connected", ...}``."""
        return self._request("GET", "/health/readiness")
