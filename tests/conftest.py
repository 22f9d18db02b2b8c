"""Shared fixtures: a small organisation built from plain model calls."""

from decimal import Decimal

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import translation

from tenants.models import Department, Membership, User


def make_user(name: str, *, infra: bool = False, **extra) -> User:
    email = f"{name}@example.com"
    return User.objects.create(
        username=email,
        email=email,
        display_name=name.title(),
        entra_oid=f"oid-{name}",
        is_infra=infra,
        is_staff=infra,
        **extra,
    )


def make_department(slug: str, **extra) -> Department:
    defaults = {
        "name": slug.title(),
        "cost_centre": f"CC-{slug}",
        "member_group_id": f"grp-{slug}-members",
        "lead_group_id": f"grp-{slug}-leads",
        "monthly_budget": Decimal("1000"),
        "allowed_models": ["gpt-4o-mini", "claude-3-5-sonnet"],
    }
    defaults.update(extra)
    return Department.objects.create(slug=slug, **defaults)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Cached navigation counts and sessions never leak from one test into the next."""
    cache.clear()


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a Japanese request through the test client
    leaves Japanese active in the thread (LocaleMiddleware), and messages built outside a
    request would follow it into the next test."""
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def org(db):
    """Two departments, each with a lead and a developer, and an infra admin."""
    a = make_department("alpha")
    b = make_department("beta")
    people = {
        "lead_a": make_user("lead_a"),
        "dev_a": make_user("dev_a"),
        "lead_b": make_user("lead_b"),
        "dev_b": make_user("dev_b"),
        "infra": make_user("infra", infra=True),
        "nobody": make_user("nobody"),
    }
    Membership.objects.create(user=people["lead_a"], department=a, role="lead")
    Membership.objects.create(user=people["dev_a"], department=a, role="member")
    Membership.objects.create(user=people["lead_b"], department=b, role="lead")
    Membership.objects.create(user=people["dev_b"], department=b, role="member")
    return {"a": a, "b": b, **people}


# Fixtures for the real LiteLLM proxy, Celery workers and the browser live in their own modules.
from .api_support import api, entra_api  # noqa: E402,F401
from .browser import browser  # noqa: E402,F401
from .integration import fault_proxy, langfuse, litellm, worker  # noqa: E402,F401
from .langfuse_server import langfuse_database, langfuse_server, langfuse_server_oss  # noqa: E402,F401
from .litellm_proxy import litellm_proxy  # noqa: E402,F401
from .pipelines_support import ado, github, pipeline_settings  # noqa: E402,F401
