"""A thin httpx client for ``/api/v1/``: bearer token, problem details as errors, cursors."""

from __future__ import annotations

import uuid

import httpx

from .session import Config, access_token


class ApiError(Exception):
    def __init__(self, status: int, problem: dict) -> None:
        self.status = status
        self.problem = problem
        detail = problem.get("detail") or ""
        errors = problem.get("errors")
        if isinstance(errors, dict):
            detail = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in errors.items())
        super().__init__(f"{status} {problem.get('title', '')}: {detail}".strip())


class Client:
    def __init__(self, config: Config, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.http = httpx.Client(base_url=f"{config.url}/api/v1", timeout=60, transport=transport)

    def _headers(self, extra: dict | None = None) -> dict:
        return {"Authorization": f"Bearer {access_token(self.config)}", **(extra or {})}

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = self._headers(kwargs.pop("headers", None))
        if method == "POST" or method == "PATCH":
            # One key per command: httpx's retries (and ours) never create a second request.
            headers.setdefault("Idempotency-Key", str(uuid.uuid4()))
        response = self.http.request(method, path, headers=headers, **kwargs)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"title": response.reason_phrase, "detail": response.text[:200]}
            raise ApiError(response.status_code, problem)
        return response

    def get(self, path: str, **params) -> dict | list:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean).json()

    def text(self, path: str, **params) -> str:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean).text

    def post(self, path: str, body: dict | None = None) -> dict:
        return self.request("POST", path, json=body or {}).json()

    def patch(self, path: str, body: dict) -> dict:
        return self.request("PATCH", path, json=body).json()

    def all(self, path: str, limit: int = 500, **params) -> list[dict]:
        """Follow the cursor until ``limit`` items."""
        items: list[dict] = []
        cursor = None
        while len(items) < limit:
            page = self.get(path, cursor=cursor, **params)
            items.extend(page["results"])
            cursor = page.get("next")
            if not cursor:
                break
            cursor = httpx.URL(cursor).params.get("cursor") if "://" in cursor else cursor
        return items[:limit]
