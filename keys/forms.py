"""Request and decision forms, validated against the department's policy."""

from __future__ import annotations

import re

from django import forms
from django.template.defaultfilters import floatformat
from django.utils.translation import gettext_lazy as _

from catalogue import services as catalogue
from portal import csv_safe
from tenants.models import Department

from .models import VirtualKey

TAG = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,39}$")
MAX_TAGS = 5


class TagsField(forms.CharField):
    """Comma-separated labels (``project-x, app:chatbot``) ↔ a list of lower-case tags."""

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        if isinstance(value, list | tuple):  # the API sends a list
            value = ",".join(str(v) for v in value)
        text = super().to_python(value) or ""
        tags = []
        for part in text.replace("、", ",").split(","):
            tag = part.strip().lower()
            if tag and tag not in tags:
                tags.append(tag)
        return tags

    def validate(self, value):
        super().validate(value)
        bad = [t for t in value if not TAG.match(t)]
        if bad:
            raise forms.ValidationError(
                _("Tags are letters, digits and . _ : - (at most 40 characters): %(tags)s")
                % {"tags": ", ".join(bad)}
            )
        if len(value) > MAX_TAGS:
            raise forms.ValidationError(_("At most %(n)s tags.") % {"n": MAX_TAGS})


def model_choices(names: list[str]) -> list[tuple[str, str]]:
    """Each model with its prices from the catalogue, as the checkboxes show them."""
    known = catalogue.by_name(names)
    choices = []
    for name in names:
        model = known.get(name)
        if model and model.input_price is not None and model.output_price is not None:
            label = _("%(model)s · USD %(input)s in / %(output)s out per 1M tokens") % {
                "model": name,
                "input": floatformat(model.input_price, 2),
                "output": floatformat(model.output_price, 2),
            }
        else:
            label = name
        choices.append((name, label))
    return choices


def choose_department(form: forms.BaseForm, user, wanted=None) -> Department | None:
    """Offer the user's departments in ``form``'s ``department`` field; return the one chosen
    so far (posted, else ``wanted``, e.g. a GET parameter when the picker changes, else the
    initial one), which drives the models and limits. Defaults to the first of the user's."""
    departments = list(Department.objects.filter(memberships__user=user).order_by("name"))
    form.fields["department"].queryset = Department.objects.filter(
        pk__in=[d.pk for d in departments]
    ).order_by("name")
    by_pk = {str(d.pk): d for d in departments}
    raw = form.data.get("department") if form.is_bound else wanted
    if raw is None and form.initial.get("department") is not None:
        raw = form.initial["department"]
    chosen = by_pk.get(str(getattr(raw, "pk", raw)))
    return chosen or (departments[0] if departments else None)


class KeyRequestForm(forms.ModelForm):
    department = forms.ModelChoiceField(queryset=Department.objects.none(), label=_("Department"))
    llm_models = forms.MultipleChoiceField(
        label=_("Models"), widget=forms.CheckboxSelectMultiple, choices=()
    )
    tags = TagsField(
        label=_("Tags"),
        required=False,
        max_length=250,
        help_text=_(
            "Optional, comma-separated, e.g. project-x, app:chatbot. Spend is reported per tag."
        ),
    )

    class Meta:
        model = VirtualKey
        fields = [
            "department",
            "name",
            "kind",
            "llm_models",
            "max_budget",
            "budget_duration",
            "rpm_limit",
            "tpm_limit",
            "lifetime_days",
            "tags",
            "justification",
        ]
        widgets = {"justification": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, user, department=None, **kwargs):
        """``department``: the one chosen so far (a GET parameter when the picker changes);
        its models and policy limits drive the form. Defaults to the first of the user's."""
        super().__init__(*args, **kwargs)
        # A name is an identifier the owner chooses: nothing a spreadsheet would run as a formula.
        self.fields["name"].validators.append(csv_safe.refuse_formula_start)
        self.user = user
        self.policy = choose_department(self, user, department)
        dept = self.policy
        # Only the chosen department's models: a model another department allows cannot be
        # ticked here.
        offered = sorted(dept.allowed_models) if dept else []
        self.fields["llm_models"].choices = model_choices(offered)
        if dept and not self.is_bound:
            self.initial.setdefault("department", dept.pk)
            self.initial.setdefault("rpm_limit", min(60, dept.max_rpm))
            self.initial.setdefault("tpm_limit", min(100_000, dept.max_tpm))
            self.initial.setdefault("lifetime_days", min(30, dept.max_key_lifetime_days))
        self.fields["max_budget"].min_value = 0
        self.fields["justification"].required = True
        if dept:
            self._show_policy(dept)

    def _show_policy(self, dept) -> None:
        """The policy's limits up front, as help text and as the inputs' bounds."""
        limits = {
            "max_budget": (dept.max_key_budget, _("Policy: at most USD %(limit)s per key.")),
            "rpm_limit": (dept.max_rpm, _("Policy: at most %(limit)s.")),
            "tpm_limit": (dept.max_tpm, _("Policy: at most %(limit)s.")),
            "lifetime_days": (dept.max_key_lifetime_days, _("Policy: at most %(limit)s days.")),
        }
        for name, (limit, text) in limits.items():
            field = self.fields[name]
            field.help_text = text % {"limit": limit}
            field.widget.attrs["max"] = limit
        models = self.fields["llm_models"]
        models.help_text = _("Models %(dept)s may use.") % {"dept": dept.name}
        models.error_messages["invalid_choice"] = _("%(dept)s may not use: %(models)s.") % {
            "dept": dept.name,
            "models": "%(value)s",
        }

    def clean(self):
        data = super().clean()
        dept = data.get("department")
        if not dept:
            return data
        bad = sorted(set(data.get("llm_models") or []) - set(dept.allowed_models))
        if bad:
            self.add_error(
                "llm_models",
                _("%(dept)s may not use: %(models)s.")
                % {"dept": dept.name, "models": ", ".join(bad)},
            )
        limits = [
            ("max_budget", dept.max_key_budget, _("at most USD %(limit)s per key")),
            ("rpm_limit", dept.max_rpm, _("at most %(limit)s requests per minute")),
            ("tpm_limit", dept.max_tpm, _("at most %(limit)s tokens per minute")),
            ("lifetime_days", dept.max_key_lifetime_days, _("at most %(limit)s days")),
        ]
        for field, limit, message in limits:
            value = data.get(field)
            if value is not None and value > limit:
                self.add_error(
                    field, _("The department's policy allows ") + message % {"limit": limit}
                )
        for field in ("max_budget", "rpm_limit", "tpm_limit", "lifetime_days"):
            value = data.get(field)
            if value is not None and value <= 0:
                self.add_error(field, _("Must be greater than zero."))
        return data
