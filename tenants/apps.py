from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = _("Departments and people")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from .permissions import audit_superuser_sign_in

        user_logged_in.connect(audit_superuser_sign_in, dispatch_uid="audit_superuser_sign_in")
