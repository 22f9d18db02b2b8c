"""The soak's run once Django is set up (bench/soak.py): the stack, the load and the faults,
convergence, the invariants, the restore drill and the report."""

from __future__ import annotations

import collections
import datetime
import random
import threading
import time
from pathlib import Path

import soak_checks as checks
from django.conf import settings
from django.db import close_old_connections, connections
from soak_stack import QUEUE, Beat, SoakWorker

CLIENT_TIMEOUT = 3.0  # LITELLM_TIMEOUT for the portal; the "timeouts" fault holds 2 s longer


def worker_env(args, mail_dir: Path) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "bench.soak_settings",
        "SOAK_MAIL_DIR": str(mail_dir),
        "LITELLM_TIMEOUT": str(CLIENT_TIMEOUT),
        "PROVISION_STALL_SECONDS": str(args.stall_seconds),
        "RESUME_STALLED_SECONDS": str(args.sweep_seconds),
        "EXPIRE_KEYS_SECONDS": "10",
        "COSTS_INGEST_SECONDS": "15",
        "PROVISION_RETRY_BASE_SECONDS": "1",
    }


def run(args, soak, plan, redis_server, litellm_db: str, mail_dir: Path) -> int:
    from soak_load import Load, Org

    from portal.celery import app as celery_app
    from portal.integrations.litellm import LiteLLMClient
    from tests.faults import FaultProxy
    from tests.litellm_proxy import LiteLLMProxy

    litellm = LiteLLMProxy(database_url=litellm_db)
    stack: dict = {
        "redis": redis_server, "litellm": litellm, "workers": [], "lock": threading.Lock(),
    }  # fmt: skip
    supervising = threading.Event()
    beat = None
    org = None
    try:
        litellm.start()
        soak.say(f"LiteLLM proxy ready in {litellm.start_seconds:.1f} s")
        proxy = FaultProxy(litellm.base_url)
        settings.LITELLM_BASE_URL = proxy.url
        settings.LITELLM_MASTER_KEY = litellm.master_key
        settings.LITELLM_TIMEOUT = CLIENT_TIMEOUT
        settings.PROVISION_RETRY_BASE_SECONDS = 1
        celery_app.conf.task_default_queue = QUEUE
        env = worker_env(args, mail_dir)
        stack.update(fault_proxy=proxy, client_timeout=CLIENT_TIMEOUT)
        for index in range(args.workers):
            stack["workers"].append(SoakWorker(index, args.concurrency, env).start())
        stack["worker_env"] = stack["workers"][0].env()
        beat = Beat(stack["worker_env"]).start()
        soak.say(f"{args.workers} workers (prefork, concurrency {args.concurrency}) and beat up")

        org = Org()
        direct = LiteLLMClient(litellm.base_url, litellm.master_key, timeout=30)
        load = Load(org, random.Random(args.seed), litellm.base_url)
        threads = [
            threading.Thread(target=_closing(load.run), args=(args.rate,), name="load"),
            threading.Thread(target=_closing(load.calls), name="calls"),
            threading.Thread(target=_closing(soak.inject), args=(plan, stack), name="faults"),
            threading.Thread(target=_closing(soak.sample), args=(direct,), name="sampler"),
            threading.Thread(target=supervise, args=(soak, stack, supervising), name="supervisor"),
        ]
        for thread in threads:
            thread.start()
        soak.stop.wait(args.seconds)
        load.stop.set()
        threads[0].join()
        threads[1].join()
        soak.say("load stopped")
        soak.stop.set()  # a fault still on its way is not injected
        threads[2].join()
        _recover(stack, soak)
        soak.say("every fault over")
        converged = _converge(args, soak, direct, load, mail_dir)
        supervising.set()
        threads[4].join()
        threads[3].join()
        violations = _final(soak, direct, load, mail_dir)
        drill = restore_drill(args, soak, direct)
        _report(args, soak, load, converged, violations, drill)
        return 1 if violations or drill["violations"] else 0
    finally:
        supervising.set()
        if org:
            org.close()
        if beat:
            beat.stop()
        for worker in stack["workers"]:
            worker.stop()
        litellm.stop()


def supervise(soak, stack, done: threading.Event) -> None:
    """What the deployment's supervisor does (Kubernetes, compose's ``restart:``): a worker that
    exits on its own is started again. Celery ends a worker on some broker losses (kombu's
    restore of unacknowledged tasks while Redis restarts), so the soak must too."""
    from soak_stack import SoakWorker

    while not done.wait(1):
        with stack["lock"]:
            for worker in list(stack["workers"]):
                if worker.process is None or worker.process.poll() is None:
                    continue
                code = worker.process.returncode
                stack["workers"].remove(worker)
                replacement = SoakWorker(worker.index + 100, worker.concurrency, worker.extra_env)
                soak.say(f"worker {worker.index} exited ({code}); the supervisor starts another")
                try:
                    stack["workers"].append(replacement.start())
                except Exception as exc:  # noqa: BLE001 - the broker still down: try again
                    soak.say(f"worker {replacement.index} did not start: {exc}")
                    stack["workers"].append(worker)  # looked at again next second


