from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CostsConfig(AppConfig):
    name = "costs"
    verbose_name = _("Costs")

    def ready(self) -> None:
        from portal import metrics

        from . import metrics as costs_metrics
        from .models import BudgetRequest

        metrics.register_requests(BudgetRequest)
        metrics.register_collector(costs_metrics.collect)
