"""The soak's workload: people in two departments (mirrored in the Entra/Graph doubles) who
request keys; leads who approve (one by one and in bulk), reject; requesters who cancel,
rotate, revoke and call the proxy with their keys; the clock reaching keys' ends; leavers and
joiners through the directory sync. Each operation goes through the portal's own code path
(service functions, and the bulk view through Django's test client)."""

from __future__ import annotations

import collections
import random
import threading
import time
from decimal import Decimal

import httpx
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone

from approvals import workflow
from approvals.lifecycle import Status
from keys import services
from keys.models import VirtualKey
from portal.integrations.errors import IntegrationError
from portal.integrations.graph import GraphClient
from tenants import directory
from tenants.models import Department, Membership, User
from tests.doubles.entra import EntraDouble
from tests.doubles.graph import GraphDouble

MODELS = ["gpt-4o-mini", "claude-3-5-sonnet"]
DEVS_PER_DEPARTMENT = 6


class Org:
    """The departments, their people and the directory doubles that mirror them."""

    def __init__(self) -> None:
        self.entra = EntraDouble()
        self.graph = GraphDouble(self.entra)
        self.graph_client = GraphClient(
            self.entra.tenant_id, self.entra.client_id, self.entra.client_secret,
            authority_host=self.entra.https_base_url, graph_url=self.graph.base_url,
            instance_discovery=False, authority_ca_bundle=self.entra.ca_bundle,
            sleep=lambda seconds: None, max_retries=2,
        )  # fmt: skip
        self.departments: list[Department] = []
        self.leads: dict[int, User] = {}
        self.devs: list[User] = []
        self.groups: dict[str, list[str]] = {}  # oid -> the groups they are in when present
        for slug in ("alpha", "beta"):
            dept = Department.objects.create(
                slug=slug, name=slug.title(), cost_centre=f"CC-{slug}",
                member_group_id=f"grp-{slug}-members", lead_group_id=f"grp-{slug}-leads",
                monthly_budget=Decimal("10000"), allowed_models=MODELS,
            )  # fmt: skip
            self.departments.append(dept)
            self.leads[dept.pk] = self._person(f"lead-{slug}", dept, "lead", dept.lead_group_id)
            for i in range(DEVS_PER_DEPARTMENT):
                dev = self._person(f"dev-{slug}-{i}", dept, "member", dept.member_group_id)
                self.devs.append(dev)

    def _person(self, name: str, dept: Department, role: str, group: str) -> User:
        email = f"{name}@soak.example"
        user = User.objects.create(username=email, email=email, entra_oid=f"oid-{name}")
        Membership.objects.create(user=user, department=dept, role=role)
        self.entra.add_user(user.entra_oid, email, name, [group])
        self.groups[user.entra_oid] = [group]
        return user

    def close(self) -> None:
        self.graph_client.close()
        self.graph.close()
        self.entra.close()


