from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CostsConfig(AppConfig):
    name = "costs"
    verbose_name = _("Costs")

    def ready(self) -> None:
        from keys.lifecycle import register_tasks

        from .models import BudgetRequest
        from .tasks import apply_budget_request

        register_tasks(BudgetRequest, provision=apply_budget_request)

        from tenants.signals import department_budget_changed

        department_budget_changed.connect(push_budget_after_commit, dispatch_uid="costs.push")

        from approvals import registry
        from keys import workflow

        registry.register(
            BudgetRequest,
            facts=budget_facts,
            approve=workflow.finish_approval,
            reject=workflow.finish_rejection,
            expire=workflow.expire_pending,
        )


def budget_facts(obj) -> dict:
    """What approval stage conditions read from a budget request."""
    return {
        "budget": obj.monthly_budget,
        "models": [],
        "retention_days": None,
        "service_account": False,
    }


def push_budget_after_commit(sender, *, department, **kwargs) -> None:
    from django.db import transaction

    from .tasks import push_department_budget

    transaction.on_commit(lambda: push_department_budget.delay(department.pk))
