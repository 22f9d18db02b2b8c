"""A secret handed over once (the key's or the tuning project's), shared by both models."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal import crypto


class OneTimeSecret(models.Model):
    """A secret handed over once: kept Fernet-encrypted until its owner reveals it, then wiped.

    Only the last four characters stay, so people can tell their keys apart.
    """

    secret_encrypted = models.TextField(blank=True, default="", editable=False)
    secret_last4 = models.CharField(_("last 4 characters"), max_length=4, blank=True)
    secret_revealed_at = models.DateTimeField(_("revealed at"), null=True, blank=True)

    class Meta:
        abstract = True

    def store_secret(self, secret: str) -> None:
        self.secret_encrypted = crypto.encrypt(secret)
        self.secret_last4 = secret[-4:]
        self.secret_revealed_at = None

    @property
    def secret_waiting(self) -> bool:
        """A secret kept and ready for its owner. While a request is still provisioning, its
        secret may be kept before the service has confirmed it (``keys.services.ensure_key``):
        not yet shown."""
        return bool(self.secret_encrypted) and getattr(self, "status", "") != "provisioning"

    def take_secret(self) -> str:
        """Decrypt and wipe. The caller saves in the same transaction it shows it."""
        secret = crypto.decrypt(self.secret_encrypted)
        self.secret_encrypted = ""
        self.secret_revealed_at = timezone.now()
        return secret
