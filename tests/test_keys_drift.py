"""Drift that infra can fix: reconcile compares each live key's budget, models, rate limits,
expiry and blocked flag, and each team's budget and models, with the portal, against the real
LiteLLM proxy; infra makes LiteLLM match per finding or in bulk, locked and audited."""

import datetime
import threading
from decimal import Decimal

import pytest
from django.utils import timezone

from approvals.lifecycle import Status
from keys import drift, reconcile, services
from keys.models import ReconcileRun, VirtualKey
from portal.integrations.litellm import LiteLLMClient
from portal.models import AuditEvent

pytestmark = [pytest.mark.litellm, pytest.mark.django_db(transaction=True)]


def live_key(org, name: str, **fields) -> VirtualKey:
    key = VirtualKey.objects.create(
        requester=org["dev_a"], department=org["a"], name=name,
        llm_models=["gpt-4o-mini"], max_budget=Decimal("5"), rpm_limit=50, tpm_limit=100000,
        lifetime_days=30, justification="x", status=Status.APPROVED, **fields,
    )  # fmt: skip
    services.provision(key.pk)
    key.refresh_from_db()
    assert key.status == Status.ACTIVE
    return key


def remote(key: VirtualKey) -> dict:
    return LiteLLMClient.from_settings().key_info(key.litellm_key_id)["info"]


def findings_by_alias(run: ReconcileRun) -> dict[str, dict]:
    return {f["alias"]: f for f in run.findings}


def test_reconcile_finds_each_field_changed_out_of_band_and_a_fix_puts_it_back(
    litellm, org, client
):
    changed = live_key(org, "changed")
    blocked = live_key(org, "blocked")
    gone = live_key(org, "gone")
    fine = live_key(org, "fine")
    admin = LiteLLMClient.from_settings()
    admin.update_key(
        changed.litellm_key_id,
        max_budget=50,
        models=["gpt-4o-mini", "gpt-4o"],
        rpm_limit=999,
        tpm_limit=5,
        duration="365d",
    )
    admin.block_key(blocked.litellm_key_id)
    admin.delete_keys(keys=[gone.litellm_key_id])

    run = reconcile.reconcile()
    found = findings_by_alias(run)
    assert fine.alias not in found
    assert found[gone.alias]["kind"] == "deleted"
    assert found[blocked.alias]["kind"] == "blocked"
    assert {m["field"] for m in found[changed.alias]["fields"]} == {
        "max_budget", "models", "rpm_limit", "tpm_limit", "expires",
    }  # fmt: skip
    budget = next(m for m in found[changed.alias]["fields"] if m["field"] == "max_budget")
    assert (budget["portal"], budget["litellm"]) == ("5.00", "50.00")
    changed.refresh_from_db()
    assert "max_budget: LiteLLM 50.00, portal 5.00" in changed.drift

    client.force_login(org["infra"])
    page = client.get("/operations/").content.decode()
    assert f'value="key:{changed.pk}"' in page and f'value="key:{blocked.pk}"' in page
    assert f'value="key:{gone.pk}"' not in page  # deleted: rotate or revoke instead
    response = client.post("/operations/drift/fix/", {"finding": f"key:{changed.pk}"})
    assert response.status_code == 302

    after = remote(changed)
    assert float(after["max_budget"]) == 5.0
    assert sorted(after["models"]) == ["gpt-4o-mini"]
    assert (after["rpm_limit"], after["tpm_limit"]) == (50, 100000)
    expires = datetime.datetime.fromisoformat(after["expires"])
    assert abs(expires - changed.expires_at) < datetime.timedelta(minutes=2)
    event = AuditEvent.objects.get(action=drift.KEY_FIXED, object_id=str(changed.pk))
    assert event.actor == org["infra"]
    assert event.before["max_budget"] == "50.00" and event.after["max_budget"] == "5.00"
    changed.refresh_from_db()
    assert changed.drift == ""
    assert changed.alias not in findings_by_alias(ReconcileRun.objects.first())

    # The next reconcile finds the fixed key in step with the portal.
    assert changed.alias not in findings_by_alias(reconcile.reconcile())


