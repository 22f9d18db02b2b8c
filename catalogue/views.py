"""``/models/``: what LiteLLM serves, with prices, for everyone signed in."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from portal.panels import Panel, run
from tenants.models import Department

from . import services
from .models import CatalogueModel

PAGE: list[Panel] = []
"""What apps above add to ``/models/`` (the model access requests' link), from their
``AppConfig.ready()``: each panel takes the user and the context so far."""


@login_required
def catalogue(request):
    departments = list(
        Department.objects.filter(memberships__user=request.user).order_by("name").distinct()
    )
    premium = services.premium_models(d.pk for d in departments)
    rows = []
    for model in CatalogueModel.objects.filter(missing_since__isnull=True):
        rows.append(
            {
                "model": model,
                "allowed_in": [d for d in departments if model.name in d.allowed_models],
                "premium_in": [d for d in departments if model.name in premium.get(d.pk, ())],
                "lacking_in": [d for d in departments if model.name not in d.allowed_models],
            }
        )
    context = {
        "rows": rows,
        "refreshed": CatalogueModel.objects.order_by("-seen_at")
        .values_list("seen_at", flat=True)
        .first(),
        "departments": departments,
    }
    return render(request, "catalogue/models.html", run(PAGE, request.user, context))
