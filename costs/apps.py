from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CostsConfig(AppConfig):
    name = "costs"
    verbose_name = _("Costs")

    def ready(self) -> None:
        from keys import decision

        from . import decision_panel

        decision.register_panel(decision_panel.panel)
