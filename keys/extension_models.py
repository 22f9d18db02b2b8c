"""A request for more time on a live key: the same LiteLLM key, a later expiry."""

from __future__ import annotations

from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from approvals.lifecycle import OPEN_STATUSES, Request


class KeyExtension(Request):
    """The key's owner asks for ``lifetime_days`` more days. Decided like any request (the
    department's auto-approval rule, its stages, never by the requester); once approved a
    worker moves the same LiteLLM key's expiry (``/key/update``) and the portal's to
    ``new_expires_at``. The secret does not change; rotation is a separate action."""

    key = models.ForeignKey(
        "keys.VirtualKey",
        on_delete=models.CASCADE,
        related_name="extension_requests",
        verbose_name=_("key"),
    )
    previous_expires_at = models.DateTimeField(_("expiry when asked"), null=True, blank=True)
    new_expires_at = models.DateTimeField(_("new expiry"))

    class Meta(Request.Meta):
        verbose_name = _("key extension")
        verbose_name_plural = _("key extensions")
        constraints = [
            models.UniqueConstraint(
                fields=["key"],
                condition=models.Q(status__in=OPEN_STATUSES),
                name="one_open_extension_per_key",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        from portal.templatetags.portal_ui import days_text

        return f"{self.key.name} +{days_text(self.lifetime_days)}"

    def get_absolute_url(self) -> str:
        return reverse("key_detail", args=[self.key_id])

    def decide_url(self) -> str:
        return reverse("decide_extension", args=[self.pk])
