"""The key form's estimated monthly cost: the chosen models' prices (the catalogue) applied to
the developer's own last 30 UTC days of tokens, or to a stated reference month without them."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Sum
from django.shortcuts import render
from django.views.decorators.http import require_GET

from catalogue import services as catalogue
from portal.days import utc_today

from .models import DailySpend

DAYS = 30


@dataclass
class Estimate:
    input_tokens: int
    output_tokens: int
    from_history: bool  # False: the reference month, said on the form
    per_model: list[tuple[str, Decimal | None]]  # None: LiteLLM has no price for it

    @property
    def priced(self) -> list[Decimal]:
        return [cost for _, cost in self.per_model if cost is not None]

    @property
    def low(self) -> Decimal | None:
        return min(self.priced, default=None)

    @property
    def high(self) -> Decimal | None:
        return max(self.priced, default=None)


def monthly_estimate(user, models: list[str], today: datetime.date | None = None) -> Estimate:
    """What a month of the user's recent usage would cost on each chosen model. The last 30
    days end yesterday (today is not complete): UTC days, as LiteLLM counts them."""
    today = today or utc_today()
    usage = DailySpend.objects.filter(
        user=user, day__gte=today - datetime.timedelta(days=DAYS), day__lt=today
    ).aggregate(inp=Sum("prompt_tokens"), out=Sum("completion_tokens"))
    inp, out = usage["inp"] or 0, usage["out"] or 0
    history = bool(inp or out)
    if not history:
        inp, out = settings.ESTIMATE_REFERENCE_TOKENS
    prices = catalogue.by_name(models)
    return Estimate(
        input_tokens=inp,
        output_tokens=out,
        from_history=history,
        per_model=[(m, prices[m].cost(inp, out) if m in prices else None) for m in models],
    )


def decision_panel(obj, ctx: dict) -> dict:
    """Beside the worst case (a key spending its whole budget), what a month of the
    requester's own recent use would cost on the models asked for."""
    models = list(getattr(obj, "llm_models", None) or [])
    if not models or getattr(obj, "max_budget", None) is None:
        return {}
    return {"expected": monthly_estimate(obj.requester, models)}


@require_GET
@login_required
def estimate(request):
    """The htmx fragment under the key form's models (only the user's own usage is read)."""
    models = [m for m in request.GET.getlist("llm_models") if m and "\x00" not in m][:50]
    return render(
        request, "costs/_estimate.html", {"estimate": monthly_estimate(request.user, models)}
    )
