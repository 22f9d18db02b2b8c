"""What a failed LiteLLM answer means: one of the exceptions in
:mod:`portal.integrations.errors`, with LiteLLM's own message (see :mod:`.litellm`)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import httpx

from .errors import Conflict, IntegrationError, NotFound, Rejected, Unavailable

log = logging.getLogger(__name__)

SERVICE = "LiteLLM"

# LiteLLM answers a duplicate with 400 (sometimes 500) and messages like "Team id = x already
# exists", "Key with alias 'x' already exists." or Prisma's unique-constraint error.
_CONFLICT_RE = re.compile(
    r"already exists|already in use|already a member|already in team|unique constraint|"
    r"uniqueviolation|"
    r"duplicate key|p2002",
    re.IGNORECASE,
)
# Features behind LiteLLM's enterprise licence answer 500 (or 403) with this: not retryable.
_LICENCE_RE = re.compile(r"enterprise feature|LITELLM_LICENSE|premium user", re.IGNORECASE)
# LiteLLM sometimes answers a missing object with 400/500 and a "not found" message.
_NOT_FOUND_RE = re.compile(
    r"\bnot found\b|does not exist|doesn't exist|no team found|not in db|"
    r"recordnotfound|p2025",
    re.IGNORECASE,
)


def _error_message(response: httpx.Response) -> str:
    """LiteLLM's own message from an error response (falls back to the raw body)."""
    try:
        body = response.json()
    except ValueError:
        return (response.text or response.reason_phrase or "").strip()[:2000]
    return _message_from(body)[:2000]


def _message_from(body: Any) -> str:
    if isinstance(body, str):
        return body
    if isinstance(body, list):
        return "; ".join(_message_from(item) for item in body)
    if isinstance(body, Mapping):
        for field in ("error", "detail"):
            if field in body and body[field]:
                return _message_from(body[field])
        if "message" in body:
            return _message_from(body["message"])
        if "msg" in body:
            where = ".".join(str(part) for part in body.get("loc", []))
            return f"{where}: {body['msg']}" if where else str(body["msg"])
    return str(body)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_for(response: httpx.Response) -> IntegrationError:
    """The exception for a LiteLLM answer that is not a success."""
    status = response.status_code
    message = _error_message(response) or response.reason_phrase
    log.info(
        "litellm %s %s failed: HTTP %s",
        response.request.method,
        response.request.url.path,
        status,
    )
    if status == 429:
        return Unavailable(
            message, retry_after=_retry_after(response), status=status, service=SERVICE
        )
    if _LICENCE_RE.search(message):
        return Rejected(message, status=status, service=SERVICE)
    if status == 409 or _CONFLICT_RE.search(message):
        return Conflict(message, status=status, service=SERVICE)
    if status == 404 or (status in (400, 500) and _NOT_FOUND_RE.search(message)):
        return NotFound(message, status=status, service=SERVICE)
    if status >= 500:
        return Unavailable(
            message, retry_after=_retry_after(response), status=status, service=SERVICE
        )
    return Rejected(message, status=status, service=SERVICE)
