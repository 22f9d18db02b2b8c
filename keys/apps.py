from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KeysConfig(AppConfig):
    name = "keys"
    verbose_name = _("Keys and requests")

    def ready(self) -> None:
        from portal import home as portal_home
        from portal import metrics
        from tenants import panels as tenant_panels
        from tenants.signals import member_left

        from . import department_panel, home
        from .leavers import on_member_left
        from .lifecycle import register_tasks
        from .models import TuningProject, VirtualKey
        from .tasks import (
            block_suspended_key,
            provision_key,
            provision_project,
            purge_key,
            teardown_project,
        )

        register_tasks(
            VirtualKey, provision=provision_key, cleanup=purge_key, block=block_suspended_key
        )
        register_tasks(TuningProject, provision=provision_project, cleanup=teardown_project)
        metrics.register_requests(VirtualKey)
        metrics.register_requests(TuningProject)
        member_left.connect(on_member_left, dispatch_uid="keys.offboard")

        # The home page's panels about requests.
        portal_home.register(20, "keys/home/developer.html", home.developer)
        portal_home.register(25, "keys/home/approver.html", home.approver)
        portal_home.register(40, "keys/home/infra.html", home.infra)
        # The department page's tuning projects.
        tenant_panels.register(tenant_panels.DEPARTMENT_DETAIL, department_panel.panel)
        from .approval_hooks import register

        register()
