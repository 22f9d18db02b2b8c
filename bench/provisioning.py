"""From the approver's click to a key answering through the real LiteLLM proxy, and bulk
approvals' throughput beside LiteLLM's own ``/key/generate`` at the same concurrency.

    .venv/bin/python bench/provisioning.py --check           # full size: 20 clicks, 1,000 bulk
    .venv/bin/python bench/provisioning.py --small --check   # CI: 3 clicks, 20 bulk

Creates ``portal_bench_provisioning`` on the server of ``DATABASE_URL``, starts the LiteLLM
proxy (scripts/litellm-proxy, its own fresh database) and a Celery worker pool as the README
runs it (``celery -A portal worker --concurrency 4``: prefork, ``--concurrency``), then:

1. *click → answer*, the workers idle: for each of ``--keys`` requests, the lead's HTTP POST
   approving it (``/approvals/keys/<pk>/``, Django's test client: the form, the engine, the
   commit, the task enqueued) starts the clock; it stops when the key, active in the portal,
   answers through the proxy (its secret, decrypted as the reveal page does, on
   ``GET /v1/models``: 200). The first key also creates the department's team and the user.
2. *bulk*: ``--bulk`` requests approved from the queue's bulk form (200 a POST, the form's
   limit); throughput is requests active per second from the first POST to the last active.
3. *LiteLLM alone*: ``--bulk`` ``POST /key/generate`` (master key, the portal's body) from
   ``--concurrency`` threads, in the same run: LiteLLM's raw throughput.

Targets (bench/verdict.py; ``--check`` exits 1 on a miss at full size): click → answer p95
≤ 2 s with idle workers; bulk throughput ≥ 70 % of LiteLLM's raw throughput.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchdb import department_with_lead, portal_with_litellm  # noqa: E402
from timing import summary  # noqa: E402
from verdict import Verdicts  # noqa: E402

TARGET_CLICK_P95_MS = 2000.0
TARGET_SHARE = 70.0  # % of LiteLLM's raw /key/generate throughput
BULK_FORM_LIMIT = 200


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=20, help="click → answer, one at a time")
    parser.add_argument("--bulk", type=int, default=1000, help="requests approved in bulk")
    parser.add_argument("--concurrency", type=int, default=4, help="worker pool (README: 4)")
    parser.add_argument("--small", action="store_true", help="CI size: 3 keys, 20 in bulk")
    parser.add_argument("--check", action="store_true", help="exit 1 on a miss (full size)")
    parser.add_argument("--db", default="portal_bench_provisioning")
    args = parser.parse_args()
    if args.small:
        args.keys, args.bulk = 3, 20
    size = (
        f"{args.keys} clicks, {args.bulk:,} in bulk, worker pool --concurrency {args.concurrency}"
    )
    print(f"bench/provisioning.py ({'small' if args.small else 'full'} size): {size}")

    with portal_with_litellm(args.db) as proxy:
        from portal.celery import app as celery_app

        worker = pool(args.concurrency).start()
        try:
            celery_app.conf.task_default_queue = worker.queue
            people = org()
            clicks = click_to_answer(people, proxy, args.keys)
            bulk = bulk_approve(people, args.bulk)
            raw = litellm_alone(proxy, args.bulk, args.concurrency)
        finally:
            worker.stop()

    verdicts = Verdicts(full=not args.small, size=size)
    click = summary(clicks)
    verdicts.add("click → key answers, first key (creates team and user)", clicks[0])
    verdicts.add("click → key answers, p50", click["p50"])
    verdicts.add("click → key answers, p95 (workers idle)", click["p95"], TARGET_CLICK_P95_MS)
    verdicts.add("click → key answers, max", click["max"])
    verdicts.add("bulk: the POSTs (200 a form), total", bulk["posts_ms"])
    verdicts.add("bulk: approved → active, throughput", bulk["rate"], unit="keys/s")
    verdicts.add("LiteLLM alone: POST /key/generate, throughput", raw, unit="keys/s")
    verdicts.add(
        "bulk throughput, % of LiteLLM's", 100 * bulk["rate"] / raw, TARGET_SHARE,
        higher=True, unit="%",
    )  # fmt: skip
    verdicts.exit(args.check)


def pool(concurrency: int):
    """The test suite's worker, as the README runs it: a prefork pool of ``concurrency``."""
    from tests.workers import Worker

    class Pool(Worker):
        def command(self) -> list[str]:
            command = super().command()
            command[command.index("solo")] = "prefork"
            command[command.index("--concurrency") + 1] = str(concurrency)
            return command

    return Pool()


