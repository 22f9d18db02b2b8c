"""The soak's invariants, checked in PostgreSQL, in LiteLLM and in the audit log (issue 26):

1. every request is in a final state or in an open state that the sweep will move on;
2. each live key exists in LiteLLM exactly once, with the budget, models and expiry the portal
   holds (a suspended one exists once, blocked);
3. no key of an ended request is live in LiteLLM;
4. no decision is lost or doubled, and each transition has exactly one audit event;
5. the spend the portal holds equals LiteLLM's for the days touched;
6. no periodic job ran twice in a way that had an effect.

Each function returns the violations it found, as sentences; an empty list is a pass.
"""

from __future__ import annotations

import collections
import datetime
import email
from decimal import Decimal
from pathlib import Path

from django.db.models import Count, Sum
from django.utils import timezone

from approvals.lifecycle import ENDED_STATUSES, Status
from keys import drift
from keys.models import VirtualKey
from portal.integrations.litellm import LiteLLMClient
from portal.models import AuditEvent

SWEPT = [Status.APPROVED, Status.PROVISIONING]  # resume_stalled moves these on
WAITING = [Status.SUBMITTED]  # a person decides (or the SLA ends it)


def litellm_keys(client: LiteLLMClient) -> list[dict]:
    """Every key LiteLLM holds, full objects, all pages."""
    keys, page = [], 1
    while True:
        response = client.list_keys(page=page, size=100, return_full_object=True)
        keys.extend(response.get("keys") or [])
        if page >= (response.get("total_pages") or 1):
            return keys
        page += 1


def duplicate_aliases(keys: list[dict]) -> list[str]:
    """Aliases held by two different keys. Counted by token: LiteLLM's key list is paged
    newest first and is no snapshot, so while keys are made one key can be listed on two
    pages (the same token twice), which is not a second key."""
    tokens = collections.defaultdict(set)
    for k in keys:
        if k.get("key_alias"):
            tokens[k["key_alias"]].add(k.get("token"))
    return sorted(alias for alias, held in tokens.items() if len(held) > 1)


def states() -> list[str]:
    """Invariant 1."""
    out = []
    for key in VirtualKey.objects.exclude(status__in=[*ENDED_STATUSES, *WAITING]):
        if key.status == Status.FAILED:
            out.append(f"1: key {key.pk} failed: {key.last_error[:200]}")
        elif key.status in SWEPT:
            out.append(f"1: key {key.pk} still {key.status} (the sweep had not moved it on)")
        elif key.status == Status.ACTIVE and key.expires_at and key.expires_at <= timezone.now():
            out.append(f"1: key {key.pk} active past its end {key.expires_at:%H:%M:%S}")
        elif key.status == Status.SUSPENDED and not key.blocked_at:
            out.append(f"1: key {key.pk} suspended but never blocked")
    return out


