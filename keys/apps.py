from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KeysConfig(AppConfig):
    name = "keys"
    verbose_name = _("Keys and requests")

    def ready(self) -> None:
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

        from tenants.signals import member_left

        from .leavers import on_member_left

        member_left.connect(on_member_left, dispatch_uid="keys.offboard")

        from .approval_hooks import register

        register()
