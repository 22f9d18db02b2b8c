"""What the decision page shows of a pipeline identity: its asks against the department's
policy, and what it would trust (issuer, audience, claims)."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import PipelineIdentity
from .requests import PolicyCheck


def panel(obj, ctx: dict) -> dict:
    if not isinstance(obj, PipelineIdentity):
        return {}
    dept = obj.department
    checks = [
        PolicyCheck(_("Budget per run (USD)"), obj.run_budget, dept.max_key_budget),
        PolicyCheck(_("Daily budget (USD)"), obj.daily_budget, dept.max_key_budget),
        PolicyCheck(_("Key lifetime per run (seconds)"), obj.run_lifetime_seconds,
                    settings.PIPELINES_MAX_RUN_LIFETIME_SECONDS),
        PolicyCheck(_("Live keys at most"), obj.max_live_keys, settings.PIPELINES_MAX_LIVE_KEYS),
        PolicyCheck(_("Lifetime (days)"), obj.lifetime_days, dept.max_key_lifetime_days),
    ]  # fmt: skip
    rules = "\n".join(f"{name} = {value}" for name, value in (obj.claim_rules or {}).items())
    facts = [
        (_("Issuer"), f"{obj.get_issuer_kind_display()} · {obj.issuer}"),
        (_("Audience"), obj.audience),
        (_("Claims that must match"), rules),
    ]
    return {"checks": [*ctx["checks"], *checks], "facts": [*ctx.get("facts", []), *facts]}
