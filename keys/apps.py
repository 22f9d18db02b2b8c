from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KeysConfig(AppConfig):
    name = "keys"
    verbose_name = _("Keys and requests")

    def ready(self) -> None:
        from .lifecycle import register_tasks
        from .models import TuningProject, VirtualKey
        from .tasks import provision_key, provision_project, purge_key, teardown_project

        register_tasks(VirtualKey, provision=provision_key, cleanup=purge_key)
        register_tasks(TuningProject, provision=provision_project, cleanup=teardown_project)
