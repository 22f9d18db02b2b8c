from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CostsConfig(AppConfig):
    name = "costs"
    verbose_name = _("Costs")

    def ready(self) -> None:
        from approvals import panels, registry, reviews
        from keys import panels as key_panels
        from keys.signals import key_rotated
        from portal import home as portal_home
        from portal import metrics
        from tenants.signals import department_budget_changed

        from . import budget_approvals, decision_panel, estimate, key_usage, page_cache
        from . import home as costs_home
        from . import metrics as costs_metrics
        from .member_budgets import member_budget_changed
        from .models import BudgetRequest
        from .tasks import apply_budget_request

        metrics.register_requests(BudgetRequest)
        metrics.register_collector(costs_metrics.collect)
        department_budget_changed.connect(push_budget_after_commit, dispatch_uid="costs.push")
        member_budget_changed.connect(push_member_after_commit, dispatch_uid="costs.push_member")
        key_rotated.connect(reattribute_rotated, dispatch_uid="costs.reattribute")
        page_cache.connect()
        # Pipeline identities' run keys are not portal keys: costs (above pipelines) asks them.
        from pipelines import spend as pipeline_spend

        from . import tags as cost_tags

        cost_tags.register_pipelines(names=pipeline_spend.names, runs=pipeline_spend.runs)

        # What the decision page, the key page and the home page show
        # about money.
        panels.register(panels.DECISION, decision_panel.panel)
        panels.register(panels.DECISION, estimate.decision_panel)
        key_panels.register(key_panels.KEY_DETAIL, key_usage.panel)
        reviews.register_facts(key_usage.review_facts)
        portal_home.register(10, "costs/home/my_keys.html", costs_home.my_keys)
        portal_home.register(30, "costs/home/departments.html", costs_home.departments)
        portal_home.register(35, "costs/home/anomalies.html", costs_home.anomalies)
        portal_home.register(50, "costs/home/organisation.html", costs_home.organisation)
        # Budget requests are a kind of request: the engine decides them, this app applies.
        registry.register(
            BudgetRequest,
            facts=budget_facts,
            slug="budget",
            tasks={"provision": apply_budget_request},
            summary=budget_approvals.summary,
            queued_for=lambda user: user.is_infra,  # budgets are infra's call
        )


def budget_facts(obj) -> dict:
    """What approval stage conditions read from a budget request."""
    return {
        "budget": obj.monthly_budget,
        "lifetime_days": None,
        "models": [],
        "retention_days": None,
        "service_account": False,
    }


def reattribute_rotated(sender, *, key, old_token, **kwargs) -> None:
    """The spend already ingested under a rotated key's old token stays the key's (all of its
    days, not only those the next ingestion re-reads), in the rotation's own transaction."""
    from .attribution import reattribute

    reattribute([old_token])


def push_budget_after_commit(sender, *, department, **kwargs) -> None:
    from django.db import transaction

    from .tasks import push_department_budget

    transaction.on_commit(lambda: push_department_budget.delay(department.pk), robust=True)


def push_member_after_commit(sender, *, department, user, **kwargs) -> None:
    from django.db import transaction

    from .tasks import push_member_budget

    transaction.on_commit(lambda: push_member_budget.delay(department.pk, user.pk), robust=True)
