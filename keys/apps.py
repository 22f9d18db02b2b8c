from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KeysConfig(AppConfig):
    name = "keys"
    verbose_name = _("Keys and requests")

    def ready(self) -> None:
        from portal import home as portal_home

        from . import home

        portal_home.register(20, "keys/home/developer.html", home.developer)
        portal_home.register(25, "keys/home/approver.html", home.approver)
        portal_home.register(40, "keys/home/infra.html", home.infra)
