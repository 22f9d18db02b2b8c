"""A soak with faults: a mixed workload on the real stack while LiteLLM, Redis, workers and
database connections fail; then nothing may be lost or doubled (issue 26).

    .venv/bin/python bench/soak.py --seconds 600 --seed 1     # full size
    .venv/bin/python bench/soak.py --small --seed 1           # CI: 60 s

Creates ``portal_soak`` on the server of ``DATABASE_URL``; starts a Redis of its own (no
persistence), the real LiteLLM proxy (its own database) behind the fault proxy, two Celery
workers (prefork) and beat. For ``--seconds`` it requests keys, approves them (also in bulk),
rejects, cancels, rotates, revokes, lets keys reach their end, reveals keys and calls the
proxy with them (spend, ingested by beat's job), and moves people out of and back into the
directory (the Graph double; the sync suspends leavers' keys). Meanwhile faults come on a
schedule the seed fixes, each logged with its time: latency, 5xx bursts, connection resets
and answers held past the client's timeout (fault proxy); LiteLLM restarted; Redis restarted
(its queue lost); a worker SIGKILLed mid-task; ``pg_terminate_backend`` on the workers'
connections; a second beat for a while. A ``pg_dump`` is taken half-way.

Then the load stops, the soak waits (bounded, polling the conditions) for the portal to
settle, and checks the invariants of ``soak_checks`` in PostgreSQL, LiteLLM and the audit log;
LiteLLM's key list is also sampled for duplicates throughout. Then the restore drill: the dump
restored next to it, reconcile run on it against LiteLLM's later state. Prints the operations,
the faults, the time to converge and each violation; exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.soak_settings"

from benchdb import (  # noqa: E402,E501
    admin_connect,
    create_database,
    drop_database,
    litellm_database_url,
    server_url,
    setup_django,
    with_db,
)

FAULTS = [
    "latency", "5xx burst", "resets", "timeouts", "LiteLLM restart", "Redis restart",
    "worker SIGKILL", "pg_terminate_backend", "second beat",
]  # fmt: skip


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=600, help="load duration (600)")
    parser.add_argument("--small", action="store_true", help="CI size: 60 s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2, help="per worker (prefork)")
    parser.add_argument("--rate", type=float, default=4.0, help="operations per second")
    parser.add_argument("--settle", type=int, default=180, help="bound on convergence (s)")
    parser.add_argument("--sweep-seconds", type=int, default=30, help="resume-stalled interval")
    parser.add_argument("--stall-seconds", type=int, default=30, help="PROVISION_STALL_SECONDS")
    parser.add_argument("--db", default="portal_soak")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args(argv)
    if args.small:
        args.seconds = 60
    return args


def schedule(rng: random.Random, seconds: int) -> list[tuple[float, str, float]]:
    """(start, fault, duration): every fault once per 300 s of load (at least once), at
    moments between 10 % and 75 % of the run, so the load goes on after the last one."""
    rounds = max(1, seconds // 300)
    plan = []
    for _ in range(rounds):
        for fault in FAULTS:
            plan.append((rng.uniform(0.1, 0.75) * seconds, fault, rng.uniform(4, 4 + seconds / 20)))
    return sorted(plan)


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.began = time.monotonic()
        self.began_at = time.time()  # the wall clock, for the UTC days of the calls
        self.log: list[str] = []
        self.last_fault_end = 0.0
        self.samples = 0
        self.duplicates: list[str] = []
        self.stop = threading.Event()
        self.dump = Path(tempfile.mkstemp(prefix="soak-", suffix=".dump")[1])
        self.dumped_at: datetime.datetime | None = None
        self.inject_errors: list[str] = []

    def say(self, text: str) -> None:
        line = f"[{time.monotonic() - self.began:7.1f} s] {text}"
        self.log.append(line)
        print(line, flush=True)

    # --- faults ---------------------------------------------------------------------------
    def inject(self, plan, stack) -> None:
        """Each fault at its moment, in a thread of its own (a LiteLLM restart takes long on a
        busy machine; the schedule goes on meanwhile); the dump half-way. Returns once every
        fault has ended."""
        start = time.monotonic()
        events = sorted([*plan, (self.args.seconds / 2, "pg_dump", 0.0)])
        threads = []
        for at, fault, duration in events:
            if self.stop.wait(max(0.0, start + at - time.monotonic())):
                self.say(f"not injected (load over): {fault}")
                continue
            thread = threading.Thread(
                target=self._fault, args=(fault, duration, stack), name=fault, daemon=True
            )
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()

    def _fault(self, fault: str, duration: float, stack) -> None:
        from django.db import connections

        try:
            self.fault(fault, duration, stack)
        except Exception as exc:  # a fault that failed to inject is reported, not hidden
            self.say(f"fault {fault} FAILED to inject: {type(exc).__name__}: {exc}")
            self.inject_errors.append(f"{fault}: {exc}")
        finally:
            connections.close_all()
            self.last_fault_end = max(self.last_fault_end, time.monotonic())

    def fault(self, fault: str, duration: float, stack) -> None:
        from soak_stack import Beat, SoakWorker, pg_dump, terminate_connections

        proxy, until = stack["fault_proxy"], time.monotonic() + duration
        if fault == "pg_dump":
            self.dumped_at = datetime.datetime.now(datetime.UTC)
            pg_dump(with_db(server_url(), self.args.db), self.dump)
            self.say("restore drill: pg_dump taken")
            return
        if fault in ("latency", "5xx burst", "resets", "timeouts"):
            self.say(f"fault: {fault} for {duration:.1f} s")
            if fault == "latency":
                proxy.latency = (until, 2.0)
            elif fault == "5xx burst":
                proxy.burst = (until, random.Random(duration).choice([500, 502, 503]))
            elif fault == "resets":
                proxy.resets = until
            else:
                proxy.hang = (until, stack["client_timeout"] + 2)
            time.sleep(duration)
        elif fault == "LiteLLM restart":
            self.say("fault: LiteLLM restart")
            stack["litellm"].restart()
            self.say(f"LiteLLM back after {stack['litellm'].start_seconds:.1f} s")
        elif fault == "Redis restart":
            self.say("fault: Redis SIGKILLed and started again (no persistence: queue lost)")
            stack["redis"].restart()
        elif fault == "worker SIGKILL":
            workers = stack["workers"]
            victim = workers[0]
            deadline = time.monotonic() + 15
            while not victim.busy() and time.monotonic() < deadline:
                time.sleep(0.05)
            busy = victim.busy()
            with stack["lock"]:  # the supervisor must not replace it a second time
                victim.kill()
                self.say(
                    f"fault: worker {victim.index} SIGKILLed ({'mid-task' if busy else 'idle'})"
                )
                workers.remove(victim)
                replacement = SoakWorker(victim.index + 10, victim.concurrency, victim.extra_env)
                workers.append(replacement.start())
            self.say(f"worker {replacement.index} started in its place")
        elif fault == "pg_terminate_backend":
            with admin_connect(server_url()) as admin:
                cut = terminate_connections(admin, self.args.db)
            self.say(f"fault: pg_terminate_backend on {cut} worker/beat connection(s)")
        elif fault == "second beat":
            beat = Beat(stack["worker_env"]).start()
            self.say(f"fault: a second beat for {duration:.1f} s")
            time.sleep(duration)
            beat.stop()
            self.say("second beat stopped")

    # --- sampling LiteLLM during the run ------------------------------------------------------
    def sample(self, client) -> None:
        from soak_checks import duplicate_aliases, litellm_keys

        while not self.stop.wait(2):
            try:
                keys = litellm_keys(client)
            except Exception:  # LiteLLM restarting: no sample this time
                continue
            self.samples += 1
            for alias in duplicate_aliases(keys):
                self.duplicates.append(f"2: {alias} twice in LiteLLM at {self.say_time()}")

    def say_time(self) -> str:
        return f"{time.monotonic() - self.began:.1f} s"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    from soak_stack import Redis

    from tests.servers import free_port

    url = server_url()
    create_database(url, args.db)
    redis_server = Redis(free_port()).start()
    os.environ["REDIS_URL"] = redis_server.url
    mail_dir = Path(tempfile.mkdtemp(prefix="soak-mail-"))
    os.environ["SOAK_MAIL_DIR"] = str(mail_dir)
    setup_django(url, args.db, "")
    # The sampler and the load meet LiteLLM down on purpose: the report says what happened.
    logging.getLogger("portal.integrations").setLevel(logging.CRITICAL)
    from soak_run import run

    litellm_db = litellm_database_url(url)
    try:
        plan = schedule(random.Random(args.seed), args.seconds)
        return run(args, Soak(args), plan, redis_server, litellm_db, mail_dir)
    finally:
        redis_server.stop()
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(url, urlsplit(litellm_db).path.lstrip("/"))
            drop_database(url, args.db)
            drop_database(url, f"{args.db}_restored")


if __name__ == "__main__":
    sys.exit(main())
