"""What Langfuse's organisation-scoped admin API answers, as typed values."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Self


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class _CamelCase:
    """Read from an answer whose keys are the fields' names in camelCase; a field with a
    default may be absent (None)."""

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Self:
        values = {}
        for f in fields(cls):
            required = f.default is MISSING and f.default_factory is MISSING
            values[f.name] = data[_camel(f.name)] if required else data.get(_camel(f.name))
        return cls(**values)


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
class ApiKey(_CamelCase):
    """A project API key. ``secret_key`` is set only on the object returned at creation."""

    id: str
    public_key: str
    display_secret_key: str
    created_at: str
    note: str | None = None
    expires_at: str | None = None
    last_used_at: str | None = None
    secret_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Membership(_CamelCase):
    user_id: str
    role: str
    email: str | None = None
    name: str | None = None


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
