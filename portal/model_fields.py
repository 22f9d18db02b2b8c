"""Model fields that several apps declare alike."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


def optional_person(verbose_name, *, on_delete=models.PROTECT, **kwargs) -> models.ForeignKey:
    """A person a row may name (none by default), with no reverse accessor."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=on_delete, null=True, blank=True,
        related_name="+", verbose_name=verbose_name, **kwargs,
    )  # fmt: skip


def owning_department() -> models.ForeignKey:
    """The department a request or an identity belongs to: it cannot be deleted under them."""
    return models.ForeignKey(
        "tenants.Department",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("department"),
    )
