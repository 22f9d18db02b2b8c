"""The request form of a pipeline identity (the page, the API and the CLI all go through it),
validated against the department's policy."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from keys.forms import choose_department, model_choices
from portal import csv_safe
from tenants.models import Department

from . import claims
from .models import PipelineIdentity

CLAIM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")
ORG_OR_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
MAX_RULES = 10
# Each issuer's claims, one of which must pin the token to a repository, project or workload
# (a rule set without one would trust every pipeline of the issuer).
PINNING = {
    "github": ("repository", "sub", "job_workflow_ref"),
    "azure_devops": ("sub", "def_id", "rpo_uri"),
    "gitlab": ("project_path", "sub"),
    # A cluster's service accounts, or another issuer by its URL (GitHub Enterprise Server).
    "kubernetes": ("sub", "repository", "project_path"),
    "entra": ("sub", "oid", "appid", "azp"),
}
KIND_DETAIL = {  # what the "issuer detail" field holds for each kind ('' : nothing)
    "github": "",
    "azure_devops": "org",
    "gitlab": "url",
    "kubernetes": "url",
    "entra": "tenant",
}


def _printable(text: str) -> bool:
    return not any(ord(c) < 32 or ord(c) == 127 for c in text)


class ClaimRulesField(forms.CharField):
    """``name = pattern`` lines (the page) or an object of name → pattern (the API) ↔ a dict."""

    widget = forms.Textarea(attrs={"rows": 4})

    def prepare_value(self, value):
        if isinstance(value, dict):
            return "\n".join(f"{k} = {v}" for k, v in value.items())
        return value

    def to_python(self, value):
        if isinstance(value, dict):
            rules = value
        else:
            text = super().to_python(value) or ""
            rules = {}
            for line in text.splitlines():
                if not line.strip():
                    continue
                name, sep, pattern = line.partition("=")
                if not sep:
                    raise ValidationError(_("Write each rule as claim = pattern."))
                rules[name.strip()] = pattern.strip()
        return rules

    def validate(self, value):
        if not value:
            raise ValidationError(_("Name at least one claim the token must carry."))
        if len(value) > MAX_RULES:
            raise ValidationError(_("At most %(n)s claim rules.") % {"n": MAX_RULES})
        for name, pattern in value.items():
            if not isinstance(name, str) or not CLAIM_NAME.match(name):
                raise ValidationError(_("Not a claim name: %(name)s") % {"name": str(name)[:64]})
            if not isinstance(pattern, str) or not pattern or len(pattern) > 300:
                raise ValidationError(
                    _("The rule for %(name)s needs a value of at most 300 characters.")
                    % {"name": name}
                )
            if not _printable(pattern):
                raise ValidationError(
                    _("The rule for %(name)s has control characters.") % {"name": name}
                )


class IdentityRequestForm(forms.ModelForm):
    department = forms.ModelChoiceField(queryset=Department.objects.none(), label=_("Department"))
    issuer_kind = forms.ChoiceField(label=_("Issuer"), choices=claims.ISSUER_KINDS)
    issuer_detail = forms.CharField(
        label=_("Organisation, tenant or issuer URL"),
        required=False,
        max_length=300,
        help_text=_("Azure DevOps: the organisation's id. Entra ID: the tenant id. GitLab: "
                    "its URL (empty: gitlab.com). Kubernetes: the cluster's issuer URL."),
    )  # fmt: skip
    claim_rules = ClaimRulesField(
        label=_("Claims that must match"),
        max_length=3000,
        help_text=_(
            "One claim = pattern per line; * matches within a path segment, ** across them."
        ),
    )
    llm_models = forms.MultipleChoiceField(
        label=_("Models"), widget=forms.CheckboxSelectMultiple, choices=()
    )

    class Meta:
        model = PipelineIdentity
        fields = [
            "department", "name", "issuer_kind", "issuer_detail", "audience", "claim_rules",
            "llm_models", "run_budget", "run_lifetime_seconds", "daily_budget", "max_live_keys",
            "lifetime_days", "justification",
        ]  # fmt: skip
        widgets = {"justification": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, user, department=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].validators.append(csv_safe.refuse_formula_start)
        self.fields["audience"].validators.append(csv_safe.refuse_formula_start)
        self.fields["justification"].required = True
        self.user = user
        self.policy = choose_department(self, user, department)
        dept = self.policy
        self.fields["llm_models"].choices = model_choices(
            sorted(dept.allowed_models) if dept else []
        )
        seconds = settings.PIPELINES_MAX_RUN_LIFETIME_SECONDS
        self.fields["run_lifetime_seconds"].help_text = _("At most %(n)s seconds.") % {"n": seconds}
        self.fields["run_lifetime_seconds"].widget.attrs["max"] = seconds
        self.fields["max_live_keys"].widget.attrs["max"] = settings.PIPELINES_MAX_LIVE_KEYS
        if dept:
            self.fields["run_budget"].help_text = _("Policy: at most USD %(limit)s per key.") % {
                "limit": dept.max_key_budget
            }
            self.fields["lifetime_days"].help_text = _("Policy: at most %(limit)s days.") % {
                "limit": dept.max_key_lifetime_days
            }
            if not self.is_bound:
                self.initial.setdefault("department", dept.pk)
                self.initial.setdefault("lifetime_days", min(90, dept.max_key_lifetime_days))

    def clean_issuer_detail(self) -> str:
        detail = (self.cleaned_data.get("issuer_detail") or "").strip()
        if detail and not _printable(detail):
            raise ValidationError(_("No control characters."))
        return detail

    def clean_audience(self) -> str:
        audience = self.cleaned_data["audience"].strip()
        if not _printable(audience):
            raise ValidationError(_("No control characters."))
        return audience

    def clean(self):
        data = super().clean()
        kind, detail = data.get("issuer_kind"), data.get("issuer_detail", "")
        if kind:
            try:
                self.instance.issuer = issuer_url(kind, detail)
            except ValidationError as exc:
                self.add_error("issuer_detail", exc)
        rules = data.get("claim_rules") or {}
        if kind and rules and not _pins(kind, rules):
            names = ", ".join(PINNING[kind])
            self.add_error(
                "claim_rules",
                _("Pin the token to your pipeline: a rule for one of %(names)s that does not "
                  "start with a wildcard.") % {"names": names},
            )  # fmt: skip
        self._check_policy(data)
        return data

    def _check_policy(self, data) -> None:
        dept = data.get("department")
        if not dept:
            return
        bad = sorted(set(data.get("llm_models") or []) - set(dept.allowed_models))
        if bad:
            self.add_error("llm_models", _("%(dept)s may not use: %(models)s.")
                           % {"dept": dept.name, "models": ", ".join(bad)})  # fmt: skip
        at_most = _("The department's policy allows at most %(limit)s.")
        limits = [
            ("run_budget", dept.max_key_budget, at_most),
            ("daily_budget", dept.max_key_budget, at_most),
            ("lifetime_days", dept.max_key_lifetime_days, at_most),
            ("run_lifetime_seconds", settings.PIPELINES_MAX_RUN_LIFETIME_SECONDS,
             _("At most %(limit)s seconds.")),
            ("max_live_keys", settings.PIPELINES_MAX_LIVE_KEYS, _("At most %(limit)s.")),
        ]  # fmt: skip
        for field, limit, message in limits:
            value = data.get(field)
            if value is not None and value > limit:
                self.add_error(field, message % {"limit": limit})
            elif value is not None and value <= 0:
                self.add_error(field, _("Must be greater than zero."))
        run, daily = data.get("run_budget"), data.get("daily_budget")
        if run and daily and run > daily and "run_budget" not in self.errors:
            self.add_error("run_budget", _("A run cannot have more than the daily budget."))


def issuer_url(kind: str, detail: str) -> str:
    """The issuer (``iss``) of ``kind``, from the organisation, tenant or URL given."""
    need = KIND_DETAIL[kind]
    if need == "" and detail:
        raise ValidationError(_("GitHub Actions has one issuer: leave this empty."))
    if kind == "github":
        return claims.GITHUB
    if need in ("org", "tenant"):
        if not ORG_OR_TENANT.match(detail):
            raise ValidationError(_("Give the organisation's or tenant's id (letters, digits, -)."))
        return f"{claims.AZURE_DEVOPS}{detail}" if kind == "azure_devops" else (
            f"{claims.ENTRA}{detail}/v2.0")  # fmt: skip
    if kind == "gitlab" and not detail:
        return claims.GITLAB
    parts = urlsplit(detail)
    plain_http = parts.scheme == "http" and settings.PIPELINES_ALLOW_HTTP_ISSUERS
    if not (parts.scheme == "https" or plain_http) or not parts.hostname or parts.query:
        raise ValidationError(_("Give the issuer's https:// URL."))
    return detail.rstrip("/")


def _pins(kind: str, rules: dict) -> bool:
    return any(
        name in rules and not str(rules[name]).startswith(("*", "?")) for name in PINNING[kind]
    )
