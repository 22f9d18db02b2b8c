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
