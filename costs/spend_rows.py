"""One LiteLLM daily spend row in memory, as the readers build it and ingestion stores it."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class SpendRow:
    """One LiteLLM daily aggregate: day × team × user × key × model group (+ provider).

    ``model`` is the model group, the name callers use (``costs.model_groups``)."""

    day: datetime.date
    team_id: str = ""
    user_id: str = ""
    key_hash: str = ""
    model: str = ""
    provider: str = ""
    spend: Decimal = Decimal("0")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    successes: int = 0
    failures: int = 0
    key_alias: str = ""

    @property
    def natural_key(self) -> tuple:
        return (self.day, self.team_id, self.user_id, self.key_hash, self.model, self.provider)

    def add(self, other: SpendRow) -> None:
        self.spend += other.spend
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.requests += other.requests
        self.successes += other.successes
        self.failures += other.failures
        self.key_alias = self.key_alias or other.key_alias


@dataclass
class IngestResult:
    rows: int = 0
    changed: int = 0  # rows written (new or different); the rest were already stored as is
    months: set[datetime.date] = field(default_factory=set)
    teams: set[str] = field(default_factory=set)


def merge(rows: Iterable[SpendRow]) -> list[SpendRow]:
    """One row per natural key (PostgreSQL refuses to upsert the same key twice in a statement)."""
    merged: dict[tuple, SpendRow] = {}
    for row in rows:
        existing = merged.get(row.natural_key)
        if existing is None:
            merged[row.natural_key] = SpendRow(**row.__dict__)
        else:
            existing.add(row)
    return list(merged.values())
