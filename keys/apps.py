from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KeysConfig(AppConfig):
    name = "keys"
    verbose_name = _("Virtual keys")

    def ready(self) -> None:
        from approvals import panels as approval_panels
        from portal import home as portal_home
        from portal import metrics
        from tenants.signals import member_left

        from . import decision_panel, home
        from .leavers import on_member_left
        from .models import VirtualKey

        metrics.register_requests(VirtualKey)
        member_left.connect(on_member_left, dispatch_uid="keys.offboard")

        # The home page's panels about requests.
        portal_home.register(20, "keys/home/developer.html", home.developer)
        portal_home.register(40, "keys/home/infra.html", home.infra)
        # The decision page's policy checks and the requester's keys (before costs' spend).
        approval_panels.register(approval_panels.DECISION, decision_panel.panel)
        from .approval_hooks import register

        register()
