"""Setting a soft (alert-only) budget for a department, one of its models or keys."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from catalogue.services import deployment_groups
from keys.models import VirtualKey
from portal.forms import errors_as_messages
from tenants.access import department_for_lead

from .models import SoftBudget
from .soft_budgets import set_soft_budget


class SoftBudgetForm(forms.Form):
    scope = forms.ChoiceField(label=gettext_lazy("For"), choices=SoftBudget.Scope.choices)
    model = forms.CharField(label=gettext_lazy("Model"), max_length=200, required=False)
    tag = forms.CharField(label=gettext_lazy("Tag"), max_length=40, required=False)
    # The token's last 8 characters, as the key tables show them (no list of every key: a
    # large department has thousands).
    key = forms.CharField(label=gettext_lazy("Key token (last 8)"), max_length=128, required=False)
    monthly_budget = forms.DecimalField(
        label=gettext_lazy("Monthly budget (USD)"),
        min_value=0,
        max_digits=12,
        decimal_places=2,
        required=False,
    )

    def __init__(self, *args, department, **kwargs):
        super().__init__(*args, **kwargs)
        self.department = department

    def clean(self):
        data = super().clean()
        scope = data.get("scope")
        # Spend is by model group: a provider model's name stands for its group.
        model = (data.get("model") or "").strip()
        data["model"] = deployment_groups().get(model, model) if model else ""
        if scope == SoftBudget.Scope.MODEL and not data["model"]:
            self.add_error("model", _("Name the model."))
        data["tag"] = (data.get("tag") or "").strip().lower()
        if scope == SoftBudget.Scope.TAG and not data["tag"]:
            self.add_error("tag", _("Name the tag."))
        if scope == SoftBudget.Scope.KEY:
            token = (data.get("key") or "").strip()
            keys = list(
                VirtualKey.objects.filter(
                    department=self.department, litellm_key_id__endswith=token
                )[:2]
                if len(token) >= 6
                else []
            )
            if len(keys) != 1:
                self.add_error("key", _("Choose one of the department's keys."))
            data["key_obj"] = keys[0] if len(keys) == 1 else None
        return data


@require_POST
def soft_budget(request, slug: str):
    dept = department_for_lead(request.user, slug)
    form = SoftBudgetForm(request.POST, department=dept)
    if form.is_valid():
        data = form.cleaned_data
        scope = data["scope"]
        set_soft_budget(
            dept,
            scope,
            data.get("monthly_budget"),
            model=data.get("model", "") if scope == SoftBudget.Scope.MODEL else "",
            tag=data["tag"] if scope == SoftBudget.Scope.TAG else "",
            key=data.get("key_obj") if scope == SoftBudget.Scope.KEY else None,
            actor=request.user,
            request=request,
        )
        messages.success(request, _("Soft budget saved."))
    else:
        errors_as_messages(request, form)
    return redirect("costs_department", slug=dept.slug)
