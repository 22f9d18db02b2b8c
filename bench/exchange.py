"""Token in, key out: the pipeline token exchange with a real LiteLLM proxy.

    .venv/bin/python bench/exchange.py --runs 200
    .venv/bin/python bench/exchange.py --small           # CI: 20 runs, target informational
    .venv/bin/python bench/exchange.py --check           # exit 1 on a miss (full size)

Creates ``portal_bench_exchange`` on the server of ``DATABASE_URL``, starts the LiteLLM proxy
(its own fresh database) and a GitHub Actions issuer double (discovery + JWKS over HTTP), and
provisions one pipeline identity. Each run posts a freshly signed GitHub token to
``/api/v1/token-exchange`` (in process, Django's test client; the JWKS is cached after the
warm-up, as in production) and stops the clock when the key is in the answer. LiteLLM's share
is timed around the client's calls (``/user/info`` for the daily budget, ``/key/generate``);
the rest is the portal's own work (parse, verify RS256, claims, row lock, jti insert, audit).
Target: p95 ≤ 150 ms.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchdb import department_with_lead, portal_with_litellm  # noqa: E402
from timing import summary  # noqa: E402
from verdict import Verdicts  # noqa: E402

TARGET_P95_MS = 150.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--small", action="store_true", help="CI size: 20 runs")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if p95 misses the target (full size)"
    )
    parser.add_argument("--db", default="portal_bench_exchange")
    args = parser.parse_args()
    if args.small:
        args.runs = 20

    with portal_with_litellm(args.db) as proxy:
        from django.conf import settings

        from tests.doubles.ci_oidc import GitHubActionsIssuer

        settings.LITELLM_PUBLIC_URL = proxy.base_url
        settings.PIPELINES_ALLOW_HTTP_ISSUERS = True
        settings.PIPELINES_RATE_LIMIT = "100000/m"
        issuer = GitHubActionsIssuer()
        try:
            total, litellm, generate = run(issuer, args.runs)
        finally:
            issuer.close()

    overhead = [t - lt for t, lt in zip(total, litellm, strict=True)]
    rows = {
        "token in → key out": summary(total),
        "  LiteLLM (/user/info + /key/generate)": summary(litellm),
        "  of which /key/generate": summary(generate),
        "  portal's own work": summary(overhead),
    }
    print(f"\n{args.runs} exchanges, one identity, JWKS cached:")
    print(f"  {'':42s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s}")
    for label, s in rows.items():
        print(f"  {label:42s} {s['p50']:8.1f} {s['p95']:8.1f} {s['max']:8.1f}")
    share = sum(generate) / sum(total) * 100
    print(f"  /key/generate's share of the total time: {share:.0f} %")
    verdicts = Verdicts(full=not args.small, size=f"{args.runs} exchanges")
    verdicts.add("token in → key out, p50", rows["token in → key out"]["p50"])
    verdicts.add("token in → key out, p95", rows["token in → key out"]["p95"], TARGET_P95_MS)
    verdicts.add("LiteLLM's share (/key/generate)", share, unit="%")
    verdicts.add("portal's own work, p95", rows["  portal's own work"]["p95"])
    verdicts.exit(args.check)


def run(issuer, count: int) -> tuple[list[float], list[float], list[float]]:
    from django.test import Client

    from approvals import workflow
    from pipelines import services
    from pipelines.models import PipelineIdentity
    from portal.integrations.litellm import LiteLLMClient

    dept, dev, lead = department_with_lead()
    audience = "https://portal.bench.example"
    identity = PipelineIdentity(
        requester=dev, department=dept, name="bench-ci", issuer=issuer.issuer,
        audience=audience, claim_rules={"repository": "octo-org/*", "ref": "refs/heads/main"},
        llm_models=["gpt-4o-mini"], run_budget=Decimal("1"), run_lifetime_seconds=600,
        daily_budget=Decimal("1000"), max_live_keys=count + 10, lifetime_days=30,
        justification="benchmark",
    )  # fmt: skip
    workflow.submit(identity)
    workflow.approve(identity, actor=lead)
    services.provision(identity.pk)

    spent: dict[str, float] = {"litellm": 0.0, "generate": 0.0}

    def timed_method(name: str, original, *buckets: str):
        def wrapper(self, *args, **kwargs):
            began = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                for bucket in buckets:
                    spent[bucket] += time.perf_counter() - began

        setattr(LiteLLMClient, name, wrapper)

    timed_method("generate_key", LiteLLMClient.generate_key, "litellm", "generate")
    timed_method("user_info", LiteLLMClient.user_info, "litellm")

    client = Client()
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt"}  # fmt: skip
    total, litellm, generate = [], [], []
    for i in range(count + 3):  # three warm-up runs: discovery, JWKS, connections
        token = issuer.token(audience=audience)
        spent.update(litellm=0.0, generate=0.0)
        began = time.perf_counter()
        response = client.post("/api/v1/token-exchange", {**form, "subject_token": token})
        elapsed = time.perf_counter() - began
        if response.status_code != 200:
            raise SystemExit(f"exchange {i} refused: {response.content[:300]!r}")
        if i >= 3:
            total.append(elapsed * 1000)
            litellm.append(spent["litellm"] * 1000)
            generate.append(spent["generate"] * 1000)
    return total, litellm, generate


if __name__ == "__main__":
    main()
