from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CostsConfig(AppConfig):
    name = "costs"
    verbose_name = _("Costs")

    def ready(self) -> None:
        from keys import panels
        from portal import home as portal_home

        from . import decision_panel, key_usage
        from . import home as costs_home

        panels.register(panels.DECISION, decision_panel.panel)
        panels.register(panels.KEY_DETAIL, key_usage.panel)
        portal_home.register(10, "costs/home/my_keys.html", costs_home.my_keys)
        portal_home.register(30, "costs/home/departments.html", costs_home.departments)
        portal_home.register(50, "costs/home/organisation.html", costs_home.organisation)
