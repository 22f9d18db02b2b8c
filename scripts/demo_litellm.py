"""`make demo`'s LiteLLM steps: install the proxy (first run), start it on the demo's
PostgreSQL with the mock-priced models, wait until it answers; or say why it is left out."""

from __future__ import annotations

import json
import secrets
import time
import urllib.request

from demo_services import ROOT, Child, EmbeddedPostgres, elapsed, install_inputs, read_text, say

LITELLM_DIR = ROOT / "scripts" / "litellm-proxy"
LITELLM_VENV = ROOT / ".litellm-venv"
LITELLM_SETTINGS = ("LITELLM_BASE_URL", "LITELLM_PUBLIC_URL", "LITELLM_MASTER_KEY")
INSTALL_STAMP = LITELLM_VENV / ".demo-install-inputs"


class LiteLLMSteps:
    """Mixed into ``demo.Demo``: uses its ports, env, logs, children and status."""

    def start_litellm_install(self) -> Child | None:
        """install.sh in the background; skipped when it already ran on the same inputs (it
        takes half a minute even with nothing to do)."""
        installed = (LITELLM_VENV / "bin" / "litellm").exists() and (
            LITELLM_VENV / "prisma-engines" / "query-engine"
        ).exists()
        if installed and read_text(INSTALL_STAMP) == install_inputs(LITELLM_DIR):
            return None
        if not installed:
            say(
                "installing the LiteLLM proxy into .litellm-venv (first run only: a few minutes;"
                f" log {self._rel(self.logs / 'litellm-install.log')})"
            )
        child = Child(
            "litellm-install",
            ["bash", str(LITELLM_DIR / "install.sh")],
            env=self.env,
            log=self.logs / "litellm-install.log",
        )
        self.children.append(child.start())
        return child

    def start_proxy(self, install: Child | None, pg: EmbeddedPostgres | None) -> Child | None:
        """After the install (if one runs), start the proxy; None if it cannot run."""
        if install is not None:
            began, last = time.monotonic(), time.monotonic()
            while install.running:
                if time.monotonic() - last >= 15:
                    last = time.monotonic()
                    steps = [
                        line.removeprefix("[litellm-install] ")
                        for line in install.tail(400).splitlines()
                        if line.startswith("[litellm-install]")
                    ]
                    step = steps[-1] if steps else "starting"
                    say(f"  … still installing the LiteLLM proxy ({elapsed(began)}): {step}")
                time.sleep(0.5)
            self.children.remove(install)
            if install.proc.returncode != 0:
                return self._litellm_missing(
                    "it could not be installed (no Node.js/npm, or no network to the package "
                    f"registries?): {install.tail(1).strip()[:300]}"
                )
            INSTALL_STAMP.write_text(install_inputs(LITELLM_DIR))
        if pg is None:
            return self._litellm_missing("it needs PostgreSQL, which did not start")
        key_file = self.var / "litellm-master-key"
        if not key_file.exists():
            key_file.write_text(f"sk-demo-{secrets.token_urlsafe(24)}")
            key_file.chmod(0o600)
        master_key = key_file.read_text().strip()
        say(f"starting the LiteLLM proxy on 127.0.0.1:{self.litellm_port} (mock-priced models)")
        env = {  # the portal's Redis/Celery settings are not the proxy's (it reads REDIS_*)
            **{k: v for k, v in self.env.items() if not k.startswith(("REDIS_", "CELERY_"))},
            "LITELLM_PORT": str(self.litellm_port),
            "LITELLM_HOST": "127.0.0.1",
            "LITELLM_MASTER_KEY": master_key,
            "LITELLM_DATABASE_URL": pg.url("litellm").replace("postgres://", "postgresql://"),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the price list from the web
        }
        self.master_key = master_key
        return self.start(
            Child(
                "litellm",
                ["bash", str(LITELLM_DIR / "run.sh")],
                env=env,
                log=self.logs / "litellm.log",
            )
        )

    def wait_proxy(self, proxy: Child | None) -> None:
        if proxy is None:
            return
        url = f"http://127.0.0.1:{self.litellm_port}"
        began = time.monotonic()
        while time.monotonic() - began < 240:
            if not proxy.running:
                return self._litellm_missing(f"it exited while starting: {proxy.tail(3)}")
            try:
                with urllib.request.urlopen(f"{url}/health/readiness", timeout=3) as response:  # noqa: S310
                    if json.load(response).get("db") == "connected":
                        break
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        else:
            proxy.stop()
            self.children.remove(proxy)
            return self._litellm_missing("it did not answer within 4 minutes")
        say(f"LiteLLM proxy ready at {url}")
        self.env.update(dict(zip(LITELLM_SETTINGS, (url, url, self.master_key), strict=True)))
        self.status["litellm"] = "ok"
        self.status["litellm_url"] = url

    def _litellm_missing(self, why: str) -> None:
        say(f"the LiteLLM proxy is left out: {why}")
        self.status["litellm"] = why
        return None