class Load:
    """Runs operations until ``stop`` is set; counts each one by outcome."""

    def __init__(self, org: Org, rng: random.Random, litellm_url: str) -> None:
        self.org = org
        self.rng = rng
        self.litellm_url = litellm_url
        self.stop = threading.Event()
        self.counts: collections.Counter[str] = collections.Counter()
        self.errors: list[str] = []  # unexpected exceptions, with the operation
        self.secrets: dict[int, str] = {}  # key id -> secret, once revealed
        self.left: list[User] = []
        self.last_call = 0.0  # time.time() of the last call through the proxy
        self.bulk_client = Client()

    # --- the loop ---------------------------------------------------------------------------
    def run(self, rate: float) -> None:
        ops = [
            (self.request, 30), (self.approve, 14), (self.bulk_approve, 5), (self.reject, 4),
            (self.cancel, 4), (self.rotate, 6), (self.revoke, 5), (self.expire, 4),
            (self.reveal_and_call, 14), (self.leaver, 2), (self.joiner, 2),
        ]  # fmt: skip
        functions, weights = zip(*ops, strict=True)
        while not self.stop.wait(1 / rate):
            op = self.rng.choices(functions, weights)[0]
            name = op.__name__
            try:
                outcome = op()
            except (ValidationError, PermissionDenied):
                outcome = "refused"
            except IntegrationError:
                outcome = "LiteLLM failed"
            except Exception as exc:  # reported, with the operation, never swallowed silently
                outcome = "error"
                self.errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:300]}")
                close_old_connections()
            self.counts[f"{name}: {outcome}"] += 1

    def calls(self) -> None:
        """Calls through the LiteLLM proxy with the revealed keys, until ``stop``."""
        while not self.stop.wait(0.2):
            if not self.secrets:
                continue
            key_id = self.rng.choice(list(self.secrets))
            try:
                response = httpx.post(
                    f"{self.litellm_url}/v1/chat/completions",
                    headers={"Authorization": f"Bearer {self.secrets[key_id]}"},
                    json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
                    timeout=10,
                )
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            self.counts[f"call: {'200' if ok else 'refused or down'}"] += 1
            if ok:
                self.last_call = time.time()

    # --- picking ----------------------------------------------------------------------------
    def _pick(self, **filters) -> VirtualKey | None:
        ids = list(VirtualKey.objects.filter(**filters).values_list("pk", flat=True)[:200])
        if not ids:
            return None
        return VirtualKey.objects.select_related("requester", "department").get(
            pk=self.rng.choice(ids)
        )

    def _present(self) -> list[User]:
        return [u for u in self.org.devs if u not in self.left]

    # --- operations -------------------------------------------------------------------------
    def request(self) -> str:
        dev = self.rng.choice(self._present())
        dept = Membership.objects.get(user=dev).department
        key = VirtualKey(
            requester=dev, department=dept, name=f"soak-{self.rng.randrange(10**6)}",
            llm_models=self.rng.sample(MODELS, self.rng.choice([1, 2])),
            max_budget=Decimal(self.rng.choice(["5", "10", "25"])), rpm_limit=60,
            tpm_limit=100000, lifetime_days=self.rng.choice([7, 30]), justification="soak",
        )  # fmt: skip
        workflow.submit(key)
        return "submitted"

    def approve(self) -> str:
        key = self._pick(status=Status.SUBMITTED)
        if key is None:
            return "none waiting"
        return workflow.approve(key, actor=self.org.leads[key.department_id])

    def bulk_approve(self) -> str:
        dept = self.rng.choice(self.org.departments)
        waiting = VirtualKey.objects.filter(status=Status.SUBMITTED, department=dept)
        items = [f"keys.virtualkey:{pk}" for pk in waiting.values_list("pk", flat=True)[:5]]
        if not items:
            return "none waiting"
        self.bulk_client.force_login(self.org.leads[dept.pk])
        response = self.bulk_client.post(
            "/approvals/bulk/", {"items": items, "decision": "approve", "comment": "bulk"}
        )
        return f"HTTP {response.status_code}"

    def reject(self) -> str:
        key = self._pick(status=Status.SUBMITTED)
        if key is None:
            return "none waiting"
        return workflow.reject(key, actor=self.org.leads[key.department_id], comment="no")

    def cancel(self) -> str:
        key = self._pick(status=Status.SUBMITTED)
        if key is None:
            return "none waiting"
        workflow.cancel(key, actor=key.requester)
        return "cancelled"

    def rotate(self) -> str:
        key = self._pick(status=Status.ACTIVE)
        if key is None:
            return "none active"
        services.rotate(key, actor=key.requester)
        self.secrets.pop(key.pk, None)  # the old secret is refused now
        return "rotated"

    def revoke(self) -> str:
        key = self._pick(status=Status.ACTIVE)
        if key is None:
            return "none active"
        actor = self.rng.choice([key.requester, self.org.leads[key.department_id]])
        services.revoke(key, actor=actor)
        self.secrets.pop(key.pk, None)
        return "revoked"

    def expire(self) -> str:
        """The clock reaches a key's end: its end is moved to now (the expiry job ends it)."""
        key = self._pick(status=Status.ACTIVE)
        if key is None:
            return "none active"
        VirtualKey.objects.filter(pk=key.pk, status=Status.ACTIVE).update(expires_at=timezone.now())
        return "due"

    def reveal_and_call(self) -> str:
        key = self._pick(status=Status.ACTIVE, secret_revealed_at__isnull=True)
        if key is None:
            return "nothing to reveal"
        secret = workflow.reveal(VirtualKey, key.pk, user=key.requester)
        if secret:
            self.secrets[key.pk] = secret
        return "revealed" if secret else "not revealed"

    def leaver(self) -> str:
        present = self._present()
        if len(present) <= len(self.org.devs) // 2:
            return "too few left"
        dev = self.rng.choice(present)
        self.org.entra.users[dev.entra_oid].groups = []
        self.left.append(dev)
        for pk in [k for k in self.secrets if VirtualKey.objects.filter(pk=k, requester=dev)]:
            self.secrets.pop(pk, None)
        return f"sync {directory.sync(self.org.graph_client).status}"

    def joiner(self) -> str:
        if not self.left:
            return "nobody left"
        dev = self.left.pop(0)
        self.org.entra.users[dev.entra_oid].groups = list(self.org.groups[dev.entra_oid])
        return f"sync {directory.sync(self.org.graph_client).status}"
