from django import forms
from django.utils.translation import gettext_lazy as _

from portal import csv_safe
from tenants.models import Department, User

from .review_models import ReviewCampaign


class DelegationForm(forms.Form):
    delegate = forms.ModelChoiceField(
        label=_("Delegate"), queryset=User.objects.filter(is_active=True)
    )
    starts_on = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(label=_("Until"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)

    def clean(self):
        data = super().clean()
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] < data["starts_on"]:
            self.add_error("ends_on", _("The end date is before the start date."))
        return data


class BulkDecisionForm(forms.Form):
    items = forms.CharField(widget=forms.MultipleHiddenInput, required=False)
    decision = forms.ChoiceField(choices=[("approve", _("Approve")), ("reject", _("Reject"))])
    comment = forms.CharField(label=_("Comment"), max_length=2000, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.selected = self.data.getlist("items") if hasattr(self.data, "getlist") else []

    def clean(self):
        data = super().clean()
        if not self.selected:
            raise forms.ValidationError(_("Choose at least one request."))
        if len(self.selected) > 200:
            raise forms.ValidationError(_("Decide at most 200 requests at once."))
        if data.get("decision") == "reject" and not (data.get("comment") or "").strip():
            self.add_error("comment", _("Say why the requests are rejected."))
        parsed = []
        for value in self.selected:  # kind:pk, or kind:pk:stage for a staged request
            parts = value.split(":")
            label, pk, stage = (parts + [""])[:3] if len(parts) in (2, 3) else ("", "", "")
            if not label or not pk.isdigit() or not (stage == "" or stage.isdigit()):
                raise forms.ValidationError(_("Unknown request."))
            parsed.append((label, int(pk), int(stage) if stage else None))
        data["parsed"] = parsed
        return data


class CampaignForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=120, validators=[csv_safe.refuse_formula_start]
    )
    departments = forms.ModelMultipleChoiceField(
        label=_("Departments"), queryset=Department.objects.all()
    )
    deadline = forms.DateTimeField(
        label=_("Deadline"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    at_deadline = forms.ChoiceField(
        label=_("At the deadline"), choices=ReviewCampaign.AtDeadline.choices
    )


class ReviewDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("keep", _("Keep")), ("revoke", _("Revoke"))])
    reason = forms.CharField(label=_("Reason"), max_length=2000)
