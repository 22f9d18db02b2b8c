from django import forms
from django.utils.translation import gettext_lazy as _

from portal import csv_safe
from tenants.models import Department, User

from . import engine
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
        label=_("Departments"),
        queryset=Department.objects.all(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Tick each department whose live keys and projects its leads review."),
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


class DecisionForm(forms.Form):
    """A lead's decision. Approval may lower (never raise) what was asked for."""

    decision = forms.ChoiceField(
        label=_("Decision"), choices=[("approve", _("Approve")), ("reject", _("Reject"))]
    )
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required to reject. When you lower a value, say why: the requester sees it."),
    )
    max_budget = forms.DecimalField(
        label=_("Budget (USD)"), required=False, min_value=0, decimal_places=2
    )
    rpm_limit = forms.IntegerField(label=_("Requests per minute"), required=False, min_value=1)
    tpm_limit = forms.IntegerField(label=_("Tokens per minute"), required=False, min_value=1)
    lifetime_days = forms.IntegerField(label=_("Lifetime (days)"), required=False, min_value=1)
    monthly_budget = forms.DecimalField(
        label=_("Monthly budget (USD)"), required=False, min_value=0, decimal_places=2
    )

    # The stage the page showed: the decision counts for that stage only, never a later one
    # (a tab left open, a form sent twice).
    stage = forms.IntegerField(required=False, widget=forms.HiddenInput)

    LOWERABLE = ("max_budget", "rpm_limit", "tpm_limit", "lifetime_days", "monthly_budget")

    def __init__(self, *args, obj, **kwargs):
        super().__init__(*args, **kwargs)
        self.obj = obj
        current = engine.current_stage(obj) if obj.pk else None
        self.fields["stage"].initial = current.pk if current else None
        for name in self.LOWERABLE:
            asked = getattr(obj, name, None)
            # Only what this kind of request asks for: a budget request has no lifetime.
            if asked is None or asked <= 0:
                del self.fields[name]
                continue
            self.fields[name].initial = asked
            self.fields[name].widget.attrs["max"] = asked
            self.fields[name].help_text = _("Asked for: %(value)s. You may lower it.") % {
                "value": asked
            }

    def clean(self):
        data = super().clean()
        if data.get("decision") == "reject" and not (data.get("comment") or "").strip():
            self.add_error("comment", _("Say why the request is rejected."))
        for name in self.LOWERABLE:
            value = data.get(name)
            if name in self.fields and value is not None and value > getattr(self.obj, name):
                self.add_error(name, _("You can lower what was asked for, not raise it."))
        lowering = data.get("decision") == "approve" and any(
            name in self.fields
            and data.get(name) is not None
            and data[name] < getattr(self.obj, name)
            for name in self.LOWERABLE
        )
        if lowering and not (data.get("comment") or "").strip():
            self.add_error("comment", _("Say why you lower what was asked for."))
        return data

    def shown(self) -> engine.Shown | None:
        stage = self.cleaned_data.get("stage")
        return engine.Shown(stage) if stage else None

    def lowered(self) -> dict:
        return {
            name: self.cleaned_data[name]
            for name in self.LOWERABLE
            if name in self.fields
            and self.cleaned_data.get(name) is not None
            and self.cleaned_data[name] != getattr(self.obj, name)
        }
