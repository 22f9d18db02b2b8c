"""Field groups that several approval models share."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _


class AboutRequest(models.Model):
    """A row about one request or grant of any kind (content type + pk), in its department."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.PositiveBigIntegerField()
    department = models.ForeignKey("tenants.Department", on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True


def zero_is_never(verbose_name) -> models.PositiveIntegerField:
    """A count of working hours or days after which something happens; 0: never."""
    return models.PositiveIntegerField(verbose_name, default=0, help_text=_("0: never."))