def _closing(target):
    def run(*args):
        try:
            target(*args)
        finally:
            connections.close_all()

    return run


def _recover(stack, soak) -> None:
    """Every fault off: the fault proxy passes everything, LiteLLM and Redis run."""
    proxy = stack["fault_proxy"]
    proxy.latency, proxy.burst, proxy.resets, proxy.hang = (0, 0), (0, 502), 0, (0, 0)
    if not stack["litellm"].running:
        stack["litellm"].start()
    soak.last_fault_end = max(soak.last_fault_end, time.monotonic())


def _converge(args, soak, direct, load, mail_dir) -> float | None:
    """Seconds from the last fault until the state invariants hold (polled), or None."""
    deadline = soak.last_fault_end + args.settle
    days = _days(soak)
    while time.monotonic() < deadline:
        close_old_connections()
        try:
            remote = checks.litellm_keys(direct)
            left = checks.states() + checks.litellm_matches(remote)
            if not left and load.last_call:
                answered = load.counts["call: 200"]
                left = checks.litellm_caught_up(direct, days, answered) or checks.spend(
                    direct, days
                )
        except Exception as exc:  # noqa: BLE001 - LiteLLM still starting: poll again
            left = [f"LiteLLM: {exc}"]
        if not left:
            return time.monotonic() - soak.last_fault_end
        time.sleep(1)
    return None


def _days(soak) -> list[datetime.date]:
    """The UTC days the run's calls fell on (a run can cross midnight)."""
    start = datetime.datetime.fromtimestamp(soak.began_at, datetime.UTC).date()
    today = datetime.datetime.now(datetime.UTC).date()
    return [start + datetime.timedelta(days=n) for n in range((today - start).days + 1)]


def _final(soak, direct, load, mail_dir) -> list[str]:
    days = _days(soak)
    remote = checks.litellm_keys(direct)
    violations = [
        *checks.states(),
        *checks.litellm_matches(remote),
        *checks.duplicate_aliases_as_violations(remote),
        *soak.duplicates,
        *checks.audit_trail(),
        *checks.spend(direct, days),
        *checks.periodic_effects(mail_dir),
    ]
    violations += [f"load: {e}" for e in load.errors]
    violations += [f"fault not injected: {e}" for e in soak.inject_errors]
    return violations


def restore_drill(args, soak, direct) -> dict:
    """The dump taken half-way, restored next to the live database; reconcile on it against
    LiteLLM's later state lists the keys made and ended after the dump."""
    from benchdb import create_database, server_url, with_db
    from soak_stack import pg_restore

    if soak.dumped_at is None:
        return {"summary": "no dump was taken (the load ended first)", "violations": []}
    name = f"{args.db}_restored"
    create_database(server_url(), name)
    pg_restore(with_db(server_url(), name), soak.dump)
    return checks.restore_findings(name, direct, soak.dumped_at)


def _report(args, soak, load, converged, violations, drill) -> None:
    print(f"\nsoak: {args.seconds} s, seed {args.seed}, {args.workers} workers, rate {args.rate}/s")
    print("operations:")
    by_op = collections.defaultdict(list)
    for name, count in sorted(load.counts.items()):
        op, outcome = name.split(": ", 1)
        by_op[op].append(f"{outcome} {count}")
    for op, outcomes in by_op.items():
        print(f"  {op:16} {', '.join(outcomes)}")
    print(f"  total            {sum(load.counts.values())}")
    print("  tuning projects  skipped: they need Langfuse, which cannot fail on demand here")
    print("faults:")
    for line in soak.log:
        if "fault:" in line or "drill" in line:
            print(f"  {line}")
    print(f"LiteLLM key list sampled {soak.samples} times during the run")
    if converged is None:
        print(f"did NOT converge within {args.settle} s of the last fault")
    else:
        print(f"converged {converged:.1f} s after the last fault")
    print(f"restore drill: {drill['summary']}")
    print(f"wall time {time.monotonic() - soak.began:.0f} s (LiteLLM started twice)")
    for line in drill["violations"]:
        print(f"  VIOLATION {line}")
    print(f"violations: {len(violations)}")
    for line in violations:
        print(f"  VIOLATION {line}")
