from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Portal")

    def ready(self) -> None:
        from . import context_processors, metrics

        for signal in (post_save, post_delete):
            signal.connect(context_processors.forget_pending, dispatch_uid="nav-forget-pending")
        metrics.connect_celery_signals()
