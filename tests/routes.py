"""Every route of the URL configuration, with real objects behind its parameters.

Shared by the authorization matrix (tests/test_authz_matrix.py) and the bad-input test
(tests/test_bad_input.py): both iterate :func:`portal_routes`, so a new route is covered, or
the tests fail until it is.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from approvals.lifecycle import Status
from approvals.models import Delegation, ReviewCampaign, ReviewItem
from costs.models import BudgetRequest
from keys.models import KeyExtension, VirtualKey
from modelaccess.models import ModelAccessRequest
from projects.models import TuningProject
from tenants.models import Department, Membership, SyncRun

from .conftest import make_department, make_user
from .pipelines_support import new_identity

# Routes left out of the generated tests, by prefix, and why.
EXCLUDED_PREFIXES = {
    "admin/": "Django admin: staff-only by Django's own AdminSite (login page for everyone "
    "else); infra's admin permissions are tested in the admin tests",
    "accounts/": "allauth's sign-in flow (anonymous by design, no portal data); the Entra "
    "sign-in is tested end to end in tests/test_signin.py",
    "api/": "the REST API authenticates Entra bearer tokens, not sessions; every operation × "
    "role × service principal is in tests/test_api_authz.py",
}

ROLES = ("anon", "dev", "other_dev", "lead", "other_lead", "manager", "infra")


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str  # e.g. "keys/<int:pk>/reveal/"
    converters: tuple[tuple[str, str], ...]  # (parameter, converter) in order

    def url(self, values: dict[str, object]) -> str:
        path = self.pattern
        for param, _converter in self.converters:
            path = re.sub(rf"<(\w+:)?{param}>", str(values[param]), path, count=1)
        return "/" + path


def _walk(patterns, prefix: str = ""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


def portal_routes() -> list[Route]:
    """Every route of the URL configuration outside :data:`EXCLUDED_PREFIXES`."""
    routes: dict[str, Route] = {}
    for pattern, p in _walk(get_resolver().url_patterns):
        if pattern.startswith(tuple(EXCLUDED_PREFIXES)):
            continue
        if pattern.startswith("^") or "(?P" in pattern:
            raise AssertionError(f"regex route {pattern!r}: give it a path() and a name")
        assert p.name, f"route {pattern!r} has no name"
        converters = tuple(
            (m.group(2), m.group(1) or "str") for m in re.finditer(r"<(?:(\w+):)?(\w+)>", pattern)
        )
        routes.setdefault(p.name, Route(p.name, pattern, converters))
    return list(routes.values())


def live_with_secret(model, secret: str, days: int, **fields):
    """An active request of ``model``, for ``days`` from now, whose one-time secret waits."""
    now = timezone.now()
    obj = model(
        status=Status.ACTIVE,
        activated_at=now,
        expires_at=now + datetime.timedelta(days=days),
        **fields,
    )
    obj.store_secret(secret)
    obj.save()
    return obj


def build_world() -> dict:
    """Two departments, every role, and one object for each kind of route parameter.

    * ``dev`` (alpha) owns an active key with a secret waiting, a pending key whose approver
      is ``manager`` (the department's approver rule names the requester's manager), a
      suspended key, a failed key, an active tuning project, and a pending one (leads decide).
    * ``other_dev`` is a developer of the same department; ``lead`` leads alpha;
      ``other_lead`` leads beta; ``manager`` is a developer of beta and dev's Entra manager;
      ``infra`` is the platform team.
      A third project waits for infra to fulfil it by hand.
    * ``lead`` asked for a new monthly budget for alpha (infra decides).
    * ``dev`` requested a pipeline identity (pending, leads decide) and owns an active one.
    * ``dev`` asked for gpt-4o for alpha (a model access request; infra decides).
    """
    alpha = make_department("alpha")
    beta = make_department("beta")
    people = {
        "dev": make_user("dev"),
        "other_dev": make_user("other_dev"),
        "lead": make_user("lead"),
        "other_lead": make_user("other_lead"),
        "manager": make_user("manager"),
        "infra": make_user("infra", infra=True),
    }
    for role, dept, kind in [
        ("dev", alpha, "member"),
        ("other_dev", alpha, "member"),
        ("lead", alpha, "lead"),
        ("other_lead", beta, "lead"),
        ("manager", beta, "member"),
    ]:
        Membership.objects.create(user=people[role], department=dept, role=kind)
    now = timezone.now()
    key_fields = {
        "requester": people["dev"],
        "department": alpha,
        "justification": "For the matrix.",
        "lifetime_days": 30,
        "max_budget": Decimal("10"),
        "rpm_limit": 10,
        "tpm_limit": 1000,
        "llm_models": ["gpt-4o-mini"],
    }
    active = live_with_secret(
        VirtualKey,
        "sk-matrix-secret-0001",
        30,
        name="active",
        litellm_key_id="tok-active",
        **key_fields,
    )
    pending = VirtualKey.objects.create(
        name="pending", status=Status.SUBMITTED, approver=people["manager"], **key_fields
    )
    suspended = VirtualKey.objects.create(
        name="suspended", status=Status.SUSPENDED, litellm_key_id="tok-susp", **key_fields
    )
    failed = VirtualKey.objects.create(
        name="failed", status=Status.FAILED, last_error="LiteLLM said no", **key_fields
    )
    project_fields = {
        "requester": people["dev"],
        "department": alpha,
        "justification": "Tuning.",
        "lifetime_days": 14,
        "purpose": "Evaluate the agent.",
    }
    project = live_with_secret(
        TuningProject,
        "sk-lf-matrix-0001",
        14,
        name="tuning-live",
        langfuse_project_id="lf-1",
        public_key="pk-lf-1",
        **project_fields,
    )
    pending_project = TuningProject.objects.create(
        name="tuning-wait", status=Status.SUBMITTED, **project_fields
    )
    manual_project = TuningProject.objects.create(
        name="tuning-by-hand",
        status=Status.MANUAL,
        fulfilment=TuningProject.Fulfilment.MANUAL,
        **project_fields,
    )
    budget = BudgetRequest.objects.create(
        requester=people["lead"],
        department=alpha,
        justification="More work.",
        lifetime_days=0,
        monthly_budget=Decimal("2000"),
        previous_budget=alpha.monthly_budget,
    )
    model_access = ModelAccessRequest.objects.create(
        requester=people["dev"],
        department=alpha,
        justification="Longer context.",
        lifetime_days=0,
        model_name="gpt-4o",
        expected_monthly_spend=Decimal("40"),
    )
    ci = {"justification": "CI evaluation.", "lifetime_days": 365}
    pipeline = new_identity(people["dev"], alpha, "payments-ci", "octo-org/octo-repo", **ci)
    pipeline_live = new_identity(
        people["dev"],
        alpha,
        "search-ci",
        "octo-org/search",
        **ci,
        status=Status.ACTIVE,
        activated_at=now,
        expires_at=now + datetime.timedelta(days=365),
    )
    # dev asked for more days on the suspended key before it was suspended: the leads decide.
    extension = KeyExtension.objects.create(
        key=suspended,
        requester=people["dev"],
        department=alpha,
        justification="More time.",
        lifetime_days=7,
        new_expires_at=now + datetime.timedelta(days=37),
    )
    run = SyncRun.objects.create(triggered_by=people["infra"], status=SyncRun.Status.OK)
    # The lead will be away in ten days (not yet active, so no one decides for them today);
    # an open access review of alpha covers dev's active key.
    today = timezone.localdate()
    delegation = Delegation.objects.create(
        delegator=people["lead"],
        delegate=people["other_dev"],
        starts_on=today + datetime.timedelta(days=10),
        ends_on=today + datetime.timedelta(days=15),
    )
    campaign = ReviewCampaign.objects.create(
        name="Matrix review", deadline=now + datetime.timedelta(days=7), started_by=people["infra"]
    )
    campaign.departments.set([alpha])
    review_item = ReviewItem.objects.create(
        campaign=campaign,
        content_type=ContentType.objects.get_for_model(VirtualKey),
        object_id=active.pk,
        label="virtual key: active",
        department=alpha,
        owner=people["dev"],
    )
    Department.objects.filter(pk=alpha.pk).update(approver_rule=Department.ApproverRule.MANAGER)
    return {
        "alpha": alpha,
        "beta": beta,
        **people,
        "active": active,
        "pending": pending,
        "suspended": suspended,
        "failed": failed,
        "project": project,
        "pending_project": pending_project,
        "manual_project": manual_project,
        "budget": budget,
        "model_access": model_access,
        "extension": extension,
        "pipeline": pipeline,
        "pipeline_live": pipeline_live,
        "run": run,
        "delegation": delegation,
        "campaign": campaign,
        "review_item": review_item,
    }


def route_args(route: Route, world: dict) -> dict[str, object]:
    """Values that make ``route``'s parameters point at the world's objects."""
    pk_for = {
        "key_detail": world["active"],
        "reveal_key": world["active"],
        "rotate_key": world["active"],
        "revoke_key": world["active"],
        "cancel_request": world["pending"],
        "unblock_key": world["suspended"],
        "decide_key": world["pending"],
        "decide_project": world["pending_project"],
        "decide_budget": world["budget"],
        "model_access_detail": world["model_access"],
        "model_access_cancel": world["model_access"],
        "decide_model_access": world["model_access"],
        "extend_key": world["active"],
        "decide_extension": world["extension"],
        "pipeline_identity": world["pipeline"],
        "decide_pipeline_identity": world["pipeline"],
        "disable_pipeline_identity": world["pipeline_live"],
        "retry_request": world["failed"],
        "project_detail": world["project"],
        "reveal_project": world["project"],
        "end_project": world["project"],
        "fulfil_project": world["project"],
        "confirm_teardown": world["project"],
        "directory_run": world["run"],
        "end_delegation": world["delegation"],
        "review_campaign": world["campaign"],
        "review_csv": world["campaign"],
        "review_item": world["review_item"],
        "review_keep_remaining": world["campaign"],
    }
    values: dict[str, object] = {}
    for param, _converter in route.converters:
        if param == "pk":
            values[param] = pk_for[route.name].pk
        elif param == "slug":
            values[param] = world["alpha"].slug
        elif param == "table":
            values[param] = {"costs_mine_csv": "keys", "costs_org_csv": "departments"}.get(
                route.name, "members"
            )
        elif param == "kind":
            values[param] = "key"
        elif param == "fmt":
            values[param] = "csv"
        else:
            raise AssertionError(f"route {route.name}: no value for parameter {param!r}")
    return values