def litellm_matches(remote: list[dict]) -> list[str]:
    """Invariants 2 and 3, against one listing of LiteLLM's keys."""
    out = []
    by_alias = collections.defaultdict(list)
    for item in remote:
        by_alias[item.get("key_alias") or ""].append(item)
    tokens = {item["token"]: item for item in remote}
    believed = set()
    for key in VirtualKey.objects.filter(status__in=[Status.ACTIVE, Status.SUSPENDED]):
        believed.add(key.alias)
        found = by_alias.get(key.alias, [])
        if len(found) != 1:
            out.append(f"2: {key.status} key {key.pk} is in LiteLLM {len(found)} times")
            continue
        if found[0]["token"] != key.litellm_key_id:
            out.append(f"2: key {key.pk}: LiteLLM's token is not the one the portal holds")
            continue
        mismatches = drift.key_mismatches(key, found[0])
        if key.status == Status.SUSPENDED:
            blocked = [m for m in mismatches if m["field"] == "blocked"]
            # The load moves a key's end to now in the portal only (the clock reaching it);
            # suspended before the expiry job ran, it keeps LiteLLM's original end: refused
            # either way (blocked), and revoked when its grace period is over.
            past = key.expires_at and key.expires_at <= timezone.now()
            ignored = {"blocked", "expires"} if past else {"blocked"}
            mismatches = [m for m in mismatches if m["field"] not in ignored]
            if key.blocked_at and not blocked:
                out.append(f"2: suspended key {key.pk} is not blocked in LiteLLM")
        if mismatches:
            out.append(f"2: key {key.pk} differs: {drift.describe(mismatches)}")
    for key in VirtualKey.objects.filter(status__in=ENDED_STATUSES):
        live = by_alias.get(key.alias, []) + by_alias.get(f"{key.alias}-rotating", [])
        if key.litellm_key_id in tokens and key.litellm_key_id not in {k["token"] for k in live}:
            live.append(tokens[key.litellm_key_id])
        if live:
            out.append(f"3: {key.status} key {key.pk} has {len(live)} live key(s) in LiteLLM")
    for alias, items in by_alias.items():
        if alias.startswith("portal-") and alias not in believed and alias.endswith("-rotating"):
            out.append(f"3: {alias} left live in LiteLLM by a rotation ({len(items)})")
    return out


def audit_trail() -> list[str]:
    """Invariant 4: each key's status events form one unbroken chain from *submitted* to its
    status now (a lost transition breaks it; a doubled one repeats a link)."""
    out = []
    statuses = {f"virtualkey.{s}" for s in Status.values}
    events = collections.defaultdict(list)
    rows = AuditEvent.objects.filter(object_type="keys.virtualkey", action__in=statuses)
    for object_id, action, before, after in rows.order_by("created_at", "pk").values_list(
        "object_id", "action", "before", "after"
    ):
        events[int(object_id)].append((action, (before or {}).get("status"), after or {}))
    for pk, status in VirtualKey.objects.values_list("pk", "status"):
        chain = events.get(pk, [])
        if not chain or chain[0][0] != "virtualkey.submitted":
            out.append(f"4: key {pk} has no submitted event first")
            continue
        current = "submitted"
        for action, before, after in chain[1:]:
            if before != current:
                out.append(f"4: key {pk}: {action} from {before}, but it was {current}")
            current = after.get("status")
        if current != status:
            out.append(f"4: key {pk} is {status}, its audit trail ends at {current}")
    return out


def litellm_caught_up(client: LiteLLMClient, days: list[datetime.date], answered: int) -> list:
    """LiteLLM writes its daily tables in batches: until it has recorded every call it
    answered, comparing the portal's spend with LiteLLM's compares with a moving figure."""
    from costs import litellm_source

    rows, _pages = litellm_source.fetch_rows(min(days), max(days))
    recorded = sum(row.successes for row in rows)
    if recorded < answered:
        return [f"5: LiteLLM has recorded {recorded} of the {answered} calls it answered"]
    return []


def spend(client: LiteLLMClient, days: list[datetime.date]) -> list[str]:
    """Invariant 5, per day and key."""
    from costs import litellm_source
    from costs.models import DailySpend

    out = []
    rows, _pages = litellm_source.fetch_rows(min(days), max(days))
    theirs = collections.Counter()
    for row in rows:
        theirs[(row.day, row.key_hash)] += Decimal(str(row.spend))
    ours = collections.Counter()
    held = DailySpend.objects.filter(day__in=days).values("day", "key_hash")
    for row in held.annotate(total=Sum("spend")):
        ours[(row["day"], row["key_hash"])] += row["total"]
    for cell in sorted(set(theirs) | set(ours), key=str):
        if abs(theirs[cell] - ours[cell]) > Decimal("0.000001"):
            day, key = cell
            out.append(f"5: {day} key {key[:12]}…: LiteLLM {theirs[cell]}, portal {ours[cell]}")
    return out


