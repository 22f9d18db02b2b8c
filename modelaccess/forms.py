"""The model access request form: which department, which model, add or remove, why, and the
expected monthly spend. Also used by the REST API, so the rules are the same everywhere."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from approvals.lifecycle import OPEN_STATUSES
from catalogue.models import CatalogueModel
from tenants.models import Department

from .models import ModelAccessRequest


class ModelAccessForm(forms.ModelForm):
    department = forms.ModelChoiceField(queryset=Department.objects.none(), label=_("Department"))
    model_name = forms.ChoiceField(label=_("Model"), choices=())
    change = forms.ChoiceField(
        label=_("Change"),
        choices=ModelAccessRequest.Change.choices,
        initial=ModelAccessRequest.Change.ADD,
        widget=forms.RadioSelect,
    )
    expected_monthly_spend = forms.DecimalField(
        label=_("Expected monthly spend (USD)"),
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=2,
        help_text=_("What the department expects to spend on this model in a month."),
    )

    class Meta:
        model = ModelAccessRequest
        fields = ["department", "model_name", "change", "expected_monthly_spend", "justification"]
        labels = {"justification": _("Reason")}
        widgets = {"justification": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["department"].queryset = Department.objects.filter(
            memberships__user=user
        ).order_by("name")
        served = CatalogueModel.objects.filter(missing_since__isnull=True)
        names = sorted({m.name for m in served} | self._allowed_anywhere())
        self.fields["model_name"].choices = [(n, n) for n in names]
        self.fields["justification"].max_length = 4000

    def _allowed_anywhere(self) -> set[str]:
        """Models the user's departments allow (so one gone from LiteLLM can be removed)."""
        lists = self.fields["department"].queryset.values_list("allowed_models", flat=True)
        return {m for names in lists for m in names or []}

    def clean(self):
        data = super().clean()
        dept, name, change = data.get("department"), data.get("model_name"), data.get("change")
        if not dept or not name or not change:
            return data
        allowed = set(dept.allowed_models or [])
        if change == ModelAccessRequest.Change.ADD:
            if name in allowed:
                self.add_error("model_name", _("%(dept)s already has this model.") % {"dept": dept})
            elif not CatalogueModel.objects.filter(name=name, missing_since__isnull=True).exists():
                self.add_error("model_name", _("LiteLLM does not serve this model."))
        elif name not in allowed:
            self.add_error("model_name", _("%(dept)s does not have this model.") % {"dept": dept})
        elif allowed == {name}:
            self.add_error(
                "model_name", _("A department keeps at least one model; this is its last one.")
            )
        open_ = ModelAccessRequest.objects.filter(department=dept, model_name=name)
        if open_.filter(status__in=OPEN_STATUSES).exists():
            self.add_error(
                "model_name", _("A request about this model for %(dept)s is open.") % {"dept": dept}
            )
        return data
