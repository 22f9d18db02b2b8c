from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = _("Departments and people")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.db.models.signals import post_delete, post_save

        from portal import context_processors

        from .models import Department, Membership
        from .permissions import audit_superuser_sign_in

        user_logged_in.connect(audit_superuser_sign_in, dispatch_uid="audit_superuser_sign_in")
        # Pages cache each user's memberships (``User.memberships_once``) under this version.
        for model in (Department, Membership):
            for signal in (post_save, post_delete):
                signal.connect(
                    context_processors.forget_memberships,
                    sender=model,
                    dispatch_uid=f"memberships-{model.__name__}",
                )
