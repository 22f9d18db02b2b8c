from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KeysConfig(AppConfig):
    name = "keys"
    verbose_name = _("Keys and requests")

    def ready(self) -> None:
        from portal import metrics

        from .models import TuningProject, VirtualKey

        metrics.register_requests(VirtualKey)
        metrics.register_requests(TuningProject)
