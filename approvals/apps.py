from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = _("Approvals")

    def ready(self) -> None:
        from portal import context_processors

        from . import registry

        # The navigation's "Approvals" badge counts every registered kind.
        context_processors.register_pending_counter(registry.pending_count)
