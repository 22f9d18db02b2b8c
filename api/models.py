"""Service identities (Entra service principals allowed to call the API) and stored answers
to POSTs sent with an ``Idempotency-Key``."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.model_fields import owning_department


class ServiceIdentity(models.Model):
    """An Entra service principal (client-credentials tokens) registered by infra.

    It acts as a member of one department through its own portal user (no Entra object id, so
    the directory sync leaves it alone), with only the rights chosen here.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    app_id = models.CharField(
        _("application (client) id"),
        max_length=64,
        unique=True,
        help_text=_("The appid / azp claim of the service principal's access tokens."),
    )
    tenant_id = models.CharField(_("tenant id"), max_length=64)
    department = owning_department()
    can_request_keys = models.BooleanField(
        _("may request service-account keys"),
        default=False,
        help_text=_("Request, list, reveal once, rotate and revoke its own service-account keys."),
    )
    can_read_costs = models.BooleanField(_("may read the department's costs"), default=False)
    can_manage_policies = models.BooleanField(
        _("may plan and apply approval policies"),
        default=False,
        help_text=_("Policies as code: plan and apply every department's policy files."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="service_identity",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("service identity")
        verbose_name_plural = _("service identities")

    def __str__(self) -> str:
        return self.name


class IdempotencyRecord(models.Model):
    """The first answer to a POST with an ``Idempotency-Key``, per identity and key.

    The row is inserted before the operation runs, in the operation's transaction: a
    concurrent retry waits on the unique index and then gets the stored answer.
    """

    identity = models.CharField(max_length=100)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["identity", "key"], name="api_idempotency_once")
        ]

    def __str__(self) -> str:
        return f"{self.identity} {self.method} {self.path} ({self.key})"