def test_fix_all_unblocks_and_fixes_teams_and_refuses_what_was_not_offered(litellm, org, client):
    blocked = live_key(org, "blocked")
    changed = live_key(org, "changed")
    admin = LiteLLMClient.from_settings()
    org["a"].refresh_from_db()  # provisioning made its team
    admin.block_key(blocked.litellm_key_id)
    admin.update_key(changed.litellm_key_id, rpm_limit=1)
    admin.update_team(org["a"].litellm_team_id, max_budget=1, models=["gpt-4o"])
    run = reconcile.reconcile()
    team_id = org["a"].litellm_team_id
    team = next(f for f in run.findings if f["kind"] == "team" and f["team"] == team_id)
    assert {m["field"] for m in team["fields"]} == {"max_budget", "models"}

    client.force_login(org["dev_a"])  # not infra
    assert client.post("/operations/drift/fix/", {"all": "1"}).status_code in (403, 404)
    client.force_login(org["infra"])
    refused = client.post("/operations/drift/fix/", {"finding": "key:999999"}, follow=True)
    assert "Nothing to fix" in refused.content.decode()
    client.post("/operations/drift/fix/", {"all": "1"})

    assert remote(blocked).get("blocked") in (False, None)
    assert remote(changed)["rpm_limit"] == 50
    info = admin.team_info(org["a"].litellm_team_id)["team_info"]
    assert float(info["max_budget"]) == float(org["a"].monthly_budget)
    assert sorted(info["models"]) == sorted(org["a"].allowed_models)
    # Alpha's team, once (the shared proxy may hold other tests' teams; reconcile sees them).
    fixed = AuditEvent.objects.filter(action=drift.TEAM_FIXED, department_id=org["a"].pk)
    assert fixed.count() == 1
    assert AuditEvent.objects.filter(action=drift.KEY_FIXED).count() == 2
    # Keys other tests left in the shared proxy are "unknown" to this test's portal: not drift.
    assert [f for f in reconcile.reconcile().findings if f["kind"] != "unknown"] == []


def test_a_fix_waits_for_the_keys_lock_and_never_undoes_a_revoke(litellm, org):
    """Fix and revoke race on one key (threads released by a barrier): whichever takes the
    key's lock second sees the other's result, so a revoked key is never updated back to life
    and the fix never fails on a key deleted under it."""
    key = live_key(org, "raced")
    LiteLLMClient.from_settings().update_key(key.litellm_key_id, rpm_limit=1)
    barrier = threading.Barrier(2)
    errors = []

    def run(action):
        try:
            barrier.wait(timeout=10)
            action()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(
            target=run, args=(lambda: drift.make_key_match(key.pk, actor=org["infra"]),)
        ),
        threading.Thread(
            target=run,
            args=(lambda: services.revoke(VirtualKey.objects.get(pk=key.pk), actor=org["dev_a"]),),
        ),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    key.refresh_from_db()
    assert key.status == Status.REVOKED
    listed = LiteLLMClient.from_settings().list_keys(team_id=org["a"].litellm_team_id)
    assert key.litellm_key_id not in str(listed)


def test_expiry_is_compared_within_a_tolerance(org):
    key = VirtualKey(llm_models=["m"], max_budget=Decimal("5"), rpm_limit=1, tpm_limit=2)
    key.expires_at = timezone.now()
    same = {
        "max_budget": 5.0, "models": ["m"], "rpm_limit": 1, "tpm_limit": 2, "blocked": False,
        "expires": (key.expires_at - datetime.timedelta(minutes=9)).isoformat(),
    }  # fmt: skip
    assert drift.key_mismatches(key, same) == []
    later = {**same, "expires": (key.expires_at + datetime.timedelta(minutes=11)).isoformat()}
    assert [m["field"] for m in drift.key_mismatches(key, later)] == ["expires"]
    assert [m["field"] for m in drift.key_mismatches(key, {**same, "expires": None})] == ["expires"]


def test_reconcile_after_a_restore_finds_keys_in_a_team_the_portal_has_not_recorded(litellm, org):
    """A database restored from before the department's first key: its team id is not
    recorded, but LiteLLM's team (made since) holds a live key. Reconcile lists it."""
    key = live_key(org, "after-the-dump")
    org["a"].refresh_from_db()
    assert org["a"].litellm_team_id == f"portal-{org['a'].slug}"
    # As restored from the dump: the department without its team, the request not yet live.
    type(org["a"]).objects.filter(pk=org["a"].pk).update(litellm_team_id="")
    VirtualKey.objects.filter(pk=key.pk).update(status=Status.SUBMITTED, litellm_key_id="")

    found = findings_by_alias(reconcile.reconcile())
    assert found[key.alias]["kind"] == "unknown"
    assert found[key.alias]["team"] == f"portal-{org['a'].slug}"
    org["a"].refresh_from_db()
    assert org["a"].litellm_team_id == ""  # reconcile records drift, it changes nothing


def test_a_key_the_paged_list_missed_is_not_reported_deleted(litellm, org, monkeypatch):
    """LiteLLM's key list is no snapshot: a key deleted while its pages are read pulls another
    onto a page already read. Reconcile asks for that key by token before it calls it deleted
    (a finding infra would resolve by ending a live key)."""
    missed, gone = live_key(org, "missed-by-the-list"), live_key(org, "really-gone")
    LiteLLMClient.from_settings().delete_keys(keys=[gone.litellm_key_id])
    listed = reconcile._all_team_keys
    monkeypatch.setattr(
        reconcile,
        "_all_team_keys",
        lambda client, team: [
            k for k in listed(client, team) if k["token"] != missed.litellm_key_id
        ],
    )
    found = findings_by_alias(reconcile.reconcile())
    assert missed.alias not in found
    assert found[gone.alias]["kind"] == "deleted"
