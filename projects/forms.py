"""The tuning project request form (validated against the department's policy) and infra's
manual fulfilment."""

from __future__ import annotations

from django import forms
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from approvals.lifecycle import Status
from keys.models import VirtualKey
from portal import csv_safe
from tenants.models import Department

from .models import TuningProject


class ProjectRequestForm(forms.ModelForm):
    department = forms.ModelChoiceField(queryset=Department.objects.none(), label=_("Department"))

    class Meta:
        model = TuningProject
        fields = [
            "department",
            "name",
            "purpose",
            "lifetime_days",
            "retention_days",
            "route_key",
            "justification",
        ]
        widgets = {
            "purpose": forms.Textarea(attrs={"rows": 2}),
            "justification": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].validators.append(csv_safe.refuse_formula_start)
        departments = Department.objects.filter(memberships__user=user).order_by("name")
        self.fields["department"].queryset = departments
        self.fields["route_key"].queryset = VirtualKey.objects.filter(
            requester=user, status=Status.ACTIVE
        )
        self.fields["route_key"].required = False
        self.fields["justification"].required = True
        if len(departments) == 1 and not self.is_bound:
            self.initial.setdefault("department", departments[0].pk)
            self.initial.setdefault(
                "lifetime_days", min(14, departments[0].max_project_lifetime_days)
            )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if len(slugify(name)) < 3:
            raise forms.ValidationError(_("Use at least three letters or digits."))
        return name

    def clean(self):
        data = super().clean()
        dept = data.get("department")
        lifetime = data.get("lifetime_days")
        if dept and lifetime is not None:
            if lifetime <= 0:
                self.add_error("lifetime_days", _("Must be greater than zero."))
            elif lifetime > dept.max_project_lifetime_days:
                self.add_error(
                    "lifetime_days",
                    _("The department's policy allows at most %(limit)s days.")
                    % {"limit": dept.max_project_lifetime_days},
                )
        retention = data.get("retention_days")
        if retention is not None and 0 < retention < 3:
            self.add_error(
                "retention_days", _("Langfuse keeps data at least 3 days (or 0: forever).")
            )
        route_key = data.get("route_key")
        if route_key and dept and route_key.department_id != dept.pk:
            self.add_error("route_key", _("Choose a key of the same department."))
        return data


class ManualFulfilmentForm(forms.Form):
    """What infra enters after creating the project by hand in Langfuse."""

    langfuse_host = forms.URLField(
        label=_("Langfuse host"),
        assume_scheme="https",
        max_length=300,
        help_text=_(
            "The address the developer's SDK sends traces to, e.g. https://langfuse.example.com."
        ),
    )
    langfuse_project_id = forms.CharField(label=_("Langfuse project id"), max_length=128)
    public_key = forms.CharField(label=_("Public key (pk-lf-…)"), max_length=128)
    secret_key = forms.CharField(
        label=_("Secret key (sk-lf-…)"), max_length=256, widget=forms.PasswordInput
    )

    def clean_public_key(self):
        value = self.cleaned_data["public_key"].strip()
        if not value.startswith("pk-lf-"):
            raise forms.ValidationError(_("A Langfuse public key starts with pk-lf-."))
        return value

    def clean_secret_key(self):
        value = self.cleaned_data["secret_key"].strip()
        if not value.startswith("sk-lf-"):
            raise forms.ValidationError(_("A Langfuse secret key starts with sk-lf-."))
        return value
