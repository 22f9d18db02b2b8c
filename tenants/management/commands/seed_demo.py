"""Seed a realistic demo organisation. Safe to run twice: it updates what exists."""

import datetime
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from tenants.demo import DEMO_EMAIL_DOMAIN
from tenants.models import Department, Membership, User

MODELS = ["gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet", "gemini-1.5-flash"]

DEPARTMENTS = [
    # slug, name, cost centre, budget, models, auto-approve budget/days
    ("research", "研究開発部 Research & Development", "CC-1100", "400", MODELS, ("20", 30)),
    ("sales", "営業部 Sales", "CC-2100", "120", ["gpt-4o-mini", "gemini-1.5-flash"], ("10", 14)),
    ("finance", "経理部 Finance", "CC-3100", "60", ["gpt-4o-mini"], ("0", 0)),
    (
        "customer-support",
        "カスタマーサポート Customer Support",
        "CC-4100",
        "200",
        MODELS[:3],
        ("15", 30),
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
    # owner, department, key name, models, budget (USD per 30 days)
    ("tanaka.kenji", "research", "paper-summariser", ["gpt-4o-mini", "claude-3-5-sonnet"], "150"),
    ("emily.chen", "research", "code-review-agent", ["gpt-4o", "claude-3-5-sonnet"], "200"),
    ("kobayashi.aoi", "research", "eval-harness", ["gemini-1.5-flash"], "40"),
    ("david.miller", "sales", "proposal-drafts", ["gpt-4o-mini"], "30"),
    ("ito.mei", "finance", "invoice-extractor", ["gpt-4o-mini"], "25"),
    ("priya.nair", "customer-support", "support-bot", ["gpt-4o-mini", "gpt-4o"], "120"),
]


class Command(BaseCommand):
    help = "Create or refresh the demo organisation (departments, leads, developers, infra)."

    @transaction.atomic
    def handle(self, *args, **options):
        departments = {}
        for slug, name, cc, budget, models, (auto_budget, auto_days) in DEPARTMENTS:
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
        spend_rows = self._keys_and_spend(departments)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo organisation ready: {len(departments)} departments, "
                f"{spend_rows} days×keys×models of spend."
            )
        )

    def _keys_and_spend(self, departments) -> int:
        """Existing keys (they live only in the portal: there is no LiteLLM in the demo) and
        three months of spend on them, so the cost pages have something to show."""
        from costs.demo import fake_token, seed_spend
        from keys.lifecycle import Status
        from keys.models import VirtualKey

        keys = []
        now = timezone.now()
        for local, slug, name, models, budget in DEMO_KEYS:
            user = User.objects.get(username=f"{local}@{DEMO_EMAIL_DOMAIN}")
            dept = departments[slug]
            if not dept.litellm_team_id:
                dept.litellm_team_id = f"portal-{slug}"
                dept.save(update_fields=["litellm_team_id"])
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
                    "lifetime_days": 180,
                    "justification": "Demo key.",
                    "activated_at": now - datetime.timedelta(days=100),
                    "expires_at": now + datetime.timedelta(days=80),
                    "litellm_key_id": fake_token(f"{local}/{name}"),
                    "secret_last4": fake_token(name)[-4:],
                    "secret_revealed_at": now - datetime.timedelta(days=100),
                },
            )
            keys.append(key)
        return seed_spend(
            VirtualKey.objects.filter(pk__in=[k.pk for k in keys]).select_related(
                "department", "requester"
            )
        )

    def _user(self, local: str, display: str) -> User:
        email = f"{local}@{DEMO_EMAIL_DOMAIN}"
        user, _ = User.objects.update_or_create(
            username=email,
            defaults={"email": email, "display_name": display, "entra_oid": f"demo-{local}"},
        )
        return user
