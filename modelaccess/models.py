"""A department asks for a model to be added to (or removed from) its allowed models."""

from __future__ import annotations

from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from approvals.lifecycle import OPEN_STATUSES, LifecycleQuerySet, Request
from tenants.models import User


class ModelAccessQuerySet(LifecycleQuerySet):
    def single_decider(self, person) -> models.Q:
        """Without approval stages, infra decides (the department's policy may add stages)."""
        return models.Q() if person.is_infra else models.Q(pk__in=[])


class ModelAccessRequest(Request):
    """A lead or a developer asks for a model for their department, or for its removal.

    Same lifecycle as every request: submitted → approved (the department's policy; infra
    when it has no stage for it) → a worker changes the department's allowed models and its
    LiteLLM team's ``models`` → active. Never auto-approved.
    """

    class Change(models.TextChoices):
        ADD = "add", _("add the model")
        REMOVE = "remove", _("remove the model")

    model_name = models.CharField(_("model"), max_length=200)
    change = models.CharField(_("change"), max_length=8, choices=Change.choices, default="add")
    expected_monthly_spend = models.DecimalField(
        _("expected monthly spend (USD)"), max_digits=12, decimal_places=2, default=0
    )
    allowed_when_asked = models.JSONField(_("allowed models when asked"), default=list)

    objects = ModelAccessQuerySet.as_manager()

    class Meta(Request.Meta):
        verbose_name = _("model access request")
        verbose_name_plural = _("model access requests")
        constraints = [
            models.UniqueConstraint(
                fields=["department", "model_name"],
                condition=models.Q(status__in=OPEN_STATUSES),
                name="one_open_model_request_per_department",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        sign = "+" if self.change == self.Change.ADD else "−"
        return f"{sign} {self.model_name}"

    @property
    def adds(self) -> bool:
        return self.change == self.Change.ADD

    def get_absolute_url(self) -> str:
        return reverse("model_access_detail", args=[self.pk])

    def decide_url(self) -> str:
        return reverse("decide_model_access", args=[self.pk])

    def decides_alone(self, user) -> bool:
        return user.is_infra  # without stages: infra's call

    def deciders(self):
        """Who is told about a request without stages: infra, who decide it."""
        return User.objects.filter(is_infra=True, is_active=True).exclude(pk=self.requester_id)

    def allowed_after(self, allowed: list[str]) -> list[str]:
        """The department's allowed models once this request is applied to ``allowed``."""
        if self.adds:
            return sorted({*allowed, self.model_name})
        return sorted(m for m in allowed if m != self.model_name)
