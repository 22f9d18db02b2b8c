"""What Langfuse's organisation-scoped admin API answers, as typed values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    metadata: dict[str, Any] = field(default_factory=dict)
    retention_days: int | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Project:
        return cls(
            id=data["id"],
            name=data["name"],
            metadata=data.get("metadata") or {},
            retention_days=data.get("retentionDays") or None,
        )


@dataclass(frozen=True)
class ApiKey:
    """A project API key. ``secret_key`` is set only on the object returned at creation."""

    id: str
    public_key: str
    display_secret_key: str
    created_at: str
    note: str | None = None
    expires_at: str | None = None
    last_used_at: str | None = None
    secret_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> ApiKey:
        return cls(
            id=data["id"],
            public_key=data["publicKey"],
            display_secret_key=data["displaySecretKey"],
            created_at=data["createdAt"],
            note=data.get("note"),
            expires_at=data.get("expiresAt"),
            last_used_at=data.get("lastUsedAt"),
            secret_key=data.get("secretKey"),
        )


@dataclass(frozen=True)
class Membership:
    user_id: str
    role: str
    email: str | None = None
    name: str | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Membership:
        return cls(
            user_id=data["userId"],
            role=data["role"],
            email=data.get("email"),
            name=data.get("name"),
        )


@dataclass(frozen=True)
class ScimUser:
    id: str
    user_name: str
    display_name: str | None = None
    emails: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> ScimUser:
        return cls(
            id=data["id"],
            user_name=data["userName"],
            display_name=(data.get("name") or {}).get("formatted"),
            emails=tuple(e["value"] for e in data.get("emails") or [] if e.get("value")),
        )
