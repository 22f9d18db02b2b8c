"""Seed a realistic demo organisation. Safe to run twice: it updates what exists.

It lives in the top app because it seeds all of them: departments and people (tenants),
keys (keys) and their spend (costs)."""

import datetime
import os
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from tenants.demo import DEMO_EMAIL_DOMAIN
from tenants.models import Department, Membership, User

MODELS = ["gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet", "gemini-1.5-flash"]

DEPARTMENTS = [
    # slug, name, cost centre, budget, models, auto-approve budget/days, max key lifetime
    ("research", "研究開発部 Research & Development", "CC-1100", "400", MODELS, ("20", 30), 180),
    (
        "sales",
        "営業部 Sales",
        "CC-2100",
        "120",
        ["gpt-4o-mini", "gemini-1.5-flash"],
        ("10", 14),
        90,
    ),
    ("finance", "経理部 Finance", "CC-3100", "60", ["gpt-4o-mini"], ("0", 0), 90),
    (
        "customer-support",
        "カスタマーサポート Customer Support",
        "CC-4100",
        "200",
        MODELS[:3],
        ("15", 30),
        180,
    ),
]

PEOPLE = [
    # local part, display name, department slug, role
    ("sato.haruka", "佐藤 遥 Haruka Sato", "research", "lead"),
    ("tanaka.kenji", "田中 健二 Kenji Tanaka", "research", "member"),
    ("emily.chen", "Emily Chen", "research", "member"),
    ("suzuki.yui", "鈴木 結衣 Yui Suzuki", "sales", "lead"),
    ("david.miller", "David Miller", "sales", "member"),
    ("takahashi.ren", "高橋 蓮 Ren Takahashi", "finance", "lead"),
    ("ito.mei", "伊藤 芽衣 Mei Ito", "finance", "member"),
    ("watanabe.sho", "渡辺 翔 Sho Watanabe", "customer-support", "lead"),
    ("priya.nair", "Priya Nair", "customer-support", "member"),
]


DEMO_KEYS = [
    # owner, department, key name, models, budget (USD per 30 days), days active so far
    (
        "tanaka.kenji",
        "research",
        "paper-summariser",
        ["gpt-4o-mini", "claude-3-5-sonnet"],
        "150",
        100,
    ),
    ("emily.chen", "research", "code-review-agent", ["gpt-4o", "claude-3-5-sonnet"], "200", 100),
    ("kobayashi.aoi", "research", "eval-harness", ["gemini-1.5-flash"], "40", 75),
    ("david.miller", "sales", "proposal-drafts", ["gpt-4o-mini"], "30", 60),
    ("ito.mei", "finance", "invoice-extractor", ["gpt-4o-mini"], "25", 45),
    ("priya.nair", "customer-support", "support-bot", ["gpt-4o-mini", "gpt-4o"], "120", 100),
]


