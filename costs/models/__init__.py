"""The costs app's models: spend rollups, budgets and alerts, ingestion health."""

from .budgets import BudgetAlert, BudgetRequest, BudgetRequestQuerySet, MemberBudget, SoftBudget
from .health import AggregateCheck, IngestionState, SpendAnomaly
from .spend import (
    SPEND,
    DailySpend,
    Metrics,
    MonthlyKeySpend,
    MonthlySpend,
    MonthlyUserSpend,
    TeamDaySpend,
)

__all__ = [
    "SPEND",
    "AggregateCheck",
    "BudgetAlert",
    "BudgetRequest",
    "BudgetRequestQuerySet",
    "DailySpend",
    "IngestionState",
    "MemberBudget",
    "Metrics",
    "MonthlyKeySpend",
    "MonthlySpend",
    "MonthlyUserSpend",
    "SoftBudget",
    "SpendAnomaly",
    "TeamDaySpend",
]
