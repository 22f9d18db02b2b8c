"""What a lead sees beside a request before deciding: the requester's history here, and
what each kind's app adds through ``approvals.panels.DECISION`` (the ask against the policy,
the requester's keys, spend), registered from its ``AppConfig.ready()``."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from . import panels
from .lifecycle import Status


@dataclass(frozen=True)
class PolicyCheck:
    label: str
    asked: object
    limit: object
    unit: str = ""

    @property
    def within(self) -> bool:
        return self.asked is None or self.limit is None or self.asked <= self.limit

    @property
    def over_by(self):
        return None if self.within else self.asked - self.limit

    @property
    def share(self) -> int | None:
        """The ask as a percentage of the limit."""
        if not self.limit or self.asked is None:
            return None
        return int(Decimal(self.asked) * 100 / Decimal(self.limit))


def disallowed_models(obj) -> list[str]:
    allowed = set(obj.department.allowed_models)
    return sorted(m for m in getattr(obj, "llm_models", None) or [] if m not in allowed)


def context(obj) -> dict:
    """Template context for the decision page. A bounded number of queries."""
    history = list(
        type(obj)
        .objects.filter(requester_id=obj.requester_id)
        .exclude(pk=obj.pk)
        .exclude(status=Status.SUBMITTED)
        .select_related("decided_by")
        .order_by("-created_at")[:10]
    )
    ctx = {
        "checks": [],
        "facts": [],  # (label, text): what a kind asks beyond the checks (a pipeline's trust)
        "disallowed": disallowed_models(obj),
        "requester_keys": [],
        "history": history,
    }
    return panels.run(panels.DECISION, obj, ctx)