class Command(BaseCommand):
    help = "Create or refresh the demo organisation (departments, leads, developers, infra)."

    def handle(self, *args, **options):
        with transaction.atomic():
            departments = self._organisation()
            keys = self._keys(departments)
            spend_rows = self._spend(keys)
            self._model_access(departments)
        made = self._in_litellm(keys)
        self._pipeline(departments)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo organisation ready: {len(departments)} departments, {len(keys)} keys"
                f" ({made}), {spend_rows}."
            )
        )

    def _organisation(self) -> dict:
        departments = {}
        for slug, name, cc, budget, models, (auto_budget, auto_days), lifetime in DEPARTMENTS:
            departments[slug], _ = Department.objects.update_or_create(
                slug=slug,
                defaults={
                    "name": name,
                    "cost_centre": cc,
                    "monthly_budget": Decimal(budget),
                    "member_group_id": f"grp-{slug}-members",
                    "lead_group_id": f"grp-{slug}-leads",
                    "allowed_models": models,
                    "max_key_budget": Decimal("200"),
                    "auto_approve_max_budget": Decimal(auto_budget),
                    "auto_approve_max_lifetime_days": auto_days,
                    "max_key_lifetime_days": lifetime,
                },
            )
        for local, display, slug, role in PEOPLE:
            user = self._user(local, display)
            Membership.objects.update_or_create(
                user=user,
                department=departments[slug],
                defaults={"role": role, "source": Membership.Source.MANUAL},
            )
        # A developer in two departments, and the platform team.
        multi = self._user("kobayashi.aoi", "小林 葵 Aoi Kobayashi")
        for slug in ("research", "customer-support"):
            Membership.objects.update_or_create(
                user=multi, department=departments[slug], defaults={"source": "manual"}
            )
        infra = self._user("yamamoto.taro", "山本 太郎 Taro Yamamoto (Infra)")
        infra.is_infra = infra.is_staff = True
        infra.save(update_fields=["is_infra", "is_staff"])
        self._user("new.joiner", "New Joiner (no department yet)")
        return departments

    def _keys(self, departments) -> list:
        """Keys in use for a while, with a history that adds up: requested, approved by the
        department's lead, active, revealed by their owner, within the department's policy."""
        from approvals.lifecycle import Status
        from costs.demo import fake_token
        from keys.models import VirtualKey

        keys = []
        now = timezone.now()
        leads = {
            m.department_id: m.user
            for m in Membership.objects.filter(role="lead").select_related("user")
        }
        for local, slug, name, models, budget, age in DEMO_KEYS:
            user = User.objects.get(username=f"{local}@{DEMO_EMAIL_DOMAIN}")
            dept = departments[slug]
            if not dept.litellm_team_id:
                dept.litellm_team_id = f"portal-{slug}"
                dept.save(update_fields=["litellm_team_id"])
            activated = now - datetime.timedelta(days=age)
            lifetime = dept.max_key_lifetime_days
            key, _ = VirtualKey.objects.update_or_create(
                requester=user,
                name=name,
                defaults={
                    "department": dept,
                    "status": Status.ACTIVE,
                    "llm_models": models,
                    "max_budget": Decimal(budget),
                    "budget_duration": "30d",
                    "rpm_limit": 60,
                    "tpm_limit": 100_000,
                    "lifetime_days": lifetime,
                    "justification": "Demo key.",
                    "decided_by": leads.get(dept.pk),
                    "decided_at": activated - datetime.timedelta(hours=20),
                    "activated_at": activated,
                    "expires_at": activated + datetime.timedelta(days=lifetime),
                    "secret_encrypted": "",
                    "secret_revealed_at": activated + datetime.timedelta(hours=2),
                },
            )
            VirtualKey.objects.filter(pk=key.pk).update(
                created_at=activated - datetime.timedelta(days=1)
            )
            if not key.litellm_key_id:  # a stand-in until the key is made in LiteLLM
                key.litellm_key_id = fake_token(f"{local}/{name}")
                key.secret_last4 = key.litellm_key_id[-4:]
                key.save(update_fields=["litellm_key_id", "secret_last4"])
            keys.append(key)
        return keys

    def _spend(self, keys) -> str:
        """History from each key's first day to today: made on the first run only, so the
        spend of calls made in earlier demo runs (ingested from LiteLLM) stays."""
        from costs.demo import seed_spend
        from costs.models import DailySpend
        from keys.models import VirtualKey

        if DailySpend.objects.filter(key__in=keys).exists():
            return "spend history kept"
        rows = seed_spend(
            VirtualKey.objects.filter(pk__in=[k.pk for k in keys]).select_related(
                "department", "requester"
            )
        )
        return f"{rows} days×keys×models of spend history"

    def _in_litellm(self, keys) -> str:
        if not settings.LITELLM_BASE_URL:
            return "portal only: no LiteLLM"
        from costs.models import DailySpend, MonthlyKeySpend
        from keys.demo import make_in_litellm
        from portal.integrations.errors import IntegrationError

        try:
            replaced = make_in_litellm(keys)
        except IntegrationError as exc:
            self.stderr.write(f"The demo keys could not be made in LiteLLM: {exc}")
            return "not in LiteLLM: it failed"
        for old, new in replaced.items():  # their history follows them
            DailySpend.objects.filter(key_hash=old).update(key_hash=new)
            MonthlyKeySpend.objects.filter(key_hash=old).update(key_hash=new)
        from catalogue.services import refresh

        try:  # the hourly refresh's first run, so the demo shows prices at once
            refresh()
        except IntegrationError as exc:
            self.stderr.write(f"The model catalogue could not be read from LiteLLM: {exc}")
        return f"in LiteLLM, {len(replaced)} made now"

    def _model_access(self, departments) -> None:
        """Sales asks for gpt-4o: a model access request waiting for infra."""
        from modelaccess.demo import seed_request

        seller = User.objects.get(username=f"david.miller@{DEMO_EMAIL_DOMAIN}")
        seed_request(departments["sales"], seller, "gpt-4o")

    def _pipeline(self, departments) -> None:
        """The demo pipeline identity, when `make demo` runs its CI issuer."""
        issuer = os.environ.get("DEMO_CI_ISSUER_URL", "")
        if not issuer:
            return
        from pipelines.demo import seed_identity
        from portal.integrations.errors import IntegrationError

        try:
            identity = seed_identity(
                departments["research"],
                User.objects.get(username=f"tanaka.kenji@{DEMO_EMAIL_DOMAIN}"),
                User.objects.get(username=f"sato.haruka@{DEMO_EMAIL_DOMAIN}"),
                issuer=issuer,
                audience=settings.SITE_URL,
            )
        except IntegrationError as exc:
            self.stderr.write(f"The demo pipeline identity could not be provisioned: {exc}")
            return
        self.stdout.write(f"Pipeline identity {identity.name}: {identity.get_status_display()}.")

    def _user(self, local: str, display: str) -> User:
        email = f"{local}@{DEMO_EMAIL_DOMAIN}"
        user, _ = User.objects.update_or_create(
            username=email,
            defaults={"email": email, "display_name": display, "entra_oid": f"demo-{local}"},
        )
        return user
