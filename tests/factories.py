"""Requests made straight in the database (no workflow): ``dev_a``'s in department ``a`` of
the ``org`` fixture unless ``fields`` say otherwise (a budget request: ``lead_a``'s).
``ask_budget`` alone goes through the workflow."""

from __future__ import annotations

from decimal import Decimal

from costs import budgets
from costs.models import BudgetRequest
from keys.models import VirtualKey
from portal.context_processors import Bump
from projects.models import TuningProject


def make_key(org, **fields) -> VirtualKey:
    return VirtualKey.objects.create(
        **{
            "requester": org["dev_a"],
            "department": org["a"],
            "name": "k",
            "llm_models": ["gpt-4o-mini"],
            "max_budget": Decimal("5"),
            "rpm_limit": 10,
            "tpm_limit": 1000,
            "lifetime_days": 30,
            "justification": "x",
            **fields,
        }
    )


def make_project(org, **fields) -> TuningProject:
    return TuningProject.objects.create(
        **{
            "requester": org["dev_a"],
            "department": org["a"],
            "name": "x",
            "purpose": "p",
            "justification": "j",
            "lifetime_days": 7,
            **fields,
        }
    )


def make_budget_request(org, **fields) -> BudgetRequest:
    return BudgetRequest.objects.create(
        **{
            "requester": org["lead_a"],
            "department": org["a"],
            "monthly_budget": Decimal("2000"),
            "previous_budget": Decimal("1000"),
            "lifetime_days": 1,
            "justification": "growth",
            **fields,
        }
    )


def after_commit(callbacks: list) -> list:
    """What a transaction left to do after its commit, without the navigation cache's second
    version bump (``portal.context_processors.bump``), which every saved request adds."""
    return [c for c in callbacks if not isinstance(c, Bump)]


def ask_budget(org, amount: str = "2500", justification: str = "Pilot") -> BudgetRequest:
    """``lead_a`` asks for a new monthly budget for department ``a``, through the workflow."""
    return budgets.request_budget(
        org["a"], lead=org["lead_a"], monthly_budget=Decimal(amount), justification=justification
    )
