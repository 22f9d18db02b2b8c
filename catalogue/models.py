"""The model catalogue: what LiteLLM serves, refreshed on a schedule (``catalogue.services``)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

MILLION = Decimal(1_000_000)


class CatalogueModel(models.Model):
    """One model name callers use (LiteLLM's model group), as LiteLLM last described it."""

    name = models.CharField(_("model"), max_length=200, unique=True)
    providers = models.JSONField(_("providers"), default=list)
    mode = models.CharField(_("mode"), max_length=32, blank=True, default="")
    context_window = models.PositiveIntegerField(_("context window (tokens)"), null=True)
    # Per million tokens, as price lists quote them (LiteLLM answers per token).
    input_price = models.DecimalField(
        _("input (USD per 1M tokens)"), max_digits=14, decimal_places=6, null=True
    )
    output_price = models.DecimalField(
        _("output (USD per 1M tokens)"), max_digits=14, decimal_places=6, null=True
    )
    # The provider models LiteLLM routes this name to (``litellm_params.model`` of each of its
    # deployments in ``/model/info``), as last seen: spend reported under one of them is this
    # model's (``deployment_groups``). Kept when the model is gone, for the spend it left.
    deployments = models.JSONField(_("deployments"), default=list, blank=True)
    seen_at = models.DateTimeField(_("last seen in LiteLLM"))
    missing_since = models.DateTimeField(
        _("gone from LiteLLM since"), null=True, blank=True, db_index=True
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("catalogue model")
        verbose_name_plural = _("catalogue models")

    def __str__(self) -> str:
        return self.name

    @property
    def provider(self) -> str:
        return ", ".join(self.providers)

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal | None:
        """What these tokens cost at this model's prices; None where LiteLLM has no price."""
        if self.input_price is None or self.output_price is None:
            return None
        return (input_tokens * self.input_price + output_tokens * self.output_price) / MILLION
