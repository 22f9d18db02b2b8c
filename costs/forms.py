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
    enforced = forms.BooleanField(required=False)
    # Only where to go back to: a bad page is ignored (back to page 1), never an error.
    page = forms.Field(required=False)

    def clean_page(self) -> int:
        page = str(self.cleaned_data.get("page") or "")[:8]
        return int(page) if page.isascii() and page.isdigit() and 0 < int(page) <= 10**6 else 1


class BudgetRequestForm(forms.Form):
    # The department page also holds the soft-budget form, whose field has the same name.
    PREFIX = "budget"

    monthly_budget = forms.DecimalField(
        label=_("New monthly budget (USD)"), min_value=0, max_digits=12, decimal_places=2
    )
    justification = forms.CharField(
        label=_("Why"), max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, current: Decimal | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if current is not None:  # not pre-filled: a request must ask for something new
            self.fields["monthly_budget"].help_text = _(
                "Now USD %(budget)s. Ask for a different amount."
            ) % {"budget": current}
