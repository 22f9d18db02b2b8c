"""The few exceptions every integration client raises, so callers can be idempotent.

A client maps each HTTP failure to one of these and keeps the service's own message.
"""

from __future__ import annotations

from portal.metrics import count_integration_error


class IntegrationError(Exception):
    """Base class. ``status`` is the HTTP status (None for transport errors)."""

    def __init__(self, message: str, *, status: int | None = None, service: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.service = service
        count_integration_error(service, type(self).__name__)

    def __str__(self) -> str:
        prefix = f"{self.service} " if self.service else ""
        code = f"HTTP {self.status}: " if self.status else ""
        return f"{prefix}{code}{self.message}"


class NotFound(IntegrationError):
    """The object does not exist (404, or the service's equivalent)."""


class Conflict(IntegrationError):
    """The object already exists or the change clashes with its state (409, duplicates)."""


class Unavailable(IntegrationError):
    """The service could not be reached or failed (timeouts, 5xx, 429). Safe to retry."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Rejected(IntegrationError):
    """The service refused the request (400/401/403/422). Retrying the same call will not help."""
