"""Forms of the cost pages: every value a lead types is validated here, not in the views."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _


class MemberBudgetForm(forms.Form):
    """One member's monthly budget; empty or 0 clears it. Finite, non-negative, 2 decimals."""

    member = forms.IntegerField(min_value=1, max_value=2**63 - 1)
    monthly_budget = forms.DecimalField(
        label=_("Monthly budget (USD)"),
        required=False,
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=2,
    )
    page = forms.IntegerField(required=False, min_value=1, max_value=1_000_000)


class BudgetRequestForm(forms.Form):
    monthly_budget = forms.DecimalField(
        label=_("New monthly budget (USD)"), min_value=0, max_digits=12, decimal_places=2
    )
    justification = forms.CharField(
        label=_("Why"), max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
    )