def periodic_effects(mail_dir: Path | None) -> list[str]:
    """Invariant 6: the periodic jobs' effects happened once each. A key is blocked at most
    once per suspension; each e-mail (recipient, subject, body) is sent once."""
    out = []
    blocks = AuditEvent.objects.filter(action="virtualkey.blocked").values("object_id")
    suspensions = dict(
        AuditEvent.objects.filter(action="virtualkey.suspended")
        .values("object_id")
        .annotate(n=Count("pk"))
        .values_list("object_id", "n")
    )
    for row in blocks.annotate(n=Count("pk")):
        if row["n"] > suspensions.get(row["object_id"], 0):
            out.append(f"6: key {row['object_id']} blocked {row['n']} times")
    if mail_dir is not None and mail_dir.exists():
        sent = collections.Counter()
        for path in mail_dir.iterdir():
            for part in path.read_text(errors="replace").split("\n" + "-" * 79 + "\n"):
                message = email.message_from_string(part.strip())
                if message["Subject"]:
                    body = message.get_payload(decode=False)
                    sent[(message["To"], message["Subject"], str(body)[:2000])] += 1
        for (to, subject, _body), n in sent.items():
            if n > 1:
                out.append(f"6: {n} identical e-mails to {to}: {subject}")
    return out


def duplicate_aliases_as_violations(remote: list[dict]) -> list[str]:
    return [f"2: {alias} twice in LiteLLM at the end" for alias in duplicate_aliases(remote)]


def restore_findings(database: str, direct: LiteLLMClient, dumped_at) -> dict:
    """Reconcile on the restored database must list every key made after the dump (live in
    LiteLLM, not believed live there: *unknown*) and every key ended after it (believed
    active there, gone from LiteLLM: *deleted*). A key whose request was being provisioned at
    the dump, under the token the portal had already kept, is not drift: the restored
    portal's sweep finishes that request with it (``keys.services.ensure_key``)."""
    import json
    import os
    import subprocess
    import sys

    from benchdb import server_url, with_db
    from django.conf import settings

    env = {
        **os.environ,
        "DATABASE_URL": with_db(server_url(), database),
        "LITELLM_BASE_URL": direct.base_url,
        "LITELLM_MASTER_KEY": settings.LITELLM_MASTER_KEY,
    }
    script = Path(__file__).with_name("soak_reconcile.py")
    done = subprocess.run(  # noqa: S603
        [sys.executable, str(script)], env=env, capture_output=True, text=True, check=True
    )
    data = json.loads(done.stdout.strip().splitlines()[-1])
    teams = {f"portal-{slug}" for slug in ("alpha", "beta")}
    remote = [k for k in litellm_keys(direct) if k.get("team_id") in teams]
    tokens = {k["token"] for k in remote}
    in_flight = tokens & set(data["in_flight"])  # finished by the restored portal itself
    made_after = tokens - set(data["believed"]) - in_flight
    ended_after = set(data["active"]) - tokens
    found = collections.defaultdict(set)
    for finding in data["findings"]:
        found[finding["kind"]].add(finding["token"])
    violations = [
        f"restore: key {token[:12]}… made after the dump, not listed by reconcile"
        for token in sorted(made_after - found["unknown"])
    ] + [
        f"restore: key {token[:12]}… ended after the dump, not listed by reconcile"
        for token in sorted(ended_after - found["deleted"])
    ]
    if data["error"]:
        violations.append(f"restore: reconcile failed: {data['error']}")
    summary = (
        f"dump at {dumped_at:%H:%M:%S}; reconcile on the restored copy listed "
        f"{len(found['unknown'])} key(s) made after it and {len(found['deleted'])} ended after "
        f"it (expected {len(made_after)} and {len(ended_after)}); {len(in_flight)} being "
        "provisioned at the dump, left to the restored portal's sweep"
    )
    return {"summary": summary, "violations": violations, "findings": data["findings"]}
