"""Infra changes a department's policy through the API: validated, locked, audited."""

from __future__ import annotations

from django import forms
from django.db import transaction

from approvals.policies import THRESHOLDS_CHANGED
from portal import audit
from tenants.models import POLICY_LIMIT_FIELDS, Department, User
from tenants.signals import department_budget_changed

POLICY_CHANGED = THRESHOLDS_CHANGED

POLICY_FIELDS = ["monthly_budget", *POLICY_LIMIT_FIELDS, "approver_rule"]
MAX_MODEL_NAME = 200


class PolicyForm(forms.ModelForm):
    class Meta:
        model = Department
        fields = POLICY_FIELDS

    def clean(self):
        data = super().clean()
        for name in POLICY_FIELDS:
            value = data.get(name)
            numeric = name != "approver_rule" and not isinstance(value, list)
            if numeric and value is not None and value < 0:
                self.add_error(name, "Must not be negative.")
        return data

    def clean_allowed_models(self) -> list[str]:
        """A list of model names; ``[]`` allows none. ``null`` is no list (the column is not
        nullable), and a name is short text without NUL (jsonb refuses NUL)."""
        models = self.data.get("allowed_models")
        if not isinstance(models, list) or not all(
            isinstance(m, str) and m.strip() and len(m) <= MAX_MODEL_NAME and "\x00" not in m
            for m in models
        ):
            raise forms.ValidationError(
                f"A list of model names (at most {MAX_MODEL_NAME} characters each; [] for none)."
            )
        return models


def policy_form(department: Department, changes: dict) -> PolicyForm:
    current = {name: getattr(department, name) for name in POLICY_FIELDS}
    return PolicyForm({**current, **changes}, instance=department)


@transaction.atomic
def set_policy(department: Department, changes: dict, *, actor: User, request=None) -> PolicyForm:
    """Apply ``changes`` to the locked row if valid; the form carries any errors."""
    department = Department.objects.select_for_update().get(pk=department.pk)
    before = audit.snapshot(department, POLICY_FIELDS)
    form = policy_form(department, changes)
    if not form.is_valid():
        return form
    form.save()
    audit.record(
        POLICY_CHANGED,
        department,
        actor=actor,
        request=request,
        before=before,
        after=audit.snapshot(department, POLICY_FIELDS),
    )
    if "monthly_budget" in form.changed_data and department.litellm_team_id:
        # As the admin does: costs pushes the budget to the LiteLLM team after commit.
        department_budget_changed.send(sender=Department, department=department)
    return form
