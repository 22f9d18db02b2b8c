"""Conflicting operations released together by a barrier, on the real PostgreSQL (and the real
LiteLLM proxy where keys are involved). Each thread holds its own copy of the row, loaded
before the barrier, as two browser tabs or a tab and a worker would.

Invariants: at most one decision per request; a cancelled or rejected request never
provisions; revoked or expired means no live key in LiteLLM; at most one live key per request.
"""

from __future__ import annotations

import functools
import threading
from decimal import Decimal

import httpx
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction

from approvals import workflow
from approvals.lifecycle import Status
from keys import leavers, reconcile, services
from keys.models import VirtualKey
from portal.models import AuditEvent
from tenants.models import Membership, User
from tenants.signals import member_left

from .conftest import make_user
from .factories import make_budget_request, make_project
from .integration import chat, keys_with_alias

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 5
REFUSALS = (ValidationError, PermissionDenied)


def race(*actions):
    """Run ``actions`` in threads released at the same instant; return (ok, error) per action."""
    barrier = threading.Barrier(len(actions))
    results: list = [None] * len(actions)

    def run(index, action):
        try:
            barrier.wait(timeout=30)
            results[index] = (action(), None)
        except Exception as exc:  # recorded and checked by the test
            results[index] = (None, exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for _, exc in results:
        if exc is not None and not isinstance(exc, REFUSALS):
            raise exc
    return results


def new_key(org, status=Status.SUBMITTED, **extra) -> VirtualKey:
    fields = {
        "requester": org["dev_a"],
        "department": org["a"],
        "name": "race",
        "llm_models": ["gpt-4o-mini"],
        "max_budget": Decimal("5"),
        "rpm_limit": 50,
        "tpm_limit": 100000,
        "lifetime_days": 30,
        "justification": "x",
        "status": status,
        **extra,
    }
    return VirtualKey.objects.create(**fields)


def decisions(obj) -> list[str]:
    return list(
        AuditEvent.objects.filter(
            object_type=f"{obj._meta.app_label}.{obj._meta.model_name}", object_id=str(obj.pk)
        )
        .exclude(action__endswith=".submitted")
        .values_list("action", flat=True)
    )


def copies(obj, n=2):
    return [type(obj).objects.get(pk=obj.pk) for _ in range(n)]


def race_copies(obj, *actions):
    """``race`` with each action given its own copy of ``obj``, loaded before the barrier (as
    two browser tabs hold theirs); then ``obj`` is read again, as the race left it."""
    mine = copies(obj, len(actions))
    results = race(*(functools.partial(a, c) for a, c in zip(actions, mine, strict=True)))
    obj.refresh_from_db()
    return results


def race_to_approve(obj, *approvers):
    """Each of ``approvers`` approves their own copy of ``obj``, all at the same instant."""
    return race_copies(obj, *(functools.partial(workflow.approve, actor=a) for a in approvers))


# --- decisions: virtual keys, tuning projects, budget requests ----------------------------------
@pytest.mark.parametrize(
    ("refuse", "refused"),
    [
        (lambda key, org: workflow.cancel(key, actor=org["dev_a"]), Status.CANCELLED),
        (lambda key, org: workflow.reject(key, actor=org["infra"], comment="no"), Status.REJECTED),
    ],
    ids=["cancel", "reject"],
)
def test_approve_races_a_refusal(org, refuse, refused):
    for _ in range(ROUNDS):
        key = new_key(org)
        race_copies(
            key,
            lambda k: workflow.approve(k, actor=org["lead_a"]),
            lambda k: refuse(k, org),
        )
        assert key.status in (Status.APPROVED, refused)
        assert len(decisions(key)) == 1, decisions(key)
        if key.status == refused:
            assert not key.start_provisioning()  # a refused request never provisions


def test_two_approvers_at_once_make_one_decision(org):
    for _ in range(ROUNDS):
        key = new_key(org)
        results = race_to_approve(key, org["lead_a"], org["infra"])
        assert decisions(key) == ["virtualkey.approved"]
        assert sum(exc is None for _, exc in results) == 1


def test_project_and_budget_decisions_are_serialised(org):
    for _ in range(ROUNDS):
        project = make_project(org, name="race", purpose="x", justification="x")
        race_copies(
            project,
            lambda p: workflow.approve(p, actor=org["lead_a"]),
            lambda p: workflow.cancel(p, actor=org["dev_a"]),
        )
        assert len(decisions(project)) == 1, decisions(project)

        budget = make_budget_request(org, justification="x", lifetime_days=0)
        second_infra = make_user(f"infra-{budget.pk}", infra=True)
        race_copies(
            budget,
            lambda r: workflow.approve(r, actor=org["infra"]),
            lambda r, who=second_infra: workflow.reject(r, actor=who, comment="no"),
        )
        assert len(decisions(budget)) == 1, decisions(budget)


def test_a_leaver_request_is_not_approved(org):
    """Offboarding racing an approval: either the approval wins and offboarding cancels the
    approved request, or offboarding wins and the approval is refused; never active."""
    for i in range(ROUNDS):
        dev = make_user(f"leaver{i}")
        Membership.objects.create(user=dev, department=org["a"], role="member")
        key = new_key(org, requester=dev)
        lead_copy = VirtualKey.objects.get(pk=key.pk)

        def offboard(dev=dev):
            with transaction.atomic():  # as the directory sync runs it
                Membership.objects.filter(user=dev).delete()
                member_left.send(sender=User, user=dev, reason="removed from every group")

        race(lambda k=lead_copy: workflow.approve(k, actor=org["lead_a"]), offboard)
        key.refresh_from_db()
        assert key.status == Status.CANCELLED, key.status
        assert not key.start_provisioning()


# --- keys in the real LiteLLM proxy -------------------------------------------------------------
def live_tokens(litellm, key: VirtualKey) -> list[str]:
    """Tokens of unblocked keys LiteLLM holds for this request (its alias or a rotation's)."""
    return [
        k["token"]
        for alias in (key.alias, f"{key.alias}-rotating")
        for k in keys_with_alias(litellm, alias)
        if not k.get("blocked")
    ]


def active_key(org) -> VirtualKey:
    key = new_key(org, status=Status.APPROVED)
    services.provision(key.pk)
    key.refresh_from_db()
    assert key.status == Status.ACTIVE
    return key


def assert_converged(litellm, key: VirtualKey) -> None:
    key.refresh_from_db()
    live = live_tokens(litellm, key)
    if key.status in (Status.ACTIVE, Status.SUSPENDED):
        assert live == [key.litellm_key_id], (key.status, live, key.litellm_key_id)
    else:
        assert live == [], (key.status, live)


@pytest.mark.litellm
def test_rotate_races_revoke(org, litellm):
    for _ in range(ROUNDS):
        key = active_key(org)
        race_copies(
            key,
            lambda k: services.rotate(k, actor=org["dev_a"]),
            lambda k: services.revoke(k, actor=org["lead_a"]),
        )
        assert key.status == Status.REVOKED
        assert_converged(litellm, key)


@pytest.mark.litellm
def test_rotate_races_expire(org, litellm):
    from django.utils import timezone

    for _ in range(ROUNDS):
        key = active_key(org)
        VirtualKey.objects.filter(pk=key.pk).update(expires_at=timezone.now())
        owner_tab = VirtualKey.objects.get(pk=key.pk)
        race(
            lambda k=owner_tab: services.rotate(k, actor=org["dev_a"]),
            lambda pk=key.pk: services.expire(pk),
        )
        key.refresh_from_db()
        assert key.status == Status.EXPIRED
        assert_converged(litellm, key)


@pytest.mark.litellm
def test_provision_races_revoke(org, litellm):
    """The owner stops an approved key while a worker provisions it: it ends revoked, and
    nothing the worker made is left live in LiteLLM."""
    for _ in range(ROUNDS):
        key = new_key(org, status=Status.APPROVED)
        tab = VirtualKey.objects.get(pk=key.pk)
        race(
            lambda pk=key.pk: services.provision(pk),
            lambda k=tab: services.revoke(k, actor=org["dev_a"]),
        )
        key.refresh_from_db()
        assert key.status == Status.REVOKED, key.status
        assert_converged(litellm, key)


@pytest.mark.litellm
def test_two_provisioning_runs_make_one_key(org, litellm):
    for _ in range(ROUNDS):
        key = new_key(org, status=Status.APPROVED)
        race(lambda pk=key.pk: services.provision(pk), lambda pk=key.pk: services.provision(pk))
        key.refresh_from_db()
        assert key.status == Status.ACTIVE
        assert_converged(litellm, key)


@pytest.mark.litellm
def test_suspend_races_unblock(org, litellm):
    """The sync blocks a leaver's key while a lead unblocks it (the owner is back): whatever
    the order, LiteLLM's block matches the portal's status."""
    from django.utils import timezone

    for _ in range(ROUNDS):
        key = active_key(org)
        VirtualKey.objects.filter(pk=key.pk).update(
            status=Status.SUSPENDED, suspended_at=timezone.now(), blocked_at=None
        )
        tab = VirtualKey.objects.get(pk=key.pk)
        race(
            lambda pk=key.pk: leavers.block(pk),
            lambda k=tab: leavers.unblock(k, actor=org["lead_a"]),
        )
        key.refresh_from_db()
        info = httpx.get(
            f"{litellm.base_url}/key/info",
            params={"key": key.litellm_key_id},
            headers={"Authorization": f"Bearer {litellm.master_key}"},
            timeout=30,
        ).json()["info"]
        if key.status == Status.ACTIVE:
            assert not info.get("blocked")
        else:
            assert key.status == Status.SUSPENDED and key.blocked_at and info.get("blocked")


@pytest.mark.litellm
def test_revoked_key_is_refused(org, litellm):
    """End to end: after a rotate×revoke race, neither secret works against the proxy."""
    from portal import crypto

    key = active_key(org)
    first = crypto.decrypt(key.secret_encrypted)
    race_copies(
        key,
        lambda k: services.rotate(k, actor=org["dev_a"]),
        lambda k: services.revoke(k, actor=org["lead_a"]),
    )
    assert chat(litellm.base_url, first).status_code in (400, 401, 403)
    assert_converged(litellm, key)


@pytest.mark.litellm
def test_reconcile_blocks_unknown_keys_but_never_one_being_provisioned(org, litellm, settings):
    """With RECONCILE_BLOCK_UNKNOWN_KEYS, a key made in a managed team out of band is blocked;
    a key a worker is generating at that moment is not (reconcile looks again under its lock)."""
    settings.RECONCILE_BLOCK_UNKNOWN_KEYS = True
    active_key(org)  # the team exists now
    stray = httpx.post(
        f"{litellm.base_url}/key/generate",
        json={"team_id": "portal-alpha", "key_alias": "made-by-hand", "models": ["gpt-4o-mini"]},
        headers={"Authorization": f"Bearer {litellm.master_key}"},
        timeout=30,
    ).json()
    runs = []
    for _ in range(ROUNDS):
        key = new_key(org, status=Status.APPROVED)
        results = race(lambda pk=key.pk: services.provision(pk), reconcile.reconcile)
        runs.append(results[1][0])
        assert not runs[-1].error, runs[-1].error
        assert_converged(litellm, key)  # active, one key, not blocked
        assert key.status == Status.ACTIVE
        assert not [f for f in runs[-1].findings if f["alias"] == key.alias]
    assert chat(litellm.base_url, stray["key"]).status_code in (400, 401, 403)
    [finding] = [f for f in runs[0].findings if f["alias"] == "made-by-hand"]
    assert finding["kind"] == "unknown" and finding["action"] == "blocked"


@pytest.mark.litellm
def test_rotation_keeps_a_tuning_projects_routing(org, litellm):
    """Rotating a routed key must not silently stop its traces going to the project."""
    key = active_key(org)
    routing = [{"callback_name": "langfuse", "callback_type": "success", "callback_vars": {}}]
    headers = {"Authorization": f"Bearer {litellm.master_key}"}
    httpx.post(
        f"{litellm.base_url}/key/update",
        json={"key": key.litellm_key_id, "metadata": {"logging": routing}},
        headers=headers,
        timeout=30,
    ).raise_for_status()
    services.rotate(key, actor=org["dev_a"])
    key.refresh_from_db()
    info = httpx.get(
        f"{litellm.base_url}/key/info",
        params={"key": key.litellm_key_id},
        headers=headers,
        timeout=30,
    ).json()["info"]
    assert [c["callback_name"] for c in info["metadata"]["logging"]] == ["langfuse"]
    assert info["metadata"]["portal_request_id"] == key.pk
