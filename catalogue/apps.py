from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogueConfig(AppConfig):
    """The models LiteLLM serves, with their prices: read by the key form, the cost estimate
    and the ``/models/`` page. Below the kinds of request; above the approval policies, whose
    premium sets it shows."""

    name = "catalogue"
    verbose_name = _("Model catalogue")
