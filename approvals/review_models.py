"""Access reviews (recertification): a campaign over live grants, one item per grant."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from portal.model_fields import optional_person

from .model_bases import AboutRequest

USER = settings.AUTH_USER_MODEL


class ReviewCampaign(models.Model):
    class AtDeadline(models.TextChoices):
        SUSPEND = "suspend", _("suspend what nobody reviewed")
        REVOKE = "revoke", _("revoke what nobody reviewed")

    class State(models.TextChoices):
        OPEN = "open", _("open")
        CLOSED = "closed", _("closed")

    name = models.CharField(_("name"), max_length=120)
    departments = models.ManyToManyField(
        "tenants.Department", related_name="+", verbose_name=_("departments")
    )
    deadline = models.DateTimeField(_("deadline"))
    at_deadline = models.CharField(
        _("at the deadline"), max_length=8, choices=AtDeadline.choices, default="suspend"
    )
    remind_days_before = models.PositiveIntegerField(_("remind days before deadline"), default=3)
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default="open")
    started_by = optional_person(_("started by"), on_delete=models.SET_NULL)
    created_at = models.DateTimeField(_("started at"), auto_now_add=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("access review")
        verbose_name_plural = _("access reviews")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("review_campaign", args=[self.pk])


class ReviewItem(AboutRequest):
    class Decision(models.TextChoices):
        PENDING = "pending", _("not reviewed")
        KEEP = "keep", _("keep")
        REVOKE = "revoke", _("revoke")

    class Outcome(models.TextChoices):
        NONE = "", _("—")
        KEPT = "kept", _("kept")
        REVOKED = "revoked", _("revoked")
        SUSPENDED = "suspended", _("suspended")
        GONE = "gone", _("already ended")
        FAILED = "failed", _("failed, retried")

    campaign = models.ForeignKey(ReviewCampaign, on_delete=models.CASCADE, related_name="items")
    label = models.CharField(_("item"), max_length=200)
    owner = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(
        _("decision"), max_length=8, choices=Decision.choices, default="pending"
    )
    reason = models.TextField(_("reason"), blank=True)
    decided_by = models.ForeignKey(
        USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=Outcome.choices, default="", blank=True
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["department__name", "label"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "content_type", "object_id"], name="one_item_per_grant"
            )
        ]
        indexes = [models.Index(fields=["campaign", "decision"])]

    def __str__(self) -> str:
        return self.label

    @property
    def kind_label(self) -> str:
        """The grant's kind in the page's language (Django caches content types)."""
        return ContentType.objects.get_for_id(self.content_type_id).model_class()._meta.verbose_name
