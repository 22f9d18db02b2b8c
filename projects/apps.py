from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProjectsConfig(AppConfig):
    name = "projects"
    verbose_name = _("Tuning projects")

    def ready(self) -> None:
        from approvals import panels as approval_panels
        from keys import panels as key_panels
        from portal import audit, metrics
        from tenants import panels as tenant_panels
        from tenants.signals import member_left

        from . import approval_hooks, department_panel, panels
        from .leavers import on_member_left
        from .models import TuningProject

        approval_hooks.register()
        metrics.register_requests(TuningProject)
        member_left.connect(on_member_left, dispatch_uid="projects.offboard")
        # Audit rows written before the model moved here name it by its old label.
        audit.register_former_label(TuningProject, "keys.tuningproject")
        key_panels.register(key_panels.OPERATIONS, panels.operations)
        key_panels.register(key_panels.HOME_INFRA, panels.home_infra)
        key_panels.register(key_panels.HOME_DEVELOPER, panels.home_developer)
        key_panels.register(key_panels.RECONCILE, panels.reconcile_findings)
        approval_panels.register(approval_panels.DECISION, panels.decision)
        tenant_panels.register(tenant_panels.DEPARTMENT_DETAIL, department_panel.panel)