def org() -> dict:
    """The benchmarks' department with a developer and a lead, its budget room for every key."""
    dept, dev, lead = department_with_lead()
    dept.monthly_budget = Decimal("100000")
    dept.save(update_fields=["monthly_budget"])
    return {"department": dept, "dev": dev, "lead": lead}


def request_key(people, name: str):
    from approvals import workflow
    from keys.models import VirtualKey

    return workflow.submit(
        VirtualKey(
            requester=people["dev"],
            department=people["department"],
            name=name,
            llm_models=["gpt-4o-mini"],
            max_budget=Decimal("5"),
            rpm_limit=10,
            tpm_limit=1000,
            lifetime_days=7,
            justification="benchmark",
        )  # fmt: skip
    )


def signed_in(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def wait_active(pks: list[int], limit: float = 600) -> None:
    from approvals.lifecycle import Status
    from keys.models import VirtualKey

    deadline = time.perf_counter() + limit
    while True:
        states = dict(VirtualKey.objects.filter(pk__in=pks).values_list("pk", "status"))
        if any(s == Status.FAILED for s in states.values()):
            raise SystemExit("a key failed to provision (see the worker's log)")
        if all(s == Status.ACTIVE for s in states.values()):
            return
        if time.perf_counter() > deadline:
            raise SystemExit(f"keys not active after {limit:.0f} s")
        time.sleep(0.01)  # polling the database for the condition itself


def click_to_answer(people, proxy, count: int) -> list[float]:
    import httpx

    from keys.models import VirtualKey
    from portal import crypto

    lead = signed_in(people["lead"])
    timings = []
    with httpx.Client(base_url=proxy.base_url, timeout=30) as litellm:
        for i in range(count):
            key = request_key(people, f"click-{i}")
            began = time.perf_counter()
            response = lead.post(f"/approvals/keys/{key.pk}/", {"decision": "approve"})
            if response.status_code != 302:
                raise SystemExit(f"approval → {response.status_code}")
            wait_active([key.pk])
            secret = crypto.decrypt(VirtualKey.objects.get(pk=key.pk).secret_encrypted)
            answer = litellm.get("/v1/models", headers={"Authorization": f"Bearer {secret}"})
            if answer.status_code != 200:
                raise SystemExit(f"the new key → {answer.status_code}: {answer.text[:300]}")
            timings.append((time.perf_counter() - began) * 1000)
            print(f"  click {i + 1:3d}: {timings[-1]:7.0f} ms")
    return timings


def bulk_approve(people, count: int) -> dict:
    from approvals import registry
    from keys.models import VirtualKey

    label = registry.label(VirtualKey)
    pks = [request_key(people, f"bulk-{i}").pk for i in range(count)]
    lead = signed_in(people["lead"])
    began = time.perf_counter()
    for n in range(0, count, BULK_FORM_LIMIT):
        items = [f"{label}:{pk}" for pk in pks[n : n + BULK_FORM_LIMIT]]
        response = lead.post("/approvals/bulk/", {"items": items, "decision": "approve"})
        if response.status_code != 302:
            raise SystemExit(f"bulk approval → {response.status_code}")
    posts = time.perf_counter() - began
    wait_active(pks)
    elapsed = time.perf_counter() - began
    print(f"  bulk: {count} approved in {posts:.1f} s, all active after {elapsed:.1f} s")
    return {"posts_ms": posts * 1000, "rate": count / elapsed}


def litellm_alone(proxy, count: int, concurrency: int) -> float:
    """Keys a second LiteLLM's ``/key/generate`` makes with ``concurrency`` callers."""
    import httpx

    headers = {"Authorization": f"Bearer {proxy.master_key}"}
    with httpx.Client(base_url=proxy.base_url, headers=headers, timeout=60) as client:

        def generate(i: int) -> None:
            response = client.post(
                "/key/generate",
                json={"key_alias": f"raw-{i}-{uuid.uuid4().hex[:6]}", "models": ["gpt-4o-mini"],
                      "max_budget": 5, "rpm_limit": 10, "tpm_limit": 1000, "duration": "7d"},
            )  # fmt: skip
            if response.status_code != 200:
                raise SystemExit(f"/key/generate → {response.status_code}: {response.text[:300]}")

        began = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as threads:
            list(threads.map(generate, range(count)))
        elapsed = time.perf_counter() - began
    print(f"  LiteLLM alone: {count} keys in {elapsed:.1f} s with {concurrency} callers")
    return count / elapsed


if __name__ == "__main__":
    main()
