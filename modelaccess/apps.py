from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ModelAccessConfig(AppConfig):
    """Model access requests: a kind of request registered with the approval engine. Above
    ``keys`` (it changes the department's LiteLLM team) and ``catalogue`` (prices)."""

    name = "modelaccess"
    verbose_name = _("Model access")

    def ready(self) -> None:
        from . import hooks

        hooks.register()
